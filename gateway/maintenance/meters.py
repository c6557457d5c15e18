"""Meters integrated from the telemetry the gateway already receives, and daily readings.

Meters, per device (:data:`METERS`):

- ``fan_hours``: hours with ``fan`` true; ``on_hours``: hours with a circuit ``on``;
- ``starts``: how many times ``fan`` went from false to true;
- ``lamp_hours``: the lamp's hours as the device counts them: the first reading gives the
  value, then each increase of the counter is added; a counter that goes *down* was
  reset (a new lamp, a replaced controller) and counts again from zero, so the meter never
  goes back.

Life of a reading (:meth:`Meters.observe`): a reading older than (or as old as) the last
one taken for that meter changes nothing. Hours are integrated step by step: the state of
the previous reading holds until this one, but no step is credited more than the
device's reporting interval times :data:`STEP_SLACK` (a device silent for a day is not
credited a day of running; the slack absorbs jitter). Fields that a trend plan watches
(e.g. ``filter_dp``) are summed per site-local day (:meth:`Meters.observe_trend`) for
their daily mean. Each meter's value at a day's last reading is kept the same way (an
asset's meter history), but not as a row of its own in memory: the meter knows the day
of its last reading, so its day row is the meter itself, written by :meth:`Meters.save`;
only a row closed by a reading of a new day before it was saved is kept apart until the
save (one day row a meter, two meters a device, was ~5 MB at 10,000 devices).

Restarts: meters and daily rows are written to the state store (``meters``,
``meter_days``) by :meth:`Meters.save` (the service calls it every minute of gateway time
and when it closes) and read back by :meth:`Meters.load`; a day row not yet in memory is
read before it is added to.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import chain, islice
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.store import models as m

HOUR_MS = 3_600_000
#: the longest step credited is the reporting interval times this
STEP_SLACK = 1.5
#: rows written per statement by :meth:`Meters.save` (one transaction for all)
SAVE_BATCH = 2000
#: distinct sets of day-row fields shared between devices (more are kept per device)
FIELD_SETS = 1000

#: meter -> (field it reads, how)
METERS: Mapping[str, tuple[str, str]] = {
    "fan_hours": ("fan", "hours"),
    "on_hours": ("on", "hours"),
    "starts": ("fan", "starts"),
    "lamp_hours": ("lamp_hours", "counter"),
}
_BY_FIELD: dict[str, list[tuple[str, str]]] = {}
for _name, (_field, _how) in METERS.items():
    _BY_FIELD.setdefault(_field, []).append((_name, _how))


# A device's record: one flat list (a dict of ``Meter`` objects, a field-set entry and the
# service's "newest reading taken" were ~470 bytes a device at 10,000s of devices):
#   [names, dirty, seen, days, value, last_ts_ms, last_raw, day, value, ... ]
# ``names``: its meters' names in the order they were made (one tuple shared by the
# devices with the same meters); ``dirty``: bit k set when meter k changed since the last
# save; ``seen``: the newest reading time the maintenance service took (``None``: not
# yet); ``days``: the fields with day rows (a shared frozenset); then four items a meter:
# its value, the device time and raw value of its last reading, and the site-local day of
# that reading ("": none since the start; the meter's day row is (that day, value)).
_NAMES, _DIRTY, _SEEN, _DAYS = 0, 1, 2, 3
_HEAD = 4
_WIDTH = 4
_NO_FIELDS: frozenset[str] = frozenset()
#: distinct tuples of meter names shared between devices (more are kept per device)
NAME_SETS = 1000


@dataclass(slots=True)
class Day:
    total: float = 0.0
    n: int = 0
    last: float | None = None
    dirty: bool = False

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return None


class Meters:
    """Every meter of one site, and the daily rows of the fields ``trend_fields``."""

    def __init__(self, engine: Engine, tz: ZoneInfo, trend_fields: Iterable[str] = ()) -> None:
        self._engine = engine
        self.tz = tz
        self.trend_fields: set[str] = set(trend_fields)
        # device -> its record (see ``_NAMES`` above)
        self._by_device: dict[str, list[Any]] = {}
        self._name_sets: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._days: dict[tuple[str, str, str], Day] = {}  # trend fields' day rows
        # meters' day rows closed by a reading of a new day before a save: (device, name,
        # day) -> the meter's value at that day's last reading
        self._closed: dict[tuple[str, str, str], float] = {}
        # the fields with day rows of a device are in its record: one frozenset for all
        # devices of the same fields (a set of (device, field) tuples was ~260 bytes a device)
        self._field_sets: dict[frozenset[str], frozenset[str]] = {}
        self._loaded_days: set[str] = set()  # days whose stored rows are in _days
        self._span: tuple[int, int, str] = (0, 0, "")  # the last local day: [start, end)

    # ----------------------------------------------------------------- readings
    def observe(
        self, device: str, interval_s: float, ts_ms: int, values: Mapping[str, Any]
    ) -> None:
        """Take one reading of ``device`` (device time ``ts_ms``)."""
        max_step = int(interval_s * STEP_SLACK * 1000)
        for fld, x in values.items():
            for name, how in _BY_FIELD.get(fld, ()):
                raw = _num(x)
                if raw is not None:
                    self._step(device, name, how, ts_ms, raw, max_step)
            if fld in self.trend_fields:
                raw = _num(x)
                if raw is not None:
                    self.observe_trend(device, fld, ts_ms, raw)

    def _step(self, device: str, name: str, how: str, ts: int, raw: float, max_step: int) -> None:
        rec, i = self._meter(device, name)
        last_ts = rec[i + 1]
        if last_ts is not None and ts <= last_ts:
            return
        bit = 1 << (i - _HEAD) // _WIDTH
        prev_value = value = rec[i]
        prev_dirty = rec[_DIRTY] & bit
        prev = rec[i + 2]
        if how == "hours":
            if prev and last_ts is not None:
                value += min(ts - last_ts, max_step) / HOUR_MS
        elif how == "starts":
            if prev is not None and not prev and raw:
                value += 1
        elif prev is None:
            value = raw  # the counter's first reading: the lamp's hours as counted
        else:
            value += raw - prev if raw >= prev else raw  # down: reset, counts from zero
        rec[i], rec[i + 1], rec[i + 2] = value, ts, raw
        rec[_DIRTY] |= bit
        if name in self.trend_fields:  # a trend field of the same name: a Day row
            rec[i + 3] = ""
            day = self._day(device, name, ts)
            day.last, day.dirty = value, True
            return
        day_s = self.local_day(ts)
        old_day = rec[i + 3]
        if old_day != day_s:
            if prev_dirty and old_day:  # the row of its previous day is not saved yet
                self._closed[(device, name, old_day)] = prev_value
            if name not in rec[_DAYS]:
                self._mark_days(device, name)
            rec[i + 3] = day_s

    def observe_trend(self, device: str, fld: str, ts_ms: int, value: float) -> None:
        day = self._day(device, fld, ts_ms)
        day.total += value
        day.n += 1
        day.last = value
        day.dirty = True

    def value(self, device: str, name: str) -> float | None:
        rec = self._by_device.get(device)
        if rec is None or name not in rec[_NAMES]:
            return None
        value: float = rec[_HEAD + rec[_NAMES].index(name) * _WIDTH]
        return value

    def _rec(self, device: str) -> list[Any]:
        """``device``'s record (made, with no meters, the first time)."""
        rec = self._by_device.get(device)
        if rec is None:
            # one copy of each device id, shared with the rule engine's (interned)
            rec = self._by_device[sys.intern(device)] = [(), 0, None, _NO_FIELDS]
        return rec

    def _meter(self, device: str, name: str) -> tuple[list[Any], int]:
        """``device``'s record and where its meter ``name`` starts in it (made at 0 the
        first time: the record is then a new list, one item longer per meter)."""
        rec = self._rec(device)
        names: tuple[str, ...] = rec[_NAMES]
        if name in names:
            return rec, _HEAD + names.index(name) * _WIDTH
        new = (*names, sys.intern(name))
        if len(self._name_sets) < NAME_SETS:
            new = self._name_sets.setdefault(new, new)
        # (a list built by concatenation has no spare room, one built by unpacking has)
        rec = self._by_device[device] = [new] + rec[1:] + [0.0, None, None, ""]
        return rec, _HEAD + len(names) * _WIDTH

    def _meters(self, rec: list[Any]) -> Iterator[tuple[int, str, int]]:
        """(bit, name, where it starts) of each meter in the record ``rec``."""
        for k, name in enumerate(rec[_NAMES]):
            yield 1 << k, name, _HEAD + k * _WIDTH

    def last_ts(self, device: str) -> int:
        """The newest reading taken of ``device`` (-1: none)."""
        rec = self._by_device.get(device)
        if rec is None:
            return -1
        return max((rec[i + 1] or -1 for _, _, i in self._meters(rec)), default=-1)

    def taken(self, device: str) -> int:
        """The newest reading of ``device`` the maintenance service took (its meters'
        :meth:`last_ts` until it took one; kept from then on)."""
        rec = self._rec(device)
        seen = rec[_SEEN]
        if seen is None:
            seen = rec[_SEEN] = self.last_ts(device)
        return seen  # type: ignore[no-any-return]

    def take(self, device: str, ts_ms: int) -> None:
        """The maintenance service took the reading of ``device`` at ``ts_ms``."""
        self._rec(device)[_SEEN] = ts_ms

    def of(self, device: str) -> dict[str, float]:
        """Every meter of ``device``: ``{name: value}`` (hours and counts, rounded)."""
        rec = self._by_device.get(device)
        if rec is None:
            return {}
        return {n: round(rec[i], 3) for _, n, i in sorted(self._meters(rec), key=_meter_name)}

    # -------------------------------------------------------------------- days
    def local_day(self, ts_ms: int) -> str:
        """The site-local day of ``ts_ms`` (the last day's span is kept: readings come in
        order, and most fall in the day of the one before)."""
        lo, hi, day = self._span
        if lo <= ts_ms < hi:
            return day
        local = datetime.fromtimestamp(ts_ms / 1000, tz=self.tz)
        start = datetime.combine(local.date(), datetime.min.time(), tzinfo=self.tz)
        end = start + timedelta(days=1)
        day = local.date().isoformat()
        self._span = (int(start.timestamp() * 1000), int(end.timestamp() * 1000), day)
        return day

    def has_days(self, device: str, fld: str) -> bool:
        """Whether ``(device, field)`` has any day row (stored or in memory)."""
        rec = self._by_device.get(device)
        return rec is not None and fld in rec[_DAYS]

    def _mark_days(self, device: str, fld: str) -> None:
        """``(device, fld)`` has a day row now."""
        rec = self._rec(device)
        cur: frozenset[str] = rec[_DAYS]
        if fld in cur:
            return
        new = cur | {sys.intern(fld)}
        if len(self._field_sets) < FIELD_SETS:
            new = self._field_sets.setdefault(new, new)
        rec[_DAYS] = new

    def _day(self, device: str, fld: str, ts_ms: int) -> Day:
        day_s = self.local_day(ts_ms)
        key = (device, fld, day_s)
        day = self._days.get(key)
        if day is None:
            if day_s not in self._loaded_days:
                self._load_day(day_s)
            day = self._days.get(key)
            if day is None:
                # a row found above was made here or stored (load() listed those)
                device, fld = sys.intern(device), sys.intern(fld)
                self._mark_days(device, fld)
                day = self._days[(device, fld, day_s)] = Day()
        return day

    def _load_day(self, day: str) -> None:
        """Every stored row of ``day`` at once (one query a day, not one per device: at
        10,000 devices a query each stalled the event loop for tens of seconds)."""
        t = m.meter_days
        q = sa.select(t.c.device, t.c.field, t.c.total, t.c.n, t.c.last).where(t.c.day == day)
        intern = sys.intern  # the store's rows bring a new string per row and column
        with self._engine.connect() as conn:
            for dev, fld, total, n, last in conn.execute(q):
                dev, fld = intern(dev), intern(fld)
                self._mark_days(dev, fld)
                if fld in METERS and fld not in self.trend_fields:
                    continue  # a meter's row: the meter is its row
                key = (dev, fld, day)
                if key not in self._days:
                    self._days[key] = Day(float(total), int(n), last)
        self._loaded_days.add(day)

    def daily(self, device: str, fld: str, since_day: str | None = None) -> list[tuple[str, Day]]:
        """The day rows of ``(device, field)`` from ``since_day`` on, oldest first (the
        store's and those in memory)."""
        t = m.meter_days
        q = sa.select(t.c.day, t.c.total, t.c.n, t.c.last).where(
            t.c.device == device, t.c.field == fld
        )
        if since_day is not None:
            q = q.where(t.c.day >= since_day)
        with self._engine.connect() as conn:
            got = {r[0]: Day(float(r[1]), int(r[2]), r[3]) for r in conn.execute(q)}
        for (d, f, day), row in self._days.items():
            if d == device and f == fld and (since_day is None or day >= since_day):
                got[day] = row
        if fld in METERS and fld not in self.trend_fields:
            rows = [(dy, v) for (d, f, dy), v in self._closed.items() if d == device and f == fld]
            rec = self._by_device.get(device)
            if rec is not None and fld in rec[_NAMES]:
                i = _HEAD + rec[_NAMES].index(fld) * _WIDTH
                if rec[i + 3]:
                    rows.append((rec[i + 3], rec[i]))
            for day, last in rows:
                if since_day is None or day >= since_day:
                    got[day] = Day(0.0, 0, last)
        return sorted(got.items())

    # ------------------------------------------------------------- persistence
    def load(self) -> None:
        t, days = m.meters, m.meter_days
        with self._engine.connect() as conn:
            for rec in self._by_device.values():
                rec[_DAYS] = _NO_FIELDS
            for dev, fld in conn.execute(sa.select(days.c.device, days.c.field).distinct()):
                self._mark_days(sys.intern(dev), sys.intern(fld))
            for r in conn.execute(sa.select(t)).mappings():
                rec, i = self._meter(r["device"], r["name"])
                rec[i : i + _WIDTH] = [float(r["value"]), r["last_ts_ms"], r["last_raw"], ""]
                rec[_DIRTY] &= ~(1 << (i - _HEAD) // _WIDTH)

    def save(self, now_ms: int) -> int:
        """Write what changed since the last save; how many rows."""
        # what changed, by reference only: a tuple a row was ~50 MB at 100,000 devices
        dirty = [rec for rec in self._by_device.values() if rec[_DIRTY]]
        days = [d for d in self._days.values() if d.dirty]
        closed = self._closed  # dropped once written (kept if the save fails)
        if not dirty and not days and not closed:
            return 0
        n_rows = len(days) + len(closed)
        for rec in dirty:  # each dirty meter, and its day row if it has one
            for bit, _, i in self._meters(rec):
                if rec[_DIRTY] & bit:
                    n_rows += 2 if rec[i + 3] else 1
        with self._engine.begin() as conn:  # batches of rows, one transaction
            _upsert_many(
                conn,
                m.meters,
                ["device", "name"],
                (
                    {
                        "device": device,
                        "name": name,
                        "value": rec[i],
                        "last_ts_ms": rec[i + 1],
                        "last_raw": rec[i + 2],
                        "updated_at_ms": now_ms,
                    }
                    for device, rec in self._by_device.items()
                    if rec[_DIRTY]
                    for bit, name, i in self._meters(rec)
                    if rec[_DIRTY] & bit
                ),
            )
            _upsert_many(
                conn,
                m.meter_days,
                ["device", "field", "day"],
                chain(
                    (
                        {
                            "device": device,
                            "field": fld,
                            "day": day,
                            "total": d.total,
                            "n": d.n,
                            "last": d.last,
                        }
                        for (device, fld, day), d in self._days.items()
                        if d.dirty
                    ),
                    (
                        _meter_day(device, name, day, last)
                        for (device, name, day), last in closed.items()
                    ),
                    (
                        _meter_day(device, name, rec[i + 3], rec[i])
                        for device, rec in self._by_device.items()
                        if rec[_DIRTY]
                        for bit, name, i in self._meters(rec)
                        if rec[_DIRTY] & bit and rec[i + 3]
                    ),
                ),
            )
        self._closed = {}
        for rec in dirty:
            rec[_DIRTY] = 0
        for d in days:
            d.dirty = False
        today = self.local_day(now_ms)
        # keep today's and yesterday's rows in memory (late readings); the rest is stored
        self._days = {k: d for k, d in self._days.items() if k[2] >= _yesterday(today)}
        self._loaded_days = {d for d in self._loaded_days if d >= _yesterday(today)}
        return n_rows


def _meter_name(meter: tuple[int, str, int]) -> str:
    return meter[1]


def _meter_day(device: str, name: str, day: str, last: float) -> dict[str, Any]:
    """A meter's day row: its value at the day's last reading (no sum, no count)."""
    return {"device": device, "field": name, "day": day, "total": 0.0, "n": 0, "last": last}


def _yesterday(day: str) -> str:
    return (date.fromisoformat(day) - timedelta(days=1)).isoformat()


def _upsert_many(
    conn: Connection, table: sa.Table, keys: list[str], all_rows: Iterable[dict[str, Any]]
) -> None:
    """Insert or update ``all_rows`` (by the primary key ``keys``), :data:`SAVE_BATCH` at a
    time (all of them at once, as dicts, were ~200 MB at 100,000 devices): on SQLite and
    PostgreSQL one ``INSERT ... ON CONFLICT DO UPDATE`` executed with each batch (a
    statement built per row stalled the event loop for seconds at 10,000 devices),
    elsewhere row by row. The caller's transaction holds every batch."""
    it = iter(all_rows)
    while rows := list(islice(it, SAVE_BATCH)):
        _upsert_batch(conn, table, keys, rows)


def _upsert_batch(
    conn: Connection, table: sa.Table, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        for row in rows:
            _upsert(
                conn,
                table,
                {k: row[k] for k in keys},
                {k: v for k, v in row.items() if k not in keys},
            )
        return
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in rows[0] if c not in keys}
    )
    conn.execute(stmt, rows)


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    where = [table.c[k] == v for k, v in key.items()]
    res = conn.execute(sa.update(table).where(*where).values(**values))
    if res.rowcount == 0:
        conn.execute(sa.insert(table).values(**key, **values))
