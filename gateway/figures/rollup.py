"""The energy roll-up: kWh per device per site-local hour, day and month, kept as power
readings arrive, so a month's energy at 10,000 devices is a sum of a few rows per device
instead of every reading (``bench/energy_10k.py``).

**The same rule as the raw computation** (:func:`gateway.figures.energy.integrate`): each
new reading of a metered device closes one step from the device's previous reading; a
step longer than :func:`~gateway.figures.energy.max_step_ms` is a gap and credits
nothing; a credited step is cut at site-local hour edges (the power at the cut read off
the line) and each piece is added to its hour, and to that hour's day and month. Sums
of pieces are the same integral, so the roll-up and the raw readings give the same kWh
(``tests/gateway/figures/test_rollup.py``, within 0.1%).

**Per zone and per system.** Each batch's rows are also summed per zone and per system
and written in the same transaction (``gateway.figures.rollup_groups``), so grouped
answers read a few rows; they follow the site's device -> zone and system mapping and
answer only from when it last changed for a device that already had rows.

**Readings out of order.** A reading older than the device's newest (or a second value
at the same time) cannot be added step by step: the hours it touches are marked dirty
and *repaired* from the raw readings a little later (:meth:`EnergyRollup.repair`): the
device's newest reading and the hours' current sums are noted, the sink is flushed (so
everything the roll-up has seen is stored), the raw readings up to the noted one are
integrated, and the difference is added. Steps credited meanwhile are after the noted
reading and so are kept. After a stop that did not write everything (a crash), the
hours from each device's last written reading to a little past now are repaired the
same way.

Lifecycle: built with the site (or a callable giving the current site: onboarding adds
devices), the state store, the sink (the raw readings, for repairs) and the clock;
:meth:`restore` reads the newest reading of each device and the roll-up's state;
:meth:`__call__` is a pipeline processor (``gateway.stages.Processor``: every valid
message, in order, on the event loop); :meth:`run` flushes the sums to the state store
every :data:`FLUSH_MS` (sooner when :data:`FLUSH_AT` are waiting), repairs dirty hours
and deletes rows past the retention; cancelled, it writes what is left and marks the
stop clean. Bounds: one row per device (and per zone and system) per hour, day and
month; hour rows kept ``hour_retention_days``, day and month rows ``retention_days``; at most
:data:`MAX_PENDING` sums and :data:`MAX_DIRTY` dirty hours in memory. Past either bound
(the state store down for long) the roll-up starts over from now (``since_ms``): periods
before are read from the raw readings, never invented.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.figures.energy import (
    MS_PER_HOUR,
    POWER_FIELDS,
    PowerSource,
    max_step_ms,
    metered_devices,
)
from gateway.figures.rollup_groups import Batch, GroupRows, mapping_of
from gateway.figures.rollup_hours import Hours, Track
from gateway.figures.rollup_repair import REPAIR_DELAY_MS, Key, repair, stored
from gateway.store.models_energy import (
    energy_rollup,
    energy_rollup_state,
    group_upsert,
    rollup_upsert,
)
from rules.model import Telemetry
from rules.site import Site

log = logging.getLogger("sitewatch.energy")

H = MS_PER_HOUR
DAY_MS = 86_400_000
FLUSH_MS = 30_000
#: this many hour sums waiting: flush now, not at the next turn
FLUSH_AT = 50_000
#: hour sums written in one transaction (in a worker thread: :meth:`flush_off_loop`)
FLUSH_BATCH = 500  # ~60-170 ms of SQLite upserts on the loaded bench machine, off the loop
MAX_PENDING = 1_000_000
MAX_DIRTY = 200_000
SWEEP_MS = H
HOUR_RETENTION_DAYS = 62
RETENTION_DAYS = 800
#: after a crash, the hours up to this far past now are repaired
CRASH_MARGIN_MS = H
STATE_NAME = "rollup"


class EnergyRollup:
    name = "energy-rollup"

    def __init__(
        self,
        site: Site | Callable[[], Site],
        db: Engine,
        clock: Clock,
        source: PowerSource | None = None,
        *,
        hour_retention_days: int = HOUR_RETENTION_DAYS,
        retention_days: int = RETENTION_DAYS,
    ) -> None:
        self._site_of: Callable[[], Site] = site if callable(site) else (lambda: site)
        self.db = db
        self.clock = clock
        self.source = source
        self.hour_retention_ms = hour_retention_days * DAY_MS
        self.retention_ms = retention_days * DAY_MS
        self._site: Site | None = None
        self._tracks: dict[str, Track] = {}
        self.hours = Hours(self._site_of())
        #: (device, hour) -> [kW·ms, covered ms, last ts or None, last kW]: not yet written
        self.pending: dict[Key, list[Any]] = {}
        #: (device, hour) -> when to repair it
        self.dirty: dict[Key, int] = {}
        self.since_ms = 0
        #: the same sums per zone and system (``gateway.figures.rollup_groups``)
        self.groups = GroupRows()
        self._taken_hour = 0  # the newest hour a batch took
        #: grows by one after every committed write (readers check they saw one state)
        self.writes = 0
        self.late = 0
        self.restarts = 0
        self._wake = asyncio.Event()
        self._swept_at = 0
        self._index()

    # -- the devices ------------------------------------------------------------------
    @property
    def site(self) -> Site:
        site = self._site_of()
        if site is not self._site:
            self._index(site)
        return site

    def _index(self, site: Site | None = None) -> None:
        site = site or self._site_of()
        old = self._tracks
        tracks: dict[str, Track] = {}
        for d in metered_devices(site):
            field, factor = POWER_FIELDS[d.system]
            tr = tracks[d.id] = Track(field, factor, max_step_ms(d))
            prev = old.get(d.id)
            if prev is not None:
                tr.ts, tr.kw = prev.ts, prev.kw
        self._tracks = tracks
        self._site = site
        self.hours = Hours(site)
        self.groups.follow(mapping_of(site), self.groups_floor())

    def groups_floor(self) -> int:
        """The first hour no batch taken so far, nor any sum waiting, touches."""
        newest = max((h for _, h in self.pending), default=self._taken_hour)
        return max(self.hours.hour(self.clock.now_ms()), newest, self._taken_hour) + H

    def track(self, device: str) -> Track | None:
        if self._site_of() is not self._site:
            self._index()
        return self._tracks.get(device)

    # -- the hot path -----------------------------------------------------------------
    def __call__(self, msg: Any) -> None:
        if type(msg) is not Telemetry:
            return
        tr = self._tracks.get(msg.device)
        if tr is None:
            if self._site_of() is self._site:
                return
            tr = self.track(msg.device)
            if tr is None:
                return
        v = msg.values.get(tr.field)
        if (type(v) is not float and type(v) is not int) or not math.isfinite(v):
            return  # absent, a flag, a word, NaN or infinite: not power
        self.add(msg.device, tr, msg.ts_ms, float(v) * tr.factor)

    def add(self, device: str, tr: Track, ts: int, kw: float) -> None:
        """One reading of ``device`` (``kw`` already in kW)."""
        last = tr.ts
        if last is None or ts > last:
            h = self.hours.hour(ts)
            key = (device, h)
            e = self.pending.get(key)
            if e is None:
                e = self.pending[key] = [0.0, 0, None, 0.0]
            if last is not None and ts - last <= tr.max_step:
                if last >= h:  # the whole step inside the hour of the new reading
                    e[0] += (tr.kw + kw) * (ts - last) * 0.5
                    e[1] += ts - last
                else:
                    self._credit(device, last, tr.kw, ts, kw)
            tr.ts, tr.kw = ts, kw
            e[2], e[3] = ts, kw
            if len(self.pending) >= FLUSH_AT:
                self._wake.set()
            return
        if ts == last and kw == tr.kw:
            return  # the same reading again (a redelivery)
        self.late += 1
        due = self.clock.now_ms() + REPAIR_DELAY_MS
        hi = min(ts + tr.max_step, last)
        for h in self._hours_of(ts - tr.max_step, hi + 1):
            self.dirty.setdefault((device, h), due)
        if len(self.dirty) > MAX_DIRTY:
            self._start_over("too many hours to repair")

    def _entry(self, key: Key) -> list[Any]:
        e = self.pending.get(key)
        if e is None:
            e = self.pending[key] = [0.0, 0, None, 0.0]
        return e

    def _credit(self, device: str, t0: int, p0: float, t1: int, p1: float) -> None:
        """Add the step ``(t0, p0) -> (t1, p1)`` to the hours it crosses."""
        h = self.hours.hour(t0)
        if t1 <= h + H:
            e = self._entry((device, h))
            e[0] += (p0 + p1) * (t1 - t0) * 0.5
            e[1] += t1 - t0
            return
        slope = (p1 - p0) / (t1 - t0)
        a = t0
        while a < t1:
            h = self.hours.hour(a)
            b = min(t1, h + H)
            e = self._entry((device, h))
            e[0] += (2 * p0 + slope * (a - t0 + b - t0)) * 0.5 * (b - a)
            e[1] += b - a
            a = b

    def _hours_of(self, a: int, b: int) -> Iterable[int]:
        """Starts of the hours overlapping ``[a, b)``."""
        h = self.hours.hour(a)
        while h < b:
            yield h
            h = self.hours.hour(h + H)

    def _start_over(self, why: str) -> None:
        """Past a bound: forget what is not written and count from now on."""
        self.restarts += 1
        log.error("energy roll-up: %s; it starts over from now (earlier: raw readings)", why)
        self.pending.clear()
        self.dirty.clear()
        self.since_ms = self.clock.now_ms()
        for tr in self._tracks.values():
            tr.ts = None
        with contextlib.suppress(Exception):
            self._save_state(clean=False)

    # -- the state store --------------------------------------------------------------
    def restore(self) -> None:
        """Read the roll-up's state and each device's newest written reading; after a
        stop that was not clean, mark the hours since then for repair."""
        now = self.clock.now_ms()
        st = energy_rollup_state
        t = energy_rollup
        self.site  # noqa: B018  (index the current site)
        longest = max((tr.max_step for tr in self._tracks.values()), default=0)
        with self.db.begin() as conn:
            row = conn.execute(sa.select(st).where(st.c.name == STATE_NAME)).mappings().first()
            clean = True
            if row is None:
                self.since_ms = now
                conn.execute(sa.insert(st).values(name=STATE_NAME, since_ms=now, clean=False))
                # nothing is summed before now: the group rows answer from now too
                self.groups.restore(conn, mapping_of(self.site), now)
            else:
                self.groups.restore(conn, mapping_of(self.site), self.groups_floor())
                self.since_ms = int(row["since_ms"])
                clean = bool(row["clean"])
                conn.execute(sa.update(st).where(st.c.name == STATE_NAME).values(clean=False))
            lasts = conn.execute(
                sa.select(t.c.device, t.c.last_ts_ms, t.c.last_kw).where(
                    t.c.span == "h",
                    t.c.start_ms >= now - longest - 2 * H,
                    t.c.last_ts_ms.is_not(None),
                )
            ).all()
        for device, ts, kw in lasts:
            tr = self._tracks.get(device)
            if tr is not None and (tr.ts is None or ts > tr.ts):
                tr.ts, tr.kw = int(ts), float(kw)
        if not clean:
            due = now + REPAIR_DELAY_MS
            for device, tr in self._tracks.items():
                if tr.ts is not None:
                    for h in self._hours_of(tr.ts, now + CRASH_MARGIN_MS):
                        self.dirty.setdefault((device, h), due)

    def _save_state(self, *, clean: bool) -> None:
        st = energy_rollup_state
        with self.db.begin() as conn:
            done = conn.execute(
                sa.update(st)
                .where(st.c.name == STATE_NAME)
                .values(since_ms=self.since_ms, clean=clean)
            ).rowcount
            if not done:
                conn.execute(
                    sa.insert(st).values(name=STATE_NAME, since_ms=self.since_ms, clean=clean)
                )

    def flush(self, limit: int | None = None) -> int:
        """Write up to ``limit`` waiting hour sums (all: ``None``) to the state store,
        each added to its hour, day and month rows in one transaction per
        :data:`FLUSH_BATCH`. On a failure the sums stay waiting. Returns how many."""
        written = 0
        stmt = self._statements()
        while self.pending and (limit is None or written < limit):
            n = FLUSH_BATCH if limit is None else min(FLUSH_BATCH, limit - written)
            taken, batch = self._take(n)
            try:
                self._write(stmt, batch)
            except BaseException:
                self._put_back(taken, batch)
                raise
            written += len(taken)
        return written

    async def flush_off_loop(self) -> int:
        """:meth:`flush` with each transaction in a worker thread: the loop goes on
        with messages (and fire alarms) while the database writes. Sums added meanwhile
        wait in :attr:`pending`; a batch that fails is put back."""
        written = 0
        stmt = self._statements()
        while self.pending:
            taken, batch = self._take(FLUSH_BATCH)
            try:
                await asyncio.to_thread(self._write, stmt, batch)
            except BaseException:
                self._put_back(taken, batch)
                raise
            written += len(taken)
        return written

    def _statements(self) -> tuple[Any, Any]:
        dialect = self.db.dialect.name
        return rollup_upsert(dialect), group_upsert(dialect)

    def _take(self, n: int) -> tuple[dict[Key, list[Any]], Batch]:
        """Take up to ``n`` waiting sums out of :attr:`pending` (on the loop) and the
        rows they add to: their hours, and those hours' days and months, per device
        and per zone and system."""
        self.site  # noqa: B018  (the group rows follow the current site)
        keys = [k for k, _ in zip(self.pending, range(n), strict=False)]
        taken = {k: self.pending.pop(k) for k in keys}
        rows: dict[tuple[str, int, str], dict[str, Any]] = {}
        for (device, hour), (kwms, cov, last, kw) in taken.items():
            if hour > self._taken_hour:
                self._taken_hour = hour
            kwh = kwms / H
            day, month = self.hours.parents(hour)
            rows[("h", hour, device)] = {
                "span": "h", "start_ms": hour, "device": device, "kwh": kwh,
                "covered_ms": cov, "last_ts_ms": last, "last_kw": kw if last else None,
            }  # fmt: skip
            for span, start in (("d", day), ("m", month)):
                r = rows.get((span, start, device))
                if r is None:
                    rows[(span, start, device)] = {
                        "span": span, "start_ms": start, "device": device, "kwh": kwh,
                        "covered_ms": cov, "last_ts_ms": None, "last_kw": None,
                    }  # fmt: skip
                else:
                    r["kwh"] += kwh
                    r["covered_ms"] += cov
        device_rows = list(rows.values())
        batch = Batch(device_rows, self.groups.rows(device_rows), self.groups.take())
        return taken, batch

    def _write(self, stmt: tuple[Any, Any], batch: Batch) -> None:
        with self.db.begin() as conn:
            if batch.saved is not None:
                self.groups.write(conn, batch.saved)
            if batch.device:
                conn.execute(stmt[0], batch.device)
            if batch.groups:
                conn.execute(stmt[1], batch.groups)
        self.writes += 1

    def _put_back(self, taken: dict[Key, list[Any]], batch: Batch) -> None:
        """Sums whose write failed wait again, added to what came meanwhile."""
        self.groups.put_back(batch.saved)
        for key, (kwms, cov, last, kw) in taken.items():
            e = self._entry(key)
            e[0] += kwms
            e[1] += cov
            if last is not None and (e[2] is None or last > e[2]):
                e[2], e[3] = last, kw

    def sweep(self) -> None:
        """Delete rows past the retention (hours: ``hour_retention_days``; days and
        months: ``retention_days``)."""
        now = self.clock.now_ms()
        t = energy_rollup
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(t).where(t.c.span == "h", t.c.start_ms < now - self.hour_retention_ms)
            )
            conn.execute(
                sa.delete(t).where(
                    t.c.span != "h", t.c.start_ms < now - self.retention_ms - 31 * DAY_MS
                )
            )
            self.groups.sweep(
                conn, now - self.hour_retention_ms, now - self.retention_ms - 31 * DAY_MS
            )

    def stored(self, keys: list[Key]) -> dict[Key, tuple[float, int]]:
        """(kWh, covered ms) of hour rows as written."""
        return stored(self.db, keys)

    async def repair(self, now_ms: int | None = None) -> int:
        """Repair the dirty hours that are due (see the module doc); returns how many."""
        return await repair(self, self.clock.now_ms() if now_ms is None else now_ms)

    # -- the background task ----------------------------------------------------------
    async def run(self) -> None:
        """Flush, repair and sweep until cancelled; then write what is left."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), FLUSH_MS / 1000)
                self._wake.clear()
                await self.turn()
        finally:
            self.close()

    async def turn(self) -> None:
        try:
            await self.flush_off_loop()
        except Exception:  # noqa: BLE001 - the state store is down: keep the sums
            log.exception("energy roll-up: cannot write; the sums wait")
            if len(self.pending) > MAX_PENDING:
                self._start_over("too many sums waiting")
            return
        if self.dirty:
            try:
                await self.repair()
            except Exception:  # noqa: BLE001
                log.exception("energy roll-up: repair failed; tried again later")
        now = self.clock.now_ms()
        if now - self._swept_at >= SWEEP_MS:
            self._swept_at = now
            try:
                self.sweep()
            except Exception:  # noqa: BLE001
                log.exception("energy roll-up: retention sweep failed")

    def close(self) -> None:
        """Write what is left; the stop is clean when nothing is left to repair."""
        try:
            self.flush()
            self._save_state(clean=not self.dirty)
        except Exception:  # noqa: BLE001
            log.exception("energy roll-up: the last write failed; repaired at the next start")
