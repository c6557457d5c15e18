"""Embedded time-series store on SQLite, for the demo (no InfluxDB URL set).

Tables (one SQLite file, WAL, ``synchronous=FULL`` so "durable" means on disk):

* ``telemetry(device, field, ts_ms, value)``, primary key ``(device, field, ts_ms)``: a
  redelivered message overwrites its rows instead of duplicating them. ``value`` has no
  column type, so SQLite keeps what is stored: numbers as REAL (every number is a float,
  as in InfluxDB), booleans as INTEGER 0/1 (read back as bool), strings as TEXT;
* ``events(device, ts_ms, type, point, system, site, zone, attrs)``, primary key
  ``(device, ts_ms, type, point)``.

Retention: rows older than ``retention_days`` (by the readings' own ts, against the
gateway clock) are deleted, and past ``max_rows`` telemetry rows the oldest go; the sweep
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

from gateway.clock import Clock, SystemClock
from gateway.metrics import Metrics
from gateway.sinks.base import QueryFailed, WriteRetry, describe
from gateway.sinks.buffered import BufferedSink
from rules.model import Event, Telemetry

log = logging.getLogger("gateway.sinks.embedded")

DEFAULT_PATH = "./sitewatch-telemetry.db"

# a point: ("t", device, field, ts_ms, value) or ("e", device, ts_ms, type, point, system,
# site, zone, attrs_json)
Row = tuple[Any, ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS telemetry (
    device TEXT NOT NULL,
    field TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    value,
    PRIMARY KEY (device, field, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS telemetry_device_ts ON telemetry (device, ts_ms);
CREATE INDEX IF NOT EXISTS telemetry_ts ON telemetry (ts_ms);
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


def _store_value(v: object) -> float | int | str:
    """The stored form of a value; raises ValueError with the reason."""
    tv = type(v)
    if tv is bool or isinstance(v, bool):
        return 1 if v else 0
    if tv is float or tv is int or isinstance(v, int | float):
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


def _read_value(v: Any) -> Any:
    return bool(v) if type(v) is int else v


class EmbeddedSink(BufferedSink[Row]):
    def __init__(
        self,
        path: str | Path,
        metrics: Metrics,
        clock: Clock | None = None,
        *,
        retention_days: float = 7.0,
        max_rows: int = 5_000_000,
        sweep_interval_s: float = 60.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("max_in_flight", 1)  # one SQLite writer anyway
        super().__init__(metrics, **kwargs)
        self.path = str(path) if str(path) else DEFAULT_PATH
        self.clock: Clock = clock or SystemClock()
        self.retention_ms = int(retention_days * 86_400_000)
        self.max_rows = max_rows
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
        rows: list[Row] = []
        dev, ts = msg.device, msg.ts_ms
        for k, v in msg.values.items():
            if not k:
                refused.append((f"{dev} {k!r}", "empty field key"))
                continue
            try:
                rows.append(("t", dev, k, ts, _store_value(v)))
            except ValueError as exc:
                refused.append((f"{dev} {k}={v!r}"[:300], str(exc)))
        if not rows and not refused:
            refused.append((describe(msg), f"{dev}: no fields"))
        return rows

    def _describe(self, point: Row) -> str:
        if point[0] == "t":
            return f"{point[1]} {point[2]}={point[4]!r} ts={point[3]}"
        return f"{point[1]} event {point[3]} ts={point[2]}"

    def _write_rows(self, points: list[Row]) -> None:
        conn = self._db()
        telemetry = [p[1:] for p in points if p[0] == "t"]
        events = [p[1:] for p in points if p[0] == "e"]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if telemetry:
                conn.executemany(
                    "INSERT OR REPLACE INTO telemetry (device, field, ts_ms, value)"
                    " VALUES (?, ?, ?, ?)",
                    telemetry,
                )
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
        n = conn.execute("DELETE FROM telemetry WHERE ts_ms < ?", (cutoff,)).rowcount
        n += conn.execute("DELETE FROM events WHERE ts_ms < ?", (cutoff,)).rowcount
        (count,) = conn.execute("SELECT count(*) FROM telemetry").fetchone()
        excess = count - self.max_rows
        if excess > 0:
            n += conn.execute(
                "DELETE FROM telemetry WHERE ts_ms <= "
                "(SELECT ts_ms FROM telemetry ORDER BY ts_ms LIMIT 1 OFFSET ?)",
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
        sql = "SELECT ts_ms, field, value FROM telemetry WHERE device = ?"
        args: list[Any] = [device]
        if field:
            sql += " AND field = ?"
            args.append(field)
        if start_ms is not None:
            sql += " AND ts_ms >= ?"
            args.append(int(start_ms))
        if end_ms is not None:
            sql += " AND ts_ms <= ?"
            args.append(int(end_ms))
        sql += " ORDER BY ts_ms DESC, field DESC LIMIT ?"
        args.append(max(1, int(limit)))
        rows = self._db().execute(sql, args).fetchall()
        rows.reverse()
        return [{"ts": ts, "field": f, "value": _read_value(v)} for ts, f, v in rows]

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
        """Telemetry rows stored (for tests and the health page)."""
        (n,) = await self._run_db(
            lambda: self._db().execute("SELECT count(*) FROM telemetry").fetchone()
        )
        return int(n)
