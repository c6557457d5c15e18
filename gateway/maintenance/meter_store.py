"""The meters' persistence: the state store's ``meters`` and ``meter_days`` rows.

:class:`MeterStore` adds to the records (:mod:`gateway.maintenance.meter_record`) what
reads and writes the store: :meth:`MeterStore.load` (every meter, and which fields have day
rows), :meth:`MeterStore.save` (what changed since the last save, :data:`SAVE_BATCH` rows
a statement in one transaction), a day's stored rows read once into the running rows
(``_load_day``), the stored row of an earlier day a late reading adds to (``_apart``) and
:meth:`MeterStore.daily` (the store's day rows and those in memory).

Lifecycle: the maintenance service calls ``load`` once after it builds the site's
:class:`gateway.maintenance.meters.Meters`, ``save`` every minute of gateway time and when
it closes; the other reads happen when readings (a new day, a late reading), the service
and the scheduler (``daily``) ask for them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import chain, islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.maintenance.meter_record import (
    _DAYS,
    _DIRTY,
    _NAMES,
    _NO_FIELDS,
    _ROW,
    Day,
    MeterRecords,
    _shared,
)
from gateway.store import models as m

#: rows written per statement by :meth:`MeterStore.save` (one transaction for all)
SAVE_BATCH = 2000


class MeterStore(MeterRecords):
    """The records of :class:`MeterRecords`, read from and written to the state store."""

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
