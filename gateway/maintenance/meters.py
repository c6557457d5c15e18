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

The record and its primitives are :mod:`gateway.maintenance.meter_record`, reading and
writing the store :mod:`gateway.maintenance.meter_store`; :class:`Meters` takes readings.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from gateway.maintenance.meter_record import _DAYS, _DIRTY, _NAMES, _num, _shared
from gateway.maintenance.meter_store import MeterStore

HOUR_MS = 3_600_000
#: the longest step credited is the reporting interval times this
STEP_SLACK = 1.5

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


class Meters(MeterStore):
    """Every meter of one site, and the daily rows of the fields ``trend_fields``."""

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
