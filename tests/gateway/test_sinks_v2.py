"""The v2 sink (influxdb-client async API) against a small fake ``/api/v2`` server."""

from __future__ import annotations

import socket
from typing import Any

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="influxdb-client[async] needs aiohttp")
from aiohttp import web  # noqa: E402

from gateway.metrics import Metrics  # noqa: E402
from gateway.sinks.base import QueryFailed, QueryNotSupported  # noqa: E402
from gateway.sinks.influx_v2 import InfluxV2Sink, flux_query, flux_string  # noqa: E402
from rules.model import Telemetry  # noqa: E402

pytestmark = pytest.mark.anyio
T0 = 1_767_225_600_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeV2:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.fail: list[int] = []
        self.seen: list[tuple[str, str, str, str]] = []  # auth, bucket, org, precision
        self.query_status = 404

    async def write(self, request: web.Request) -> web.Response:
        self.seen.append(
            (
                request.headers.get("Authorization", ""),
                request.query.get("bucket", ""),
                request.query.get("org", ""),
                request.query.get("precision", ""),
            )
        )
        if self.fail:
            status = self.fail.pop(0)
            return web.json_response({"code": "x", "message": f"injected {status}"}, status=status)
        lines = (await request.text()).split("\n")
        if any("on=" in x for x in lines):
            return web.json_response(
                {"code": "invalid", "message": "failure writing points: field type conflict"},
                status=422,
            )
        self.lines.extend(lines)
        return web.Response(status=204)

    async def query(self, request: web.Request) -> web.Response:
        return web.Response(status=self.query_status, text="no flux here")


@pytest.fixture
async def fake_v2():
    fake = FakeV2()
    app = web.Application()
    app.router.add_post("/api/v2/write", fake.write)
    app.router.add_post("/api/v2/query", fake.query)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def tel(i: int, **values: Any) -> Telemetry:
    return Telemetry("sc01", "hvac", "ahu-1", T0 + i, values or {"v": float(i)}, T0)


async def test_v2_write_retry_bisect_and_query_not_supported(fake_v2) -> None:
    fake, url = fake_v2
    m = Metrics()
    sink = InfluxV2Sink(
        url,
        "bk",
        m,
        token="tok",
        org="acme",
        batch_size=8,
        retry_initial_s=0.001,
        retry_max_s=0.01,
    )
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    fake.fail = [503, 429]
    for i in range(8):
        sink.submit(tel(i, on=True) if i == 5 else tel(i), i)
    await sink.flush()
    assert sink.durable_seq == 7
    assert sorted(fake.lines) == sorted(
        f"hvac,device=ahu-1,site=sc01 v={float(i)} {(T0 + i) * 1_000_000}"
        for i in range(8)
        if i != 5
    )
    assert rejected == [
        (
            f"hvac,device=ahu-1,site=sc01 on=true {(T0 + 5) * 1_000_000}",
            "422: failure writing points: field type conflict",
        )
    ]
    assert fake.seen[0] == ("Token tok", "bk", "acme", "ns")
    assert m.registry.get_sample_value("sitewatch_sink_write_errors_total", {"kind": "server"}) == 1
    with pytest.raises(QueryNotSupported):
        await sink.query("ahu-1", None, None, None)
    fake.query_status = 500
    with pytest.raises(QueryFailed):
        await sink.query("ahu-1", None, None, None)
    await sink.stop()


async def test_v2_connection_refused_is_retried_until_stop_deadline() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    m = Metrics()
    sink = InfluxV2Sink(
        f"http://127.0.0.1:{port}",
        "bk",
        m,
        retry_initial_s=0.01,
        retry_max_s=0.02,
        stop_timeout=0.3,
    )
    await sink.start()
    sink.submit(tel(1), 1)
    await sink.stop()
    assert sink.durable_seq == -1
    errors = m.registry.get_sample_value(
        "sitewatch_sink_write_errors_total", {"kind": "connection"}
    )
    assert errors and errors >= 2


def test_flux_query_text() -> None:
    q = flux_query('b"k', 'dev"1', "zone_temp", T0, T0 + 5, 50)
    assert 'from(bucket: "b\\"k")' in q
    assert "range(start: 2026-01-01T00:00:00.000Z, stop: 2026-01-01T00:00:00.006Z)" in q
    assert 'r.device == "dev\\"1"' in q and 'r._field == "zone_temp"' in q
    assert 'r._measurement == "hvac"' in q and "tail(n: 50)" in q
    assert flux_string("a${b}\\") == '"a\\${b}\\\\"'
