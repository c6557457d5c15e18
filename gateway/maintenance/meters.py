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
asset's meter history).

Day rows in memory: none of their own. A device's record (below) holds, for each meter,
the day of its last reading (its day row is the meter itself: that day, its value) and,
for each trend field, the running day's row (its day, sum, count, last value). A row is
kept apart (``Meters._closed``, per device) only until the next save: a row closed by a
reading of a new day before it was saved, and the row of an earlier day that a late
reading adds to (read from the store first). A day's stored rows are read once, with one
query for the day (:meth:`Meters._load_day`), into the running rows they continue (after
a restart a reading adds to its day's stored row, it does not replace it). One day row a
meter was ~5 MB at 10,000 devices; a ``Day`` object a trend field (with its key tuple and
dict slot, today's and yesterday's kept) was ~160 bytes a device, four items in the record
are 32: the meters of 20,000 HVAC units (``filter_dp`` a trend) went from 490 to 349
bytes a device, 686 to 349 after a save, 896 to 586 at midnight before the save
(tracemalloc).

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
# service's "newest reading taken" were ~470 bytes a device at 10,000s of devices; a
# ``Day`` object a trend field, its key and dict slot ~160 bytes more, see the module doc):
#   [layout, dirty, seen, days, <entry>, <entry>, ... ]
# ``layout``: what its entries are (a :class:`_Layout` shared by the devices with the same
# entries); ``dirty``: bit k set when entry k changed since the last save; ``seen``: the
# newest reading time the maintenance service took (``None``: not yet); ``days``: the
# fields with day rows (a shared frozenset); then four items an entry, in the order they
# were made:
#   a meter:       value, device time and raw value of its last reading, the site-local
#                  day of that reading ("": none since the start; its day row is (that
#                  day, value));
#   a trend field: the running day's sum, count and last value, and that day ("": none).
_NAMES, _DIRTY, _SEEN, _DAYS = 0, 1, 2, 3
_HEAD = 4
_WIDTH = 4
_NO_FIELDS: frozenset[str] = frozenset()
#: distinct record layouts shared between devices (more are kept per device)
NAME_SETS = 1000
# A row kept apart in ``Meters._closed[device]``: five items, all rows of a device in one
# flat list (a key tuple and dict slot a row were ~100 bytes; at midnight, before the
# save, every device has one a meter and trend field: ~200 bytes a device now, for three):
#   field, day, sum, count, last          (a meter's row: name, day, 0.0, 0, its value)
_ROW = 5
#: floats 0.0 .. 1023.0, one object each for every meter and raw value that holds one
#: (``starts``, a meter loaded at 0.0, a 0/1 state sent as an integer: 24 bytes each else)
_FLOATS = tuple(float(k) for k in range(1024))


class _Layout:
    """Where each meter and trend field of a record is: ``(index, dirty bit)`` by name."""

    __slots__ = ("entries", "meters", "trends")

    def __init__(self, entries: tuple[tuple[str, bool], ...]) -> None:
        self.entries = entries  # (name, is a trend field), in record order
        self.meters: dict[str, tuple[int, int]] = {}
        self.trends: dict[str, tuple[int, int]] = {}
        for k, (name, trend) in enumerate(entries):
            (self.trends if trend else self.meters)[name] = (_HEAD + k * _WIDTH, 1 << k)


_EMPTY = _Layout(())


@dataclass(slots=True)
class Day:
    """A day row as :meth:`Meters.daily` reads it."""

    total: float = 0.0
    n: int = 0
    last: float | None = None

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    if isinstance(x, int | float) and math.isfinite(x):
        if type(x) is int and 0 <= x < len(_FLOATS):
            return _FLOATS[x]  # (a 0/1 state sent as an integer: one object, not one a reading)
        return float(x)
    return None


def _shared(x: float) -> float:
    """``x``, or the one object of its value if it is a whole number of :data:`_FLOATS`."""
    if 0.0 <= x < len(_FLOATS) and x.is_integer():
        return _FLOATS[int(x)]
    return x


class Meters:
    """Every meter of one site, and the daily rows of the fields ``trend_fields``."""

    def __init__(self, engine: Engine, tz: ZoneInfo, trend_fields: Iterable[str] = ()) -> None:
        self._engine = engine
        self.tz = tz
        self._trend_fields: set[str] = set(trend_fields)
        # device -> its record (see ``_NAMES`` above)
        self._by_device: dict[str, list[Any]] = {}
        self._layouts: dict[tuple[tuple[str, bool], ...], _Layout] = {}
        # rows kept apart until the next save, a flat list a device (see ``_ROW`` above)
        self._closed: dict[str, list[Any]] = {}
        # the fields with day rows of a device are in its record: one frozenset for all
        # devices of the same fields (a set of (device, field) tuples was ~260 bytes a device)
        self._field_sets: dict[frozenset[str], frozenset[str]] = {}
        # days whose stored rows are in the running rows they continue (see _load_day)
        self._loaded_days: set[str] = set()
        self._span: tuple[int, int, str] = (0, 0, "")  # the last local day: [start, end)

    @property
    def trend_fields(self) -> set[str]:
        return self._trend_fields

    @trend_fields.setter
    def trend_fields(self, fields: Iterable[str]) -> None:
        new = set(fields)
        if new != self._trend_fields:
            # a field new to the trends has stored rows nobody read: read the days again
            # (rows already running are kept, see _load_day)
            self._loaded_days = set()
        self._trend_fields = new

    # ----------------------------------------------------------------- readings
    def observe(
        self, device: str, interval_s: float, ts_ms: int, values: Mapping[str, Any]
    ) -> None:
        """Take one reading of ``device`` (device time ``ts_ms``)."""
        max_step = int(interval_s * STEP_SLACK * 1000)
        trends = self._trend_fields
        for fld, x in values.items():
            meters = _BY_FIELD.get(fld)
            if meters is None and fld not in trends:
                continue
            raw = _num(x)  # one object for the field's meters and trend
            if raw is None:
                continue
            if meters is not None:
                for name, how in meters:
                    self._step(device, name, how, ts_ms, raw, max_step)
            if fld in trends:
                self.observe_trend(device, fld, ts_ms, raw)

    def _step(self, device: str, name: str, how: str, ts: int, raw: float, max_step: int) -> None:
        rec, i, bit = self._entry(device, name, False)
        last_ts = rec[i + 1]
        if last_ts is not None and ts <= last_ts:
            return
        prev_value = value = rec[i]
        prev_dirty = rec[_DIRTY] & bit
        prev = rec[i + 2]
        if how == "hours":
            if prev and last_ts is not None:
                value += min(ts - last_ts, max_step) / HOUR_MS
        elif how == "starts":
            if prev is not None and not prev and raw:
                value = _shared(value + 1)
        elif prev is None:
            value = raw  # the counter's first reading: the lamp's hours as counted
        else:
            value += raw - prev if raw >= prev else raw  # down: reset, counts from zero
        rec[i], rec[i + 1], rec[i + 2] = value, ts, raw
        rec[_DIRTY] |= bit
        if name in self._trend_fields:  # a trend field of the same name: its row's last
            rec[i + 3] = ""
            row, j, tbit = self._trend_row(device, name, ts)  # (may make a new record)
            row[j + 2] = value
            if tbit:
                row[_DIRTY] |= tbit
            return
        day_s = self.local_day(ts)
        old_day = rec[i + 3]
        if old_day != day_s:
            if prev_dirty and old_day:  # the row of its previous day is not saved yet
                self._keep(device, name, old_day, 0.0, 0, prev_value)
            if name not in rec[_DAYS]:
                self._mark(rec, name)
            rec[i + 3] = day_s

    def observe_trend(self, device: str, fld: str, ts_ms: int, value: float) -> None:
        row, j, bit = self._trend_row(device, fld, ts_ms)
        row[j] += value
        row[j + 1] += 1
        row[j + 2] = value
        if bit:
            row[_DIRTY] |= bit

    def value(self, device: str, name: str) -> float | None:
        rec = self._by_device.get(device)
        at = rec[_NAMES].meters.get(name) if rec is not None else None
        if rec is None or at is None:
            return None
        value: float = rec[at[0]]
        return value

    def _rec(self, device: str) -> list[Any]:
        """``device``'s record (made, with no meters, the first time)."""
        rec = self._by_device.get(device)
        if rec is None:
            # one copy of each device id, shared with the rule engine's (interned)
            rec = self._by_device[sys.intern(device)] = [_EMPTY, 0, None, _NO_FIELDS]
        return rec

    def _entry(self, device: str, name: str, trend: bool) -> tuple[list[Any], int, int]:
        """``device``'s record, where its meter (``trend``: trend field) ``name`` starts in
        it and its dirty bit (made empty the first time: the record is then a new list,
        four items longer)."""
        rec = self._by_device.get(device) or self._rec(device)
        layout: _Layout = rec[_NAMES]
        at = (layout.trends if trend else layout.meters).get(name)
        if at is not None:
            return rec, at[0], at[1]
        entries = (*layout.entries, (sys.intern(name), trend))
        new = self._layouts.get(entries)
        if new is None:
            new = _Layout(entries)
            if len(self._layouts) < NAME_SETS:
                self._layouts[entries] = new
        # (a list built by concatenation has no spare room, one built by unpacking has)
        empty = [0.0, 0, None, ""] if trend else [0.0, None, None, ""]
        rec = self._by_device[device] = [new] + rec[1:] + empty
        k = len(layout.entries)
        return rec, _HEAD + k * _WIDTH, 1 << k

    def _meters(self, rec: list[Any]) -> Iterator[tuple[int, str, int]]:
        """(bit, name, where it starts) of each meter in the record ``rec``."""
        for name, (i, bit) in rec[_NAMES].meters.items():
            yield bit, name, i

    def _trends(self, rec: list[Any]) -> Iterator[tuple[int, str, int]]:
        """(bit, field, where its running row starts) of each trend field in ``rec``."""
        for fld, (j, bit) in rec[_NAMES].trends.items():
            yield bit, fld, j

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
        self._mark(self._rec(device), fld)

    def _mark(self, rec: list[Any], fld: str) -> None:
        cur: frozenset[str] = rec[_DAYS]
        if fld in cur:
            return
        new = cur | {sys.intern(fld)}
        if len(self._field_sets) < FIELD_SETS:
            new = self._field_sets.setdefault(new, new)
        rec[_DAYS] = new

    def _trend_row(self, device: str, fld: str, ts_ms: int) -> tuple[list[Any], int, int]:
        """The row of ``(device, fld)`` for the day of ``ts_ms``: the list that holds it,
        where its sum starts (then count, last value) and the dirty bit to set (0: a row
        kept apart, written at the next save whatever)."""
        day_s = self.local_day(ts_ms)
        rec = self._by_device.get(device)
        if rec is not None:
            at = rec[_NAMES].trends.get(fld)
            if at is not None and rec[at[0] + 3] == day_s:  # the running day: most readings
                return rec, at[0], at[1]
        device, fld = sys.intern(device), sys.intern(fld)
        rec, j, bit = self._entry(device, fld, True)
        running = rec[j + 3]
        if running and running > day_s:  # a late reading: its day's row apart
            return self._apart(device, fld, day_s)
        if day_s not in self._loaded_days:
            self._load_day(day_s)  # may start this very row from the store
            rec, j, bit = self._entry(device, fld, True)  # (the record may be a new list)
            if rec[j + 3] == day_s:
                return rec, j, bit
        self._start(rec, j, bit, device, fld, day_s, 0.0, 0, None)
        return rec, j, bit

    def _start(
        self,
        rec: list[Any],
        j: int,
        bit: int,
        device: str,
        fld: str,
        day: str,
        total: float,
        n: int,
        last: float | None,
    ) -> None:
        """Make ``day`` the running day of the trend row at ``j`` of ``rec`` (from ``total,
        n, last``: the stored row, or none); the row of the day it ran, if not saved yet,
        is kept apart until the save."""
        if rec[j + 3] and rec[_DIRTY] & bit:
            self._keep(device, fld, rec[j + 3], rec[j], rec[j + 1], rec[j + 2])
        rec[j], rec[j + 1], rec[j + 2], rec[j + 3] = total, n, last, day
        rec[_DIRTY] &= ~bit
        self._mark(rec, fld)

    def _keep(
        self, device: str, fld: str, day: str, total: float, n: int, last: float | None
    ) -> list[Any]:
        """Keep a row apart until the next save; the device's rows kept apart."""
        device = sys.intern(device)
        # (concatenated: no spare room; a device keeps a row a meter and trend field at
        # most, and those of late readings)
        rows = self._closed[device] = self._closed.get(device, []) + [fld, day, total, n, last]
        return rows

    def _apart(self, device: str, fld: str, day: str) -> tuple[list[Any], int, int]:
        """The row of ``(device, fld, day)``, a day before the running one, kept apart:
        as it is in memory, else as stored (one query: a late reading is rare), else
        empty."""
        rows = self._closed.get(device, [])
        for k in range(0, len(rows), _ROW):
            if rows[k] == fld and rows[k + 1] == day:
                return rows, k + 2, 0
        t = m.meter_days
        q = sa.select(t.c.total, t.c.n, t.c.last).where(
            t.c.device == device, t.c.field == fld, t.c.day == day
        )
        with self._engine.connect() as conn:
            got = conn.execute(q).first()
        self._mark_days(device, fld)
        if got is None:
            rows = self._keep(device, fld, day, 0.0, 0, None)
        else:
            rows = self._keep(device, fld, day, float(got[0]), int(got[1]), got[2])
        return rows, len(rows) - _ROW + 2, 0

    def _load_day(self, day: str) -> None:
        """Every stored row of ``day`` at once (one query a day, not one per device: at
        10,000 devices a query each stalled the event loop for tens of seconds): each trend
        field's row becomes its device's running row, unless that runs ``day`` already
        (it holds the stored row then) or a later day (a late reading reads its row)."""
        t = m.meter_days
        q = sa.select(t.c.device, t.c.field, t.c.total, t.c.n, t.c.last).where(t.c.day == day)
        intern = sys.intern  # the store's rows bring a new string per row and column
        trends = self._trend_fields
        with self._engine.connect() as conn:
            for dev, fld, total, n, last in conn.execute(q):
                dev, fld = intern(dev), intern(fld)
                self._mark_days(dev, fld)
                if fld not in trends:
                    continue  # a meter's row (the meter is its row) or no trend's: stored
                rec, j, bit = self._entry(dev, fld, True)
                if rec[j + 3] and rec[j + 3] >= day:
                    continue
                self._start(rec, j, bit, dev, fld, day, float(total), int(n), last)
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
        rows: list[tuple[str, Day]] = []
        apart = self._closed.get(device, [])
        for k in range(0, len(apart), _ROW):
            if apart[k] == fld:
                rows.append((apart[k + 1], Day(apart[k + 2], apart[k + 3], apart[k + 4])))
        rec = self._by_device.get(device)
        if rec is not None:
            at = rec[_NAMES].trends.get(fld)
            if at is not None and rec[at[0] + 3]:
                j = at[0]
                rows.append((rec[j + 3], Day(rec[j], rec[j + 1], rec[j + 2])))
            at = rec[_NAMES].meters.get(fld)
            if at is not None and rec[at[0] + 3] and fld not in self._trend_fields:
                rows.append((rec[at[0] + 3], Day(0.0, 0, rec[at[0]])))
        for day, row in rows:
            if since_day is None or day >= since_day:
                got[day] = row
        return sorted(got.items())

    # ------------------------------------------------------------- persistence
    def load(self) -> None:
        t, days = m.meters, m.meter_days
        # one object for equal times and whole-number values (the store brings a new one
        # per row and column; a reading replaces the time and raw value, not ``starts``:
        # 16 bytes a device at 20,000 HVAC units after a restart and a reading)
        same_ts: dict[int, int] = {}
        with self._engine.connect() as conn:
            for rec in self._by_device.values():
                rec[_DAYS] = _NO_FIELDS
            for dev, fld in conn.execute(sa.select(days.c.device, days.c.field).distinct()):
                self._mark_days(sys.intern(dev), sys.intern(fld))
            for r in conn.execute(sa.select(t)).mappings():
                rec, i, bit = self._entry(r["device"], r["name"], False)
                ts, raw = r["last_ts_ms"], r["last_raw"]
                if ts is not None:
                    ts = same_ts.setdefault(ts, ts)
                rec[i] = _shared(float(r["value"]))
                rec[i + 1] = ts
                rec[i + 2] = raw if raw is None else _shared(float(raw))
                rec[i + 3] = ""
                rec[_DIRTY] &= ~bit

    def save(self, now_ms: int) -> int:
        """Write what changed since the last save; how many rows."""
        # what changed, by reference only: a tuple a row was ~50 MB at 100,000 devices
        dirty = [rec for rec in self._by_device.values() if rec[_DIRTY]]
        closed = self._closed  # dropped once written (kept if the save fails)
        if not dirty and not closed:
            return 0
        n_rows = sum(len(rows) for rows in closed.values()) // _ROW
        for rec in dirty:  # each dirty meter, and its day row if it has one; trend rows
            for bit, _, i in self._meters(rec):
                if rec[_DIRTY] & bit:
                    n_rows += 2 if rec[i + 3] else 1
            for bit, _, _ in self._trends(rec):
                if rec[_DIRTY] & bit:
                    n_rows += 1
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
                        _day_row(device, fld, rec[j + 3], rec[j], rec[j + 1], rec[j + 2])
                        for device, rec in self._by_device.items()
                        if rec[_DIRTY]
                        for bit, fld, j in self._trends(rec)
                        if rec[_DIRTY] & bit
                    ),
                    (
                        _day_row(device, *rows[k : k + _ROW])
                        for device, rows in closed.items()
                        for k in range(0, len(rows), _ROW)
                    ),
                    (
                        _day_row(device, name, rec[i + 3], 0.0, 0, rec[i])
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
        today = self.local_day(now_ms)
        # the days before yesterday are read again if a reading comes for them
        self._loaded_days = {d for d in self._loaded_days if d >= _yesterday(today)}
        return n_rows


def _meter_name(meter: tuple[int, str, int]) -> str:
    return meter[1]


def _day_row(
    device: str, fld: str, day: str, total: float, n: int, last: float | None
) -> dict[str, Any]:
    """A day row to write (a meter's: its value at the day's last reading, no sum, no
    count)."""
    return {"device": device, "field": fld, "day": day, "total": total, "n": n, "last": last}


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
