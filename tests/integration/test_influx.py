"""The sinks against real servers: InfluxDB 1.x (``influxd``) and VictoriaMetrics (v2 write).

Fixtures come from ``tests/fixtures/influx.py``; they skip only when a binary is missing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid

import httpx
import pytest

from gateway.metrics import Metrics
from gateway.sinks.base import QueryNotSupported
from gateway.sinks.influx_v1 import InfluxV1Sink
from gateway.sinks.influx_v2 import InfluxV2Sink
from rules.model import Event, Telemetry, Value

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z: readings from the past, at device time


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def influxql(url: str, db: str, q: str) -> dict:
    r = httpx.get(f"{url}/query", params={"db": db, "q": q, "epoch": "ns"}, timeout=10)
    r.raise_for_status()
    body = r.json()
    assert "error" not in body["results"][0], body
    return body


def series(body: dict) -> list[dict]:
    return body["results"][0].get("series", [])


def v1_sink(url: str, db: str, metrics: Metrics | None = None, **kw: object) -> InfluxV1Sink:
    opts: dict = dict(batch_size=100, flush_interval=0.05, retry_initial_s=0.05, retry_max_s=0.5)
    opts.update(kw)
    return InfluxV1Sink(url, db, metrics or Metrics(), **opts)


def newdb() -> str:
    return "t_" + uuid.uuid4().hex[:12]


async def test_points_land_at_device_time_with_float_fields(influx_url: str) -> None:
    db = newdb()
    sink = v1_sink(influx_url, db)
    await sink.start()
    sink.submit(
        Telemetry(
            "sc01",
            "hvac",
            "ahu-1",
            T0,
            {"zone_temp": 21, "setpoint": 21.5, "fan": True, "mode": "auto"},
            T0 + 5000,
            zone="lobby",
        ),
        1,
    )
    sink.submit(Telemetry("sc01", "hvac", "ahu-1", T0 + 1000, {"zone_temp": 22.25}, T0), 2)
    sink.submit(Telemetry("sc01", "lighting", "lt-1", T0 + 7, {"on": False, "level": 0}, T0), 3)
    sink.submit(Event("sc01", "fire", "fp-1", T0 + 9, "fire_alarm", T0, point="det 3"), 4)
    await asyncio.wait_for(sink.flush(), 10)
    assert sink.durable_seq == 4

    fields = {
        tuple(v)
        for v in series(influxql(influx_url, db, 'SHOW FIELD KEYS FROM "hvac"'))[0]["values"]
    }
    assert fields == {
        ("zone_temp", "float"),
        ("setpoint", "float"),
        ("fan", "boolean"),
        ("mode", "string"),
    }

    (hvac,) = series(influxql(influx_url, db, 'SELECT * FROM "hvac" ORDER BY time'))
    rows = [dict(zip(hvac["columns"], v, strict=True)) for v in hvac["values"]]
    assert [r["time"] for r in rows] == [T0 * 1_000_000, (T0 + 1000) * 1_000_000]
    assert rows[0]["zone_temp"] == 21 and rows[0]["fan"] is True and rows[0]["mode"] == "auto"
    assert (rows[0]["device"], rows[0]["site"], rows[0]["zone"]) == ("ahu-1", "sc01", "lobby")
    assert rows[1]["zone"] is None

    (ev,) = series(influxql(influx_url, db, 'SELECT * FROM "events"'))
    evrow = dict(zip(ev["columns"], ev["values"][0], strict=True))
    assert evrow["count"] == 1 and evrow["type"] == "fire_alarm" and evrow["point"] == "det 3"
    assert evrow["system"] == "fire" and evrow["time"] == (T0 + 9) * 1_000_000

    got = await sink.query("ahu-1", None, None, None)
    assert got == [
        {"ts": T0, "field": "fan", "value": True},
        {"ts": T0, "field": "mode", "value": "auto"},
        {"ts": T0, "field": "setpoint", "value": 21.5},
        {"ts": T0, "field": "zone_temp", "value": 21.0},
        {"ts": T0 + 1000, "field": "zone_temp", "value": 22.25},
    ]
    assert all(type(g["value"]) is float for g in got if g["field"] == "zone_temp")
    assert await sink.query("ahu-1", "zone_temp", T0 + 1, T0 + 1000) == [got[-1]]
    assert await sink.query("lt-1", None, None, None, limit=1) == [
        {"ts": T0 + 7, "field": "on", "value": False}
    ]
    await sink.stop()


async def test_awkward_names_round_trip(influx_url: str) -> None:
    db = newdb()
    sink = v1_sink(influx_url, db)
    await sink.start()
    zone = 'floor 1,east=x "quoted" ü'
    values: dict[str, Value] = {"a b,c=d": 1.5, 'key "q"': 'say "hi" \\ back\\slash', "ключ": 2}
    sink.submit(Telemetry("sc01", "hvac", "ahu-9", T0, values, T0, zone=zone), 1)
    await asyncio.wait_for(sink.flush(), 10)
    (s,) = series(influxql(influx_url, db, 'SELECT * FROM "hvac"'))
    row = dict(zip(s["columns"], s["values"][0], strict=True))
    assert row["zone"] == zone
    assert row["a b,c=d"] == 1.5 and row["ключ"] == 2
    assert row['key "q"'] == 'say "hi" \\ back\\slash'
    await sink.stop()


async def test_type_conflict_mid_batch_dead_letters_only_bad_points(influx_url: str) -> None:
    db = newdb()
    metrics = Metrics()
    sink = v1_sink(influx_url, db, metrics, batch_size=1000, flush_interval=5.0)
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    sink.submit(Telemetry("sc01", "lighting", "lt-0", T0, {"on": True}, T0), 0)
    await asyncio.wait_for(sink.flush(), 10)  # `on` is now a boolean field

    bad = {10, 20}
    for i in range(1, 31):
        value: Value = 1 if i in bad else (i % 2 == 0)  # a number where a bool is stored
        sink.submit(
            Telemetry("sc01", "lighting", f"lt-{i}", T0 + i, {"on": value, "level": 50}, T0), i
        )
    await asyncio.wait_for(sink.flush(), 20)
    assert sink.durable_seq == 30
    # only the conflicting field is refused: the reading's `level` is stored (issue 10)
    assert sorted(line for line, _ in rejected) == sorted(
        f"lighting,device=lt-{i},site=sc01 on=1.0 {(T0 + i) * 1_000_000}" for i in bad
    )
    assert all("field type conflict" in reason for _, reason in rejected)
    (s,) = series(influxql(influx_url, db, 'SELECT count("on") FROM "lighting"'))
    assert s["values"][0][1] == 29
    (s,) = series(influxql(influx_url, db, 'SELECT count("level") FROM "lighting"'))
    assert s["values"][0][1] == 30
    assert metrics.registry.get_sample_value("sitewatch_points_rejected_total") == 2
    await sink.stop()


async def test_nothing_lost_across_influxd_kill_and_restart(influx_server) -> None:
    db = newdb()
    metrics = Metrics()
    sink = v1_sink(influx_server.url, db, metrics, batch_size=200, max_buffer=100_000)
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    durable: list[int] = []
    sink.on_durable = durable.append
    await sink.start()
    n = 3000
    for i in range(n):
        sink.submit(
            Telemetry("sc01", "hvac", f"ahu-{i % 7}", T0 + i, {"zone_temp": 20 + i / 100}, T0), i
        )
        if i % 100 == 99:
            await asyncio.sleep(0.01)
        if i == 1000:
            await asyncio.to_thread(influx_server.stop, signal.SIGKILL)
        if i == 2000:
            await asyncio.sleep(0.5)  # still down: retries keep failing, points keep buffering
            assert sink.durable_seq <= 1000  # nothing claimed durable while the store is down
            assert sink.buffered_points >= 999
            await asyncio.to_thread(influx_server.start)
    await asyncio.wait_for(sink.flush(), 60)
    assert sink.durable_seq == n - 1 and durable == sorted(durable)
    assert rejected == []
    assert (
        metrics.registry.get_sample_value(
            "sitewatch_sink_write_errors_total", {"kind": "connection"}
        )
        or 0
    ) > 0
    (s,) = series(influxql(influx_server.url, db, 'SELECT count("zone_temp") FROM "hvac"'))
    assert s["values"][0][1] == n
    await sink.stop()


async def test_v2_write_api_on_victoriametrics(victoria_url: str) -> None:
    sink = InfluxV2Sink(
        victoria_url, "sitewatch", Metrics(), token="t", org="o", batch_size=50, flush_interval=0.05
    )
    await sink.start()
    device = "ahu-" + uuid.uuid4().hex[:8]
    for i in range(10):
        sink.submit(
            Telemetry(
                "sc01",
                "hvac",
                device,
                T0 + i * 1000,
                {"zone_temp": 20 + i, "fan": i % 2 == 0},
                T0,
                zone="z1",
            ),
            i,
        )
    sink.submit(Event("sc01", "access", device, T0 + 500, "door_forced", T0), 10)
    await asyncio.wait_for(sink.flush(), 10)
    assert sink.durable_seq == 10

    async with httpx.AsyncClient(base_url=victoria_url, timeout=10) as http:
        await http.get("/internal/force_flush")
        r = await http.post("/api/v1/export", data={"match[]": f'{{device="{device}"}}'})
        r.raise_for_status()
    got = {}
    for line in r.text.splitlines():
        item = json.loads(line)
        got[item["metric"]["__name__"]] = item
    assert set(got) == {"hvac_zone_temp", "hvac_fan", "events_count"}
    zt = got["hvac_zone_temp"]
    assert zt["metric"] == {
        "__name__": "hvac_zone_temp",
        "device": device,
        "site": "sc01",
        "zone": "z1",
    }
    assert zt["timestamps"] == [T0 + i * 1000 for i in range(10)]
    assert zt["values"] == [20.0 + i for i in range(10)]
    assert got["hvac_fan"]["values"] == [1, 0] * 5
    ev = got["events_count"]
    assert ev["metric"]["type"] == "door_forced" and ev["metric"]["system"] == "access"
    assert ev["timestamps"] == [T0 + 500] and ev["values"] == [1]

    with pytest.raises(QueryNotSupported):  # VictoriaMetrics has no Flux
        await sink.query(device, None, None, None)
    await sink.stop()
