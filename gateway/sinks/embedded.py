"""Embedded time-series store on SQLite, for the demo (no InfluxDB URL set).

Tables (one SQLite file, WAL, ``synchronous=FULL`` so "durable" means on disk):

* ``readings(device, ts_ms, fields)``, primary key ``(device, ts_ms)``: one row a
  reading, its values a JSON object (numbers as floats, as in InfluxDB; ``true``/``false``;
  strings). A reading of the same device and time merges into the row (``json_patch``):
  a redelivered message overwrites its values instead of duplicating them, and two
  messages stamped alike keep both their fields, as InfluxDB keeps one series' point;
* ``telemetry(device, field, ts_ms, value)``: a view of one row a value (booleans as 1/0),
  for SQL by hand and the files of earlier versions' shape;
* ``events(device, ts_ms, type, point, system, site, zone, attrs)``, primary key
  ``(device, ts_ms, type, point)``.

One row a reading rather than one a value: a reading of four values is one insert into two
B-trees instead of four into three. For a hundred devices (``python -m bench.embedded_store``)
that stored 105,000 readings/s at 9 µs of CPU each and 117 B on disk, against 14,000/s,
66 µs and 412 B for one row a value (4.9x the rate at the same 1,250 readings a batch).
A file of the earlier shape (a ``telemetry`` table) is converted when the store opens it
(2,000,000 values of 100 devices: 8.9 s, once; the pages it frees are reused, not returned).

Retention: readings older than ``retention_days`` (by the readings' own ts, against the
gateway clock) are deleted, and past ``max_readings`` readings the oldest go; the sweep
runs after a write at most every ``sweep_interval_s``. A backfilled reading older than the
retention window is therefore stored and then swept.

All SQLite work runs on one dedicated thread (a single-worker executor that owns the
connection), so the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from gateway.clock import Clock, SystemClock
from gateway.metrics import Metrics
from gateway.sinks.base import QueryFailed, WriteRetry, describe
from gateway.sinks.buffered import BufferedSink
from rules.model import Event, Telemetry

log = logging.getLogger("gateway.sinks.embedded")

DEFAULT_PATH = "./sitewatch-telemetry.db"

# a point: ("t", device, ts_ms, fields_json) or ("e", device, ts_ms, type, point, system,
# site, zone, attrs_json)
Row = tuple[Any, ...]

_READINGS = """
CREATE TABLE IF NOT EXISTS readings (
    device TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (device, ts_ms)
) WITHOUT ROWID
"""

_SCHEMA = f"""
{_READINGS};
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_ms);
CREATE VIEW IF NOT EXISTS telemetry (device, field, ts_ms, value) AS
    SELECT r.device, j.key, r.ts_ms, j.value FROM readings AS r, json_each(r.fields) AS j;
