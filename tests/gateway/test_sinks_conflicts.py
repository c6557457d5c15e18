"""Field type conflicts named by the store split the points (gateway.sinks.conflicts)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.metrics import Metrics
from gateway.sinks.base import WriteRefused
from gateway.sinks.conflicts import FieldTypeConflict, refusal, split_line, strip_field
from gateway.sinks.influx_v1 import InfluxV1Sink
from rules.model import Telemetry

pytestmark = pytest.mark.anyio

T0 = 1_735_689_600_000
MSG = (
    'partial write: field type conflict: input field "fault code" on measurement "hvac"'
    " is type string, already exists as type float dropped=1"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_refusal_names_the_field_and_types() -> None:
    exc = refusal("400: " + MSG)
    assert isinstance(exc, FieldTypeConflict)
    assert (exc.measurement, exc.field, exc.got, exc.stored) == (
        "hvac",
        "fault code",
        "string",
        "float",
    )
    assert "'fault code'" in exc.reason() and "already stored as type float" in exc.reason()
    plain = refusal("400: unable to parse 'x': bad timestamp")
    assert type(plain) is WriteRefused


def test_strip_field_keeps_the_other_fields() -> None:
    conflict = refusal(MSG)
    assert isinstance(conflict, FieldTypeConflict)
    line = 'hvac,device=a\\ b,site=s1 zone_temp=21.5,fault\\ code="x, \\"y\\" z",on=true 5'
    assert split_line(line) == (
        "hvac,device=a\\ b,site=s1",
        ["zone_temp=21.5", 'fault\\ code="x, \\"y\\" z"', "on=true"],
        "5",
    )
    assert strip_field(line, conflict) == (
        "hvac,device=a\\ b,site=s1 zone_temp=21.5,on=true 5",
        'hvac,device=a\\ b,site=s1 fault\\ code="x, \\"y\\" z" 5',
    )
    # the stored type itself, another measurement, or no such field: untouched
    assert strip_field("hvac,device=a fault\\ code=1.0 5", conflict) is None
    assert strip_field('fire,device=a fault\\ code="x" 5', conflict) is None
    assert strip_field("hvac,device=a v=1.0 5", conflict) is None
    assert strip_field('hvac,device=a fault\\ code="x" 5', conflict) == (
        None,
        'hvac,device=a fault\\ code="x" 5',
    )


async def test_only_the_conflicting_field_is_rejected() -> None:
    """Like InfluxDB 1.6: fault_code is stored as a float; strings are refused."""
    stored: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/query":
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        lines = request.content.decode().split("\n")
        bad = [x for x in lines if 'fault_code="' in x]
        stored.extend(x for x in lines if x not in bad)
        if bad:
            err = (
                'partial write: field type conflict: input field "fault_code" on measurement'
                f' "hvac" is type string, already exists as type float dropped={len(bad)}'
            )
            return httpx.Response(400, json={"error": err})
        return httpx.Response(204)

    metrics = Metrics()
    sink = InfluxV1Sink(
        "http://influx.test:8086",
        "sw",
        metrics,
        transport=httpx.MockTransport(handler),
        batch_size=400,
        flush_interval=30.0,
    )
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    for i in range(400):
        code = 7 if i % 2 == 0 else f"E{i}"
        sink.submit(
            Telemetry("sc01", "hvac", "ahu-1", T0 + i, {"zone_temp": 21.0, "fault_code": code}, T0),
            i,
        )
    await asyncio.wait_for(sink.flush(), 5)
    assert sink.durable_seq == 399
    temps = {x.split(" ")[-1] for x in stored if "zone_temp=21.0" in x}
    assert len(temps) == 400
    assert len(rejected) == 200
    assert all('fault_code="E' in line and " zone_temp" not in line for line, _ in rejected)
    assert all("is type string, already stored as type float" in r for _, r in rejected)
    assert metrics.registry.get_sample_value("sitewatch_points_rejected_total") == 200
    await sink.stop()
