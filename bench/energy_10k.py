"""Energy at 10,000 devices: how long the trapezoid rule (gateway.figures.energy) takes
in the gateway, and how long the embedded store takes to hand over the readings.

    .venv/bin/python bench/energy_10k.py [--devices 10000] [--minutes 60]

Prints readings/s of :func:`integrate` (hourly buckets) and of reading the points back
out of an embedded SQLite store through ``EmbeddedSink.query`` (one query per device, as
``EnergyReader`` does). Nothing is kept: the store is a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from gateway.clock import ManualClock
from gateway.figures.energy import integrate
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink

T0 = 1_785_686_400_000
MIN = 60_000


#: the trapezoid with the gap rule in the embedded store's SQL (for comparison only: it
#: does not cut steps at bucket edges)
SQL = """
SELECT device, SUM(CASE WHEN dt > 0 AND dt <= 90000 THEN (value + pv) * dt ELSE 0 END)
       / 7200000.0 / 1000.0
FROM (SELECT device, value, ts_ms - LAG(ts_ms) OVER w AS dt, LAG(value) OVER w AS pv
      FROM telemetry WHERE field = 'power_w' AND ts_ms >= ? AND ts_ms <= ?
      WINDOW w AS (PARTITION BY device ORDER BY ts_ms))
GROUP BY device
"""


def points(minutes: int, rng: random.Random) -> list[tuple[int, float]]:
    return [
        (T0 + i * MIN + rng.randint(-2000, 2000), rng.uniform(0.3, 1.5)) for i in range(minutes)
    ]


def bench_integrate(devices: int, minutes: int) -> float:
    rng = random.Random(1)
    data = [points(minutes, rng) for _ in range(devices)]
    edges = [(T0 + h * 3_600_000, T0 + (h + 1) * 3_600_000) for h in range(max(1, minutes // 60))]
    t = time.perf_counter()
    total = 0.0
    for pts in data:
        total += integrate(pts, 90_000, edges).total_kwh
    return time.perf_counter() - t


async def bench_store(devices: int, minutes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.db"
        conn = sqlite3.connect(path)
        conn.executescript(
            "CREATE TABLE telemetry (device TEXT NOT NULL, field TEXT NOT NULL, ts_ms INTEGER"
            " NOT NULL, value, PRIMARY KEY (device, field, ts_ms)) WITHOUT ROWID;"
        )
        rng = random.Random(2)
        conn.executemany(
            "INSERT INTO telemetry VALUES (?, 'power_w', ?, ?)",
            (
                (f"d{d:05d}", T0 + i * MIN, rng.uniform(300, 1500))
                for d in range(devices)
                for i in range(minutes)
            ),
        )
        conn.commit()
        conn.close()
        conn = sqlite3.connect(path)
        t = time.perf_counter()
        rows = conn.execute(SQL, (T0, T0 + minutes * MIN)).fetchall()
        sql_s = time.perf_counter() - t
        t = time.perf_counter()
        bulk = conn.execute(
            "SELECT device, ts_ms, value FROM telemetry WHERE field = 'power_w'"
            " AND ts_ms >= ? AND ts_ms <= ?",
            (T0, T0 + minutes * MIN),
        ).fetchall()
        bulk_s = time.perf_counter() - t
        conn.close()
        print(f"one range read of every device's points ({len(bulk)} rows): {bulk_s:.3f} s")
        print(f"SQL window (one query, {len(rows)} devices, no bucket cuts): {sql_s:.3f} s")
        clock = ManualClock(T0 / 1000 + 3600)
        sink = EmbeddedSink(path, Metrics(), clock, retention_days=3650)
        await sink.start()
        try:
            t = time.perf_counter()
            for d in range(devices):
                await sink.query(f"d{d:05d}", "power_w", T0, T0 + minutes * MIN, 200_000)
            return time.perf_counter() - t
        finally:
            await sink.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=60)
    a = ap.parse_args()
    n = a.devices * a.minutes
    s = bench_integrate(a.devices, a.minutes)
    print(f"integrate: {n} readings of {a.devices} devices in {s:.3f} s ({n / s:,.0f}/s)")
    s = asyncio.run(bench_store(a.devices, a.minutes))
    print(f"embedded store: {n} readings read back in {s:.3f} s ({n / s:,.0f}/s)")


if __name__ == "__main__":
    main()
