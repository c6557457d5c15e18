"""Energy at 10,000 devices: how long the trapezoid rule (gateway.figures.energy) takes
in the gateway, how long the embedded store takes to hand over the readings, and how long
the roll-up (gateway.figures.rollup) takes to keep and to answer.

    .venv/bin/python -m bench.energy_10k [--devices 10000] [--minutes 60] [--repeats 3]
                                         [--raw]

Prints readings/s of :func:`integrate` (hourly buckets); the roll-up's cost per reading
on the hot path and of writing its sums (per device, zone and system) to a SQLite state
store; then a whole month (July: 744 hour rows, 31 day rows and a month row per device,
and their zone and system sums, as the roll-up writes them) answered for every grouping
(zone, system, device) and step (1h, 1d, 1mo), each ``--repeats`` times, through
``EnergyReader.series`` and through ``GET /api/v1/energy`` (the app in process, over
httpx's ASGI transport: routing, checks, shaping, JSON body); a month per hour by device
(7,440,000 items) is refused (422) and timed as such, the largest answer allowed in its
place (2 days per hour by device: 480,000 items) timed instead; by zone and system also
from the device rows (where the zone rows do not answer yet: the month after migration
0012 or after a device moved). The load average is printed before and after. ``--raw``
also times reading the points back out of an embedded SQLite store through
``EmbeddedSink.query`` (one query per device, as ``EnergyReader`` does without the
roll-up) and the same sum as an SQL window. Nothing is kept: the stores are temporary.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.clock import ManualClock
from gateway.figures.energy import EnergyReader, integrate
from gateway.figures.rollup import FLUSH_BATCH, EnergyRollup
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink
from gateway.store import make_engine, migrate
from rules.model import Telemetry
from rules.site import Site

T0 = 1_785_686_400_000  # 2026-08-03 00:00 Asia/Shanghai
JULY = 1_782_835_200_000  # 2026-07-01 00:00 Asia/Shanghai
MIN = 60_000
H = 3_600_000
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


def write_month(path: str, site: Site, start: int, days: int) -> None:
    """Hour, day and month rows of every device for ``days`` whole days from ``start``
    (a site-local month start in a zone without daylight saving), 0.5-1.5 kWh an hour,
    and their zone and system sums: what the roll-up writes, written by SQL in one
    transaction (the roll-up's own writes are timed above)."""
    end = start + days * DAY
    c = sqlite3.connect(path)
    c.execute("CREATE TEMP TABLE devs (device TEXT PRIMARY KEY, zone TEXT, system TEXT)")
    c.executemany(
        "INSERT INTO devs VALUES (?, ?, ?)", [(d.id, d.zone, str(d.system)) for d in site.devices]
    )
    c.execute(
        "INSERT INTO energy_rollup (span, start_ms, device, kwh, covered_ms) "
        "WITH RECURSIVE hrs(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM hrs "
        f"WHERE i < {days * 24 - 1}) "
        f"SELECT 'h', {start} + i * {H}, device, 0.5 + (abs(random()) % 1000000) / 1e6, {H} "
        "FROM hrs CROSS JOIN devs ORDER BY 2, 3"
    )  # fmt: skip
    c.execute(
        "INSERT INTO energy_rollup (span, start_ms, device, kwh, covered_ms) "
        f"SELECT 'd', {start} + ((start_ms - {start}) / {DAY}) * {DAY}, device, SUM(kwh), "
        "SUM(covered_ms) FROM energy_rollup "
        f"WHERE span = 'h' AND start_ms >= {start} AND start_ms < {end} "
        "GROUP BY 2, 3"
    )  # fmt: skip
    c.execute(
        "INSERT INTO energy_rollup (span, start_ms, device, kwh, covered_ms) "
        f"SELECT 'm', {start}, device, SUM(kwh), SUM(covered_ms) FROM energy_rollup "
        f"WHERE span = 'd' AND start_ms >= {start} AND start_ms < {end} GROUP BY 3"
    )  # fmt: skip
    for col in ("zone", "system"):
        c.execute(
            "INSERT INTO energy_rollup_groups (grouping, span, start_ms, grp, kwh, covered_ms) "
            f"SELECT '{col}', span, start_ms, devs.{col}, SUM(kwh), SUM(covered_ms) "
            "FROM energy_rollup JOIN devs USING (device) "
            f"WHERE start_ms >= {start} AND start_ms < {end} "
            f"GROUP BY span, start_ms, devs.{col}"
        )  # fmt: skip
    c.commit()
    c.close()


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


async def bench_rollup(devices: int, minutes: int, repeats: int) -> None:
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
            f"roll-up write: {n} hour sums (x3 rows: hour, day, month; and their zone and "
            f"system sums) in {s:.3f} s "
            f"({s / max(1, n // FLUSH_BATCH) * 1000:.0f} ms per {FLUSH_BATCH}-sum transaction)"
        )
        # one more minute of readings, not yet written: answers add what waits in memory
        for m in msgs[-devices:]:
            m.ts_ms += MIN
            rollup(m)
        del msgs
        gc.collect()
        t = time.perf_counter()
        write_month(f"{tmp}/state.db", site, JULY, 31)
        print(f"July's rows written ({devices} devices x 744 hours, ...): "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        clock.advance((T0 + (minutes + 2) * MIN - clock.now_ms()) / 1000)
        reader = EnergyReader(site, _NoRaw(), clock, rollup=rollup)
        await answers(site, eng, clock, rollup, reader, repeats)
        eng.dispose()


COMBOS = [(by, step) for step in ("1mo", "1d", "1h") for by in ("zone", "system", "device")]


async def answers(
    site: Site, eng: Any, clock: ManualClock, rollup: EnergyRollup, reader: Any, repeats: int
) -> None:
    """July for every grouping and step: through the reader and over HTTP."""
    import httpx

    from gateway.figures import Figures
    from tests.api.fakes import FakeRuntime, auth, make_app

    rt = FakeRuntime()
    rt.clock, rt.site = clock, site  # type: ignore[assignment]
    rt.db = eng  # type: ignore[attr-defined]
    rt.figures = Figures(site, eng, _NoRaw(), clock, rollup=rollup)  # type: ignore[attr-defined]
    app, _ = make_app(rt)
    july = (JULY, JULY + 31 * DAY)
    first2 = (JULY, JULY + 2 * DAY)
    print(f"July from the roll-up, {repeats} runs each ({load()}):")
    print("| answer | items | body | EnergyReader.series | GET /api/v1/energy |")
    print("|---|---|---|---|---|")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as cl:

        async def one(label: str, span: tuple[int, int], by: str, step: str) -> None:
            url = f"/api/v1/energy?start={span[0]}&end={span[1]}&by={by}&step={step}"
            rs, hs = [], []
            items, size, status = 0, 0, 0
            for _ in range(repeats):
                if by != "device" or step != "1h" or span != july:
                    t = time.perf_counter()
                    out = await reader.series(*span, by, step)
                    rs.append(time.perf_counter() - t)
                    items = len(out)
                    del out
                    gc.collect()
                t = time.perf_counter()
                r = await cl.get(url, headers=auth("viewer"))
                hs.append(time.perf_counter() - t)
                size, status = len(r.content), r.status_code
                del r
                gc.collect()
            body = f"{size / 1e6:.1f} MB" if status == 200 else f"HTTP {status}"
            print(f"| {label} | {items:,} | {body} | {_secs(rs)} | {_secs(hs)} |", flush=True)

        for by, step in COMBOS:
            await one(f"July by {by}, {step}", july, by, step)
        await one("July 1-2 by device, 1h (the largest allowed)", first2, "device", "1h")
        since = rollup.groups.since_ms
        rollup.groups.since_ms = None  # the zone rows not (yet) answering
        for by, step in (("zone", "1h"), ("system", "1h"), ("zone", "1d")):
            await one(f"July by {by}, {step}, from the device rows", july, by, step)
        rollup.groups.since_ms = since
    print(f"({load()})")


def _secs(values: list[float]) -> str:
    return " / ".join(f"{v:.3f}" for v in values) + " s" if values else "-"


class _NoRaw:
    """The raw readings: never read when the roll-up answers."""

    async def query(self, *a: Any, **k: Any) -> list[dict]:
        raise AssertionError("the roll-up should have answered")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--raw", action="store_true", help="also time the raw-reading path")
    a = ap.parse_args()
    n = a.devices * a.minutes
    s = bench_integrate(a.devices, a.minutes)
    print(f"integrate: {n} readings of {a.devices} devices in {s:.3f} s ({n / s:,.0f}/s)")
    asyncio.run(bench_rollup(a.devices, a.minutes, a.repeats))
    if a.raw:
        s = asyncio.run(bench_store(a.devices, a.minutes))
        print(f"embedded store: {n} readings read back in {s:.3f} s ({n / s:,.0f}/s)")


if __name__ == "__main__":
    main()
