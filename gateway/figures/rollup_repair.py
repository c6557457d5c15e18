"""Repairs of the energy roll-up (:mod:`gateway.figures.rollup`): hours whose readings came
out of order, or were not all written before a crash, recomputed from the raw readings.

For each device due (at most :data:`REPAIR_BATCH` a turn): its newest reading and the
hours' stored sums are noted, the sink is flushed (everything the roll-up has seen is
then stored; a sink that does not flush within :data:`SINK_FLUSH_TIMEOUT_S` leaves the
hours for later), the raw readings up to the noted one are integrated, and the
difference is added to the hours' pending sums. Steps credited meanwhile come after the
noted reading and so are kept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.figures.energy import (
    MS_PER_HOUR,
    EnergyReader,
    integrate,
    max_step_ms,
    metered_devices,
)
from gateway.store.models_energy import energy_rollup

if TYPE_CHECKING:
    from gateway.figures.rollup import EnergyRollup

log = logging.getLogger("sitewatch.energy")

H = MS_PER_HOUR
#: a dirty hour is repaired this long after it was marked (more late readings come along)
REPAIR_DELAY_MS = 10_000
#: devices repaired per turn; a repair that cannot flush the sink is tried again later
REPAIR_BATCH = 200
SINK_FLUSH_TIMEOUT_S = 10.0

Key = tuple[str, int]  # (device, hour start ms)


def stored(db: Engine, keys: list[Key]) -> dict[Key, tuple[float, int]]:
    """(kWh, covered ms) of hour rows as written."""
    t = energy_rollup
    out: dict[Key, tuple[float, int]] = {}
    by_device: dict[str, list[int]] = {}
    for device, hour in keys:
        by_device.setdefault(device, []).append(hour)
    with db.connect() as conn:
        for device, hours in by_device.items():
            for _, start, kwh, cov in conn.execute(
                sa.select(t.c.device, t.c.start_ms, t.c.kwh, t.c.covered_ms).where(
                    t.c.span == "h", t.c.device == device, t.c.start_ms.in_(hours)
                )
            ):
                out[(device, int(start))] = (float(kwh), int(cov))
    return out


async def repair(rollup: EnergyRollup, now: int) -> int:
    """Repair the dirty hours of ``rollup`` due by ``now`` (see
    :mod:`gateway.figures.rollup`); returns how many."""
    due: dict[str, list[int]] = {}
    for (device, hour), at in rollup.dirty.items():
        if at <= now and (device in due or len(due) < REPAIR_BATCH):
            due.setdefault(device, []).append(hour)
    if not due or rollup.source is None:
        return 0
    keys = [(d, h) for d, hs in due.items() for h in hs]
    rollup.flush()  # so the hours' sums are the stored rows plus what comes after
    base = stored(rollup.db, keys)
    noted = {d: rollup._tracks[d].ts for d in due if d in rollup._tracks}
    flush = getattr(rollup.source, "flush", None)
    if flush is not None:
        try:
            await asyncio.wait_for(flush(), SINK_FLUSH_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - the store is down: try again later
            log.warning("energy roll-up: the sink did not flush; repairs wait")
            for key in keys:
                rollup.dirty[key] = now + REPAIR_DELAY_MS
            return 0
    reader = EnergyReader(rollup.site, rollup.source, rollup.clock)
    devices = {d.id: d for d in metered_devices(rollup.site)}

    async def one(device: str, hours: list[int]) -> None:
        dev = devices.get(device)
        upto = noted.get(device)
        if dev is None or upto is None:
            return
        hours.sort()
        pts = await reader.points(dev, hours[0], hours[-1] + H)
        pts = [p for p in pts if p[0] <= upto]
        res = integrate(pts, max_step_ms(dev), [(h, h + H) for h in hours])
        for h, kwh, cov in zip(hours, res.kwh, res.covered_ms, strict=True):
            kwh0, cov0 = base.get((device, h), (0.0, 0))
            e = rollup._entry((device, h))
            e[0] += (kwh - kwh0) * H
            e[1] += cov - cov0

    results = await asyncio.gather(*(one(d, hs) for d, hs in due.items()), return_exceptions=True)
    done = 0
    for (device, hours), res in zip(due.items(), results, strict=True):
        for h in hours:
            if isinstance(res, BaseException):
                rollup.dirty[(device, h)] = now + REPAIR_DELAY_MS
            else:
                rollup.dirty.pop((device, h), None)
                done += 1
    return done
