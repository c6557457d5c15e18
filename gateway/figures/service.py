"""The figures of one site, for the HTTP API and the command line.

:class:`Figures` is built with the site, the state store and the time-series sink (or
``None`` where there is none: energy figures then say so) and a clock; it holds the
energy reader (and its cache of settled months) and nothing else. Each call checks its
input (:class:`~gateway.errors.Invalid`, HTTP 422, naming the accepted forms), reads the
stores and returns plain data:

* :meth:`scorecard` -- the contract's scorecard for ``YYYY-MM`` (section 10);
* :meth:`energy` -- kWh by zone, system or device per hour, day or month;
* :meth:`alarm_waste` -- the energy a device used while one of its alarms was active
  (``lighting.after_hours_waste``: lights on in an empty building after hours);
* :meth:`monthly` -- everything the monthly report shows (``gateway.figures.report``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import Clock, iso_ms
from gateway.errors import Invalid, NotFound
from gateway.figures import definitions as _definitions  # noqa: F401  (registers figures)
from gateway.figures.energy import (
    POWER_FIELDS,
    EnergyReader,
    PowerSource,
    group_key,
    metered_devices,
)
from gateway.figures.periods import STEPS, buckets, month_bounds, parse_month
from gateway.figures.rollup import EnergyRollup
from gateway.figures.scorecard import Lang, scorecard
from gateway.store import models as m
from gateway.store import reader as read_only

ENERGY_GROUPS = ("zone", "system", "device")
#: at most this many buckets per group in one energy answer
MAX_BUCKETS = 2000
#: at most this many items (groups x steps) in one energy answer: within a second to
#: answer (``bench/energy_10k.py``: 310,000 items, a month per day by device at 10,000
#: devices, 0.6 s); a month per hour by device at 10,000 devices would be 7,440,000
#: items, 480 MB of JSON
MAX_ITEMS = 350_000
#: rules whose alarm means energy spent for nothing while it is active
WASTE_RULES = ("lighting.after_hours_waste", "hvac.running_empty")
ACCEPTED_ENERGY = (
    "start and end: RFC 3339 times or epoch milliseconds, end after start; "
    f"by: {' | '.join(ENERGY_GROUPS)}; step: {' | '.join(STEPS)}; "
    f"at most {MAX_BUCKETS} steps and {MAX_ITEMS:,} items (groups x steps): "
    "a shorter period, a longer step or a coarser grouping"
)


class Figures:
    def __init__(
        self,
        site: Any,
        db: Engine,
        sink: PowerSource | None,
        clock: Clock,
        *,
        rollup: EnergyRollup | None = None,
    ) -> None:
        self.site = site
        self.reader = read_only(db)
        self.clock = clock
        self.energy_reader = (
            EnergyReader(site, sink, clock, rollup=rollup) if sink is not None else None
        )

    def month(self, text: str | None) -> tuple[int, int]:
        """``YYYY-MM`` checked against the clock; ``None``: the current month."""
        now = self.clock.now_ms()
        if text is None:
            from gateway.figures.periods import month_of

            return month_of(now, self.site.tz)
        return parse_month(text, now, self.site.tz)

    async def scorecard(self, period: str | None, lang: Lang | None = None) -> dict[str, Any]:
        year, month = self.month(period)
        card = await scorecard(
            self.site,
            self.reader,
            self.energy_reader,
            year,
            month,
            self.clock.now_ms(),
            lang=lang,
        )
        card["start"] = iso_ms(card["start"])
        card["end"] = iso_ms(card["end"])
        return card

    async def energy(self, start_ms: int, end_ms: int, by: str, step: str) -> dict[str, Any]:
        if by not in ENERGY_GROUPS or step not in STEPS or end_ms <= start_ms:
            raise Invalid(f"bad energy query; accepted: {ACCEPTED_ENERGY}")
        steps = len(buckets(start_ms, end_ms, step, self.site.tz, MAX_BUCKETS))
        if steps > MAX_BUCKETS:
            raise Invalid(f"too many steps; accepted: {ACCEPTED_ENERGY}")
        if self._groups(by) * steps > MAX_ITEMS:
            raise Invalid(f"too many items; accepted: {ACCEPTED_ENERGY}")
        if self.energy_reader is None:
            return {"items": [], "total": 0, "note": "no time-series store to read power from"}
        items = await self.energy_reader.series(start_ms, end_ms, by, step, shaped=True)
        return {"items": items, "total": len(items), "by": by, "step": step}

    def _groups(self, by: str) -> int:
        """How many zones, systems or devices an energy answer can have items of."""
        return len({group_key(d, by) for d in metered_devices(self.site)})

    def _alarm_row(self, alarm_id: int | str) -> sa.RowMapping:
        try:
            aid = int(alarm_id)
        except (TypeError, ValueError):
            raise NotFound(f"no alarm {alarm_id!r}") from None
        a = m.alarms
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(a).where(a.c.id == aid)).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id!r}")
        return row

    async def alarm_waste(self, alarm_id: int | str) -> dict[str, Any]:
        """``{"alarm_id", "rule", "device", "start", "end", "active", "kwh",
        "covered_s", "note"}``: the device's energy from the alarm's activation to its
        clearing (or now, while it is active)."""
        row = self._alarm_row(alarm_id)
        start = int(row["activated_at_ms"])
        cleared = row["cleared_at_ms"]
        end = int(cleared) if cleared is not None else self.clock.now_ms()
        out: dict[str, Any] = {
            "alarm_id": int(row["id"]),
            "rule": row["rule"],
            "device": row["device"],
            "start": iso_ms(start),
            "end": iso_ms(end),
            "active": cleared is None,
            "waste_rule": row["rule"] in WASTE_RULES,
            "kwh": None,
            "covered_s": 0,
            "note": None,
        }
        device = self.site.device(row["device"])
        if device is None or device.system not in POWER_FIELDS:
            out["note"] = "the alarm's device reports no power"
            return out
        if self.energy_reader is None:
            out["note"] = "no time-series store to read power from"
            return out
        kwh, covered = await self.energy_reader.window_kwh(device, start, end)
        out["covered_s"] = covered // 1000
        if covered == 0:
            out["note"] = "no power readings while the alarm was active"
        else:
            out["kwh"] = round(kwh, 4)
        return out

    async def monthly(self, month: str) -> dict[str, Any]:
        """The monthly report's data (``gateway.figures.report.collect``)."""
        from gateway.figures.report_data import collect

        year, mo = self.month(month)
        start, end = month_bounds(year, mo, self.site.tz)
        end = min(end, self.clock.now_ms() + 1)
        card = await scorecard(
            self.site, self.reader, self.energy_reader, year, mo, self.clock.now_ms()
        )
        return await collect(self, card, start, end)
