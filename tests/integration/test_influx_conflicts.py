"""Field type conflicts against a real InfluxDB 1.x: the refused field alone is dead-lettered.

A device sends ``fault_code`` as a number, then as a string, alternating: InfluxDB keeps
the first type and refuses the others. The sink splits each refused point: its other
fields (``zone_temp``) are stored, only ``fault_code`` is handed to ``on_rejected`` with
reason naming the field and both types.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.metrics import Metrics
from rules.model import Telemetry, Value
from tests.integration.test_influx import T0, influxql, newdb, series, v1_sink

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize("batch_size", [1, 100, 1000])
async def test_conflicting_field_alone_is_refused_and_zone_temp_kept(
    influx_url: str, batch_size: int
) -> None:
    db = newdb()
    metrics = Metrics()
    sink = v1_sink(influx_url, db, metrics, batch_size=batch_size, flush_interval=0.05)
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    for i in range(400):
        code: Value = 17 if i % 2 == 0 else f"E{i}"  # number, string, number, ...
        values: dict[str, Value] = {"zone_temp": 20.0 + i / 100, "fault_code": code}
        sink.submit(Telemetry("sc01", "hvac", "ahu-1", T0 + i, values, T0), i)
    await asyncio.wait_for(sink.flush(), 60)
    assert sink.durable_seq == 399

    (s,) = series(influxql(influx_url, db, 'SELECT count("zone_temp") FROM "hvac"'))
    assert s["values"][0][1] == 400  # no valid zone_temp lost
    (s,) = series(influxql(influx_url, db, 'SELECT count("fault_code") FROM "hvac"'))
    assert s["values"][0][1] == 200
    fields = dict(
        tuple(v)
        for v in series(influxql(influx_url, db, 'SHOW FIELD KEYS FROM "hvac"'))[0]["values"]
    )
    # the store keeps the type it saw first (batches in flight may race): the other loses
    stored = fields.pop("fault_code")
    assert fields == {"zone_temp": "float"} and stored in ("float", "string")
    got = "string" if stored == "float" else "float"
    lost = range(1, 400, 2) if stored == "float" else range(0, 400, 2)

    def alone(i: int) -> str:
        code = f'"E{i}"' if i % 2 else "17.0"
        return f"hvac,device=ahu-1,site=sc01 fault_code={code} {(T0 + i) * 1_000_000}"

    assert sorted(line for line, _ in rejected) == sorted(alone(i) for i in lost)
    for _, reason in rejected:
        assert "'fault_code'" in reason and f"type {got}" in reason
        assert f"already stored as type {stored}" in reason
    assert metrics.registry.get_sample_value("sitewatch_points_rejected_total") == 200
    await sink.stop()


async def test_a_point_whose_only_field_conflicts_is_refused_whole(influx_url: str) -> None:
    db = newdb()
    sink = v1_sink(influx_url, db)
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    sink.submit(Telemetry("sc01", "lighting", "lt-1", T0, {"on": True}, T0), 0)
    await asyncio.wait_for(sink.flush(), 10)
    sink.submit(Telemetry("sc01", "lighting", "lt-1", T0 + 1, {"on": 1}, T0), 1)
    sink.submit(Telemetry("sc01", "lighting", "lt-1", T0 + 2, {"on": False}, T0), 2)
    await asyncio.wait_for(sink.flush(), 10)
    assert sink.durable_seq == 2
    assert [line for line, _ in rejected] == [
        f"lighting,device=lt-1,site=sc01 on=1.0 {(T0 + 1) * 1_000_000}"
    ]
    assert "type float, already stored as type boolean" in rejected[0][1]
    (s,) = series(influxql(influx_url, db, 'SELECT count("on") FROM "lighting"'))
    assert s["values"][0][1] == 2
    await sink.stop()