CREATE TABLE IF NOT EXISTS events (
    device TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    type TEXT NOT NULL,
    point TEXT NOT NULL DEFAULT '',
    system TEXT,
    site TEXT,
    zone TEXT,
    attrs TEXT,
    PRIMARY KEY (device, ts_ms, type, point)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_ts ON events (ts_ms);
"""

# a file of the earlier shape: one row a value, booleans as INTEGER 0/1 (every number was
# a float), into one row a reading
_CONVERT = """
INSERT INTO readings (device, ts_ms, fields)
SELECT device, ts_ms, json_group_object(
    field,
    CASE typeof(value) WHEN 'integer' THEN json(CASE WHEN value THEN 'true' ELSE 'false' END)
    ELSE value END)
FROM telemetry GROUP BY device, ts_ms;
"""

_INSERT = (
    "INSERT INTO readings (device, ts_ms, fields) VALUES (?, ?, ?)"
    " ON CONFLICT (device, ts_ms) DO UPDATE SET fields = json_patch(fields, excluded.fields)"
)


def _dumps(values: dict[str, float | bool | str]) -> str:
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # what orjson refuses (a lone surrogate): the standard encoder
        return json.dumps(values)


def _loads(text: str) -> dict[str, Any]:
    try:
        out: dict[str, Any] = orjson.loads(text)
    except orjson.JSONDecodeError:
        out = json.loads(text)
    return out


def _store_value(v: object) -> float | bool | str:
    """The stored form of a value; raises ValueError with the reason."""
    tv = type(v)
    if tv is float:  # the usual value, kept as it is
        if not math.isfinite(v):  # type: ignore[arg-type]
            raise ValueError(f"not a finite number: {v!r}")
        return v  # type: ignore[return-value]
    if tv is bool or isinstance(v, bool):
        return bool(v)
    if tv is int or isinstance(v, int | float):
        try:
            f = float(v)  # type: ignore[arg-type]
        except OverflowError:
            raise ValueError("integer too large for a float") from None
        if not math.isfinite(f):
            raise ValueError(f"not a finite number: {v!r}")
        return f
    if isinstance(v, str):
        return str(v)
    raise ValueError(f"unsupported value type {tv.__name__}")


class EmbeddedSink(BufferedSink[Row]):
    def __init__(
        self,
        path: str | Path,
        metrics: Metrics,
        clock: Clock | None = None,
        *,
        retention_days: float = 7.0,
        max_readings: int = 5_000_000,
        sweep_interval_s: float = 60.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_in_flight", 1)  # one SQLite writer anyway
        super().__init__(metrics, **kwargs)
        self.path = str(path) if str(path) else DEFAULT_PATH
        self.clock: Clock = clock or SystemClock()
        self.retention_ms = int(retention_days * 86_400_000)
        self.max_readings = max_readings
        self.sweep_interval_s = sweep_interval_s
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._last_sweep = float("-inf")

    # -- thread plumbing ----------------------------------------------------------------
    async def _run_db(self, fn: Any, *args: Any) -> Any:
        if self._executor is None:
            raise RuntimeError("sink not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database not open")
        return self._conn

    def _open_db(self) -> None:
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        old = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telemetry'"
        ).fetchone()
        if old:
            n = conn.execute("SELECT count(*) FROM telemetry").fetchone()[0]
            log.info("embedded store: converting %d values to one row a reading (once)", n)
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(_READINGS)
                conn.execute(_CONVERT)
                conn.execute("DROP TABLE telemetry")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("embedded store: %d values converted", n)
        conn.executescript(_SCHEMA)
        self._conn = conn

    def _close_db(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._conn.close()
            self._conn = None

    async def _open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sitewatch-tsdb")
        await self._run_db(self._open_db)

    async def _close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._run_db(self._close_db)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- points -------------------------------------------------------------------------
    def _encode(self, msg: Telemetry | Event, refused: list[tuple[str, str]]) -> list[Row]:
        if isinstance(msg, Event):
            attrs: dict[str, Any] = {}
            for k, v in msg.attrs.items():
                try:
                    attrs[k] = _store_value(v)
                except ValueError as exc:
                    refused.append((f"{msg.device} {k}={v!r}"[:300], str(exc)))
            return [
                (
                    "e",
                    msg.device,
                    msg.ts_ms,
                    msg.type,
                    msg.point or "",
                    msg.system,
                    msg.site,
                    msg.zone,
                    json.dumps(attrs) if attrs else None,
                )
            ]
        dev = msg.device
        values: dict[str, float | bool | str] = {}
        for k, v in msg.values.items():
            if not k:
                refused.append((f"{dev} {k!r}", "empty field key"))
                continue
            try:
                values[k] = _store_value(v)
            except ValueError as exc:
                refused.append((f"{dev} {k}={v!r}"[:300], str(exc)))
        if values:
            return [("t", dev, msg.ts_ms, _dumps(values))]
        if not refused:
            refused.append((describe(msg), f"{dev}: no fields"))
        return []

    def _describe(self, point: Row) -> str:
        if point[0] == "t":
            return f"{point[1]} {point[3]} ts={point[2]}"
        return f"{point[1]} event {point[3]} ts={point[2]}"

    def _write_rows(self, points: list[Row]) -> None:
        conn = self._db()
        telemetry = [p[1:] for p in points if p[0] == "t"]
        events = [p[1:] for p in points if p[0] == "e"]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if telemetry:
                conn.executemany(_INSERT, telemetry)
            if events:
                conn.executemany(
                    "INSERT OR REPLACE INTO events"
                    " (device, ts_ms, type, point, system, site, zone, attrs)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    events,
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        now = time.monotonic()
        if now - self._last_sweep >= self.sweep_interval_s:
            self._last_sweep = now
            self._sweep(conn)

    def _sweep(self, conn: sqlite3.Connection) -> None:
        cutoff = self.clock.now_ms() - self.retention_ms
        n = conn.execute("DELETE FROM readings WHERE ts_ms < ?", (cutoff,)).rowcount
        n += conn.execute("DELETE FROM events WHERE ts_ms < ?", (cutoff,)).rowcount
        (count,) = conn.execute("SELECT count(*) FROM readings").fetchone()
        excess = count - self.max_readings
        if excess > 0:
            n += conn.execute(
                "DELETE FROM readings WHERE ts_ms <= "
                "(SELECT ts_ms FROM readings ORDER BY ts_ms LIMIT 1 OFFSET ?)",
                (excess - 1,),
            ).rowcount
        if n:
            log.info("embedded store: retention removed %d rows", n)

    async def sweep(self) -> None:
        """Apply retention now (it also runs by itself after writes)."""
        await self._run_db(lambda: self._sweep(self._db()))

    async def _write(self, points: list[Row]) -> None:
        try:
            await self._run_db(self._write_rows, points)
        except sqlite3.Error as exc:  # disk full, locked, I/O error: keep and retry
            raise WriteRetry("sqlite", f"{type(exc).__name__}: {exc}") from None

    # -- query --------------------------------------------------------------------------
    def _query_rows(
        self, device: str, field: str | None, start_ms: int | None, end_ms: int | None, limit: int
    ) -> list[dict]:
        """The latest ``limit`` values (of ``field``, or all), sorted by (ts, field)."""
        sql = "SELECT ts_ms, fields FROM readings WHERE device = ?"
        args: list[Any] = [device]
        if field:
            sql += " AND EXISTS (SELECT 1 FROM json_each(fields) WHERE key = ?)"
            args.append(field)
        if start_ms is not None:
            sql += " AND ts_ms >= ?"
            args.append(int(start_ms))
        if end_ms is not None:
            sql += " AND ts_ms <= ?"
            args.append(int(end_ms))
        sql += " ORDER BY ts_ms DESC"
        limit = max(1, int(limit))
        out: list[dict] = []
        for ts, text in self._db().execute(sql, args):  # newest first, until limit
            values = _loads(text)
            if field:
                out.append({"ts": ts, "field": field, "value": values[field]})
            else:
                for f in sorted(values, reverse=True):
                    out.append({"ts": ts, "field": f, "value": values[f]})
                    if len(out) >= limit:
                        break
            if len(out) >= limit:
                break
        out.reverse()
        return out

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]:
        try:
            result: list[dict] = await self._run_db(
                self._query_rows, device, field, start_ms, end_ms, limit
            )
        except sqlite3.Error as exc:
            raise QueryFailed(f"embedded store: {exc}") from None
        except RuntimeError as exc:
            raise QueryFailed(f"embedded store: {exc}") from None
        return result

    async def count_rows(self) -> int:
        """Telemetry values stored (for tests)."""
        (n,) = await self._run_db(
            lambda: self._db().execute("SELECT count(*) FROM telemetry").fetchone()
        )
        return int(n)
