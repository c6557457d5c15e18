"""A site's meter records: one flat list a device, and the primitives on them.

Holds the record's layout (the comment above :class:`_Layout`), :class:`Day` (a day row as
read), the shared whole-number floats, and :class:`MeterRecords`: the records by device,
each meter's and trend field's place and dirty bit, the fields with day rows, the
site-local day, and the rows kept apart until the next save. No I/O: reading and writing
the store is :mod:`gateway.maintenance.meter_store`, taking readings
:mod:`gateway.maintenance.meters` (what a record costs a device is in that module's doc).

Lifecycle: never built alone; one :class:`gateway.maintenance.meters.Meters` a site, built
by the maintenance service and kept as long as it runs. A device's record is made at its
first reading (or at :meth:`~gateway.maintenance.meter_store.MeterStore.load`) and grows
four items a new meter or trend field, never shrinks; its dirty bits are cleared by the
save.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from rules.model import FLOATS

#: distinct sets of day-row fields shared between devices (more are kept per device)
FIELD_SETS = 1000


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
# A row kept apart in ``MeterRecords._closed[device]``: five items, all rows of a device
# in one flat list (a key tuple and dict slot a row were ~100 bytes; at midnight, before
# the save, every device has one a meter and trend field: ~200 bytes a device now, for
# three):
#   field, day, sum, count, last          (a meter's row: name, day, 0.0, 0, its value)
_ROW = 5
#: floats 0.0 .. 1023.0, one object each (the decoder's: ``rules.model.FLOATS``) for every
#: meter and raw value that holds one (``starts``, a meter loaded at 0.0, a 0/1 state sent
#: as an integer: 24 bytes each else)
_FLOATS = FLOATS


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
    """A day row as :meth:`~gateway.maintenance.meter_store.MeterStore.daily` reads it."""

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


class MeterRecords:
    """The records of one site's meters and trend fields, and their primitives."""

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


def _meter_name(meter: tuple[int, str, int]) -> str:
    return meter[1]
