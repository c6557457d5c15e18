"""Energy at 10,000 devices: how long the trapezoid rule (gateway.figures.energy) takes
in the gateway, how long the embedded store takes to hand over the readings, and how long
the roll-up (gateway.figures.rollup) takes to keep and to answer.

    .venv/bin/python -m bench.energy_10k [--devices 10000] [--minutes 60] [--raw]

Prints readings/s of :func:`integrate` (hourly buckets); the roll-up's cost per reading
on the hot path and of writing its sums to a SQLite state store; the answers through
``EnergyReader.series`` / ``total`` from the roll-up: the measured hour by device and
zone, a whole month (July, its day and month rows written as the roll-up writes them)
by device, zone and system per day and month, and the month to date; for the month per
day by device also what the API adds (ISO times, rounding, JSON body). ``--raw`` also
times reading the points back out of an embedded SQLite store through
``EmbeddedSink.query`` (one query per device, as ``EnergyReader`` does without the
roll-up) and the same sum as an SQL window. Nothing is kept: the stores are temporary.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.clock import ManualClock, iso_ms
from gateway.figures.energy import EnergyReader, integrate
from gateway.figures.rollup import FLUSH_BATCH, EnergyRollup
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink
from gateway.store import make_engine, migrate
from gateway.store.models_energy import energy_rollup
from rules.model import Telemetry
from rules.site import Site

T0 = 1_785_686_400_000  # 2026-08-03 00:00 Asia/Shanghai
JULY = 1_782_835_200_000  # 2026-07-01 00:00 Asia/Shanghai
MIN = 60_000
DAY = 86_400_000


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


def big_site(devices: int) -> Site:
    zones = [{"id": f"z{z:02d}", "name": f"Zone {z}"} for z in range(20)]
    devs = [
        {
            "id": f"d{d:05d}",
            "system": "lighting" if d % 4 else "hvac",
            "type": "lighting_circuit" if d % 4 else "fcu",
            "zone": f"z{d % 20:02d}",
            "interval_s": 60,
        }
        for d in range(devices)
    ]
    return Site.model_validate(
        {"site": "b1", "name": "Bench", "timezone": "Asia/Shanghai", "zones": zones,
         "devices": devs}
    )  # fmt: skip


def month_rows(site: Site, start: int, days: int) -> list[dict]:
    """Day and month rows of ``days`` whole days from ``start`` (a month's start), as
    the roll-up writes them: 0.5-1.5 kWh an hour per device."""
    rng = random.Random(3)
    rows = []
    for d in site.devices:
        total = 0.0
        for i in range(days):
            kwh = rng.uniform(12, 36)
            total += kwh
            rows.append({"span": "d", "start_ms": start + i * DAY, "device": d.id, "kwh": kwh,
                         "covered_ms": DAY, "last_ts_ms": None, "last_kw": None})  # fmt: skip
        rows.append({"span": "m", "start_ms": start, "device": d.id, "kwh": total,
                     "covered_ms": days * DAY, "last_ts_ms": None, "last_kw": None})  # fmt: skip
    return rows


async def timed(label: str, coro: Any) -> Any:
    t = time.perf_counter()
    out = await coro
    s = time.perf_counter() - t
    n = len(out) if isinstance(out, list) else 1
    print(f"  {label}: {s:.3f} s ({n} items)")
    return out


async def bench_rollup(devices: int, minutes: int) -> None:
    site = big_site(devices)
    rng = random.Random(1)
    msgs = [
        Telemetry("b1", str(d.system), d.id, T0 + i * MIN + rng.randint(-2000, 2000),
                  {"power_w" if d.system == "lighting" else "power_kw":
                   rng.uniform(300, 1500) if d.system == "lighting" else rng.uniform(0.3, 1.5)},
                  T0 + i * MIN)
        for i in range(minutes + 1)
        for d in site.devices
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        eng = make_engine(f"sqlite:///{tmp}/state.db")
        migrate(eng)
        clock = ManualClock(JULY / 1000 - 3600)
        rollup = EnergyRollup(site, eng, clock)
        rollup.restore()
        t = time.perf_counter()
        for m in msgs:
            rollup(m)
        s = time.perf_counter() - t
        print(f"roll-up on the hot path: {len(msgs)} readings in {s:.3f} s "
              f"({s / len(msgs) * 1e6:.2f} us a reading)")  # fmt: skip
        t = time.perf_counter()
        n = rollup.flush()
        s = time.perf_counter() - t
        print(
            f"roll-up write: {n} hour sums (x3 rows: hour, day, month) in {s:.3f} s "
            f"({s / max(1, n // FLUSH_BATCH) * 1000:.0f} ms per {FLUSH_BATCH}-sum transaction)"
        )
        with eng.begin() as conn:
            conn.execute(sa.insert(energy_rollup), month_rows(site, JULY, 31))
        # one more minute of readings, not yet written: answers add what waits in memory
        for m in msgs[-devices:]:
            m.ts_ms += MIN
            rollup(m)
        clock.advance((T0 + (minutes + 2) * MIN - clock.now_ms()) / 1000)
        reader = EnergyReader(site, _NoRaw(), clock, rollup=rollup)
        print("answers from the roll-up (EnergyReader with rollup=):")
        hour = (T0, T0 + 3_600_000)
        await timed("the hour by device, 1h", reader.series(*hour, "device", "1h"))
        await timed("the hour by zone, 1h", reader.series(*hour, "zone", "1h"))
        july = (JULY, JULY + 31 * DAY)
        await timed("July by device, 1mo", reader.series(*july, "device", "1mo"))
        per_day = await timed("July by device, 1d", reader.series(*july, "device", "1d"))
        shape(per_day)
        await timed("July by zone, 1d", reader.series(*july, "zone", "1d"))
        await timed("July by system, 1d", reader.series(*july, "system", "1d"))
        await timed("July lighting total (scorecard)", reader.total(*july, "lighting"))
        mtd = (T0 - 2 * DAY, T0 + 3_600_000)
        await timed(
            "August to date (2 days + 1 h) by zone, 1mo", reader.series(*mtd, "zone", "1mo")
        )
        eng.dispose()


def shape(rows: list[dict]) -> None:
    """What the API adds to an answer (``FiguresService.energy``: ISO times, rounding)
    and its JSON body, timed apart from the answer itself."""
    t = time.perf_counter()
    items = [
        {"key": r["key"], "start": iso_ms(r["start"]), "kwh": round(r["kwh"], 4)} for r in rows
    ]
    s = time.perf_counter() - t
    t = time.perf_counter()
    body = orjson.dumps({"items": items, "total": len(items)})
    print(
        f"    then the API's shaping (ISO times, rounding) {s:.3f} s, "
        f"its JSON ({len(body) / 1e6:.1f} MB) {time.perf_counter() - t:.3f} s"
    )


class _NoRaw:
    """The raw readings: never read when the roll-up answers."""

    async def query(self, *a: Any, **k: Any) -> list[dict]:
        raise AssertionError("the roll-up should have answered")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--raw", action="store_true", help="also time the raw-reading path")
    a = ap.parse_args()
    n = a.devices * a.minutes
    s = bench_integrate(a.devices, a.minutes)
    print(f"integrate: {n} readings of {a.devices} devices in {s:.3f} s ({n / s:,.0f}/s)")
    asyncio.run(bench_rollup(a.devices, a.minutes))
    if a.raw:
        s = asyncio.run(bench_store(a.devices, a.minutes))
        print(f"embedded store: {n} readings read back in {s:.3f} s ({n / s:,.0f}/s)")


if __name__ == "__main__":
    main()
