"""Sink machinery against a fake InfluxDB 1.x (httpx MockTransport): batching, ordering,
retries, backpressure, bisection of refused batches, queries; plus make_sink."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.sinks import EmbeddedSink, InfluxV1Sink, InfluxV2Sink, make_sink
from gateway.sinks.base import QueryFailed, Sink
from gateway.sinks.influx_v1 import parse_influxql_result
from rules.model import Event, Telemetry

T0 = 1_767_225_600_000

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def tel(i: int, device: str = "ahu-1", **values: Any) -> Telemetry:
    return Telemetry("sc01", "hvac", device, T0 + i, values or {"v": float(i)}, T0)


def sample(metrics: Metrics, name: str, labels: dict | None = None) -> float:
    v = metrics.registry.get_sample_value(name, labels or {})
    return v or 0.0


class FakeInflux:
    """Just enough of InfluxDB 1.x ``/write`` and ``/query``.

    ``bad`` marks lines the server refuses: like InfluxDB 1.6 with a field type conflict,
    a request containing one is answered 400 and (``partial=False``) nothing of it is
    kept, or (``partial=True``) the good lines are kept ("partial write").
    ``fail`` is a queue of failures for the next requests: an int status or an exception.
    """

    def __init__(self, bad: Callable[[str], bool] = lambda line: False, partial: bool = False):
        self.bad = bad
        self.partial = partial
        self.lines: list[str] = []
        self.writes: list[int] = []  # sizes of the /write requests that succeeded
        self.requests = 0
        self.write_requests = 0  # /write requests that reached the store (not failed early)
        self.fail: list[object] = []
        self.queries: list[str] = []
        self.delay: Callable[[int], float] = lambda n: 0.0
        self.query_body: dict = {"results": [{"statement_id": 0}]}
        self.db_exists = True

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path == "/query":
            ctype = request.headers.get("content-type", "")
            form = (
                parse_qs(request.content.decode())
                if ctype.startswith("application/x-www-form-urlencoded")
                else {}
            )
            q = request.url.params.get("q") or form.get("q", [""])[0]
            self.queries.append(q)
            if q.startswith("CREATE DATABASE"):
                self.db_exists = True
            return httpx.Response(200, json=self.query_body)
        assert request.url.path == "/write"
        assert request.url.params["precision"] == "ns"
        if self.fail:
            f = self.fail.pop(0)
            if isinstance(f, Exception):
                raise f
            assert isinstance(f, int)
            headers = {"Retry-After": "0"} if f == 429 else {}
            return httpx.Response(f, json={"error": f"injected {f}"}, headers=headers)
        if not self.db_exists:
            return httpx.Response(404, json={"error": 'database not found: "sitewatch"'})
        lines = request.content.decode().split("\n")
        n, self.write_requests = self.write_requests, self.write_requests + 1
        await asyncio.sleep(self.delay(n))
        bad = [x for x in lines if self.bad(x)]
        if bad:
            if self.partial:
                self.lines.extend(x for x in lines if not self.bad(x))
            err = "field type conflict"
            if self.partial:
                err = f"partial write: {err} dropped={len(bad)}"
            return httpx.Response(400, json={"error": err})
        self.lines.extend(lines)
        self.writes.append(len(lines))
        return httpx.Response(204)


def v1(fake: FakeInflux, metrics: Metrics | None = None, **kw: object) -> InfluxV1Sink:
    opts: dict = dict(
        batch_size=10,
        flush_interval=30.0,
        idle_flush=30.0,  # the tests below that want it set it
        flush_at_unacked=10_000,
        retry_initial_s=0.001,
        retry_max_s=0.01,
        stop_timeout=2.0,
    )
    opts.update(kw)
    return InfluxV1Sink(
        "http://influx.test:8086",
        "sitewatch",
        metrics or Metrics(),
        transport=httpx.MockTransport(fake.handler),
        **opts,
    )


class Recorder:
    def __init__(self, sink: Sink) -> None:
        self.durable: list[int] = []
        self.rejected: list[tuple[str, str]] = []
        sink.on_durable = self.durable.append
        sink.on_rejected = lambda line, reason: self.rejected.append((line, reason))


async def wait_for(cond: Callable[[], bool], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def test_sink_classes_satisfy_the_protocol(tmp_path) -> None:
    m = Metrics()
    for s in (
        v1(FakeInflux()),
        InfluxV2Sink("http://x", "b", m),
        EmbeddedSink(tmp_path / "t.db", m),
    ):
        assert isinstance(s, Sink)


async def test_batches_by_size_and_durable_in_order() -> None:
    fake, m = FakeInflux(), Metrics()
    sink = v1(fake, m)
    rec = Recorder(sink)
    await sink.start()
    for i in range(25):
        sink.submit(tel(i), i)
    await wait_for(lambda: sink.durable_seq == 19)
    assert fake.writes == [10, 10]
    await sink.flush()
    assert sink.durable_seq == 24
    assert fake.writes == [10, 10, 5]
    assert rec.durable == sorted(rec.durable) and rec.durable[-1] == 24
    assert [int(x.rsplit(" ", 1)[1]) for x in fake.lines] == [
        (T0 + i) * 1_000_000 for i in range(25)
    ]
    assert sample(m, "sitewatch_points_written_total") == 25
    assert sample(m, "sitewatch_sink_batch_size_count") == 3
    await sink.stop()


async def test_flush_interval_writes_without_flush_call() -> None:
    fake = FakeInflux()
    sink = v1(fake, batch_size=1000, flush_interval=0.05)
    await sink.start()
    sink.submit(tel(1), 1)
    sink.submit(tel(2), 2)
    await wait_for(lambda: sink.durable_seq == 2, within=1.0)
    assert fake.writes == [2]
    await sink.stop()


async def test_a_pause_in_the_input_writes_the_buffer() -> None:
    # the end of a burst: written once the input has paused for idle_flush, not after
    # flush_interval (30 s: the wait below would time out)
    fake = FakeInflux()
    sink = v1(fake, batch_size=1000, flush_interval=30.0, idle_flush=0.05)
    await sink.start()
    for i in range(3):
        sink.submit(tel(i), i)
    await wait_for(lambda: sink.durable_seq == 2, within=5.0)
    assert fake.writes == [3]
    sink.submit(tel(3), 3)  # the next burst, after the pause
    await wait_for(lambda: sink.durable_seq == 3, within=5.0)
    assert fake.writes == [3, 1]
    await sink.stop()


async def test_flush_at_unacked_triggers_early_write() -> None:
    fake = FakeInflux()
    sink = v1(fake, batch_size=1000, flush_interval=30.0, flush_at_unacked=5)
    await sink.start()
    for i in range(4):
        sink.submit(tel(i), i)
    await asyncio.sleep(0.05)
    assert fake.writes == []  # 4 pending: below the trigger, far from the interval
    sink.submit(tel(4), 4)
    await wait_for(lambda: sink.durable_seq == 4, within=1.0)
    assert fake.writes == [5]
    await sink.stop()


async def test_marks_are_durable_in_sequence() -> None:
    fake = FakeInflux()
    sink = v1(fake, batch_size=1000)
    rec = Recorder(sink)
    await sink.start()
    sink.mark(1)  # nothing pending: durable at once
    assert sink.durable_seq == 1 and rec.durable == [1]
    sink.submit(tel(2), 2)
    sink.mark(3)  # behind a point not yet written
    assert sink.durable_seq == 1
    await sink.flush()
    assert sink.durable_seq == 3
    assert rec.durable == [1, 3]
    with pytest.raises(ValueError):
        sink.mark(3)
    with pytest.raises(ValueError):
        sink.submit(tel(9), 2)
    await sink.stop()


async def test_durable_advances_in_order_with_concurrent_writes() -> None:
    fake = FakeInflux()
    fake.delay = lambda n: 0.2 if n == 0 else 0.0  # the first batch is slow
    sink = v1(fake, batch_size=5, max_in_flight=2)
    rec = Recorder(sink)
    await sink.start()
    for i in range(10):
        sink.submit(tel(i), i)
    await asyncio.sleep(0.1)
    # the second batch is stored, the first still in flight: nothing is durable yet
    assert len(fake.lines) == 5 and int(fake.lines[0].split("v=")[1].split(".")[0]) == 5
    assert sink.durable_seq == -1 and rec.durable == []
    await sink.flush()
    assert rec.durable == [9]
    await sink.stop()


@pytest.mark.parametrize(
    "failures,kind",
    [
        ([httpx.ConnectError("refused")] * 3, "connection"),
        ([httpx.ReadTimeout("slow")] * 2, "timeout"),
        ([503, 500, 502], "server"),
        ([429, 429], "throttled"),
        ([401], "auth"),
    ],
)
async def test_failed_writes_are_retried_and_nothing_is_lost(failures: list, kind: str) -> None:
    fake, m = FakeInflux(), Metrics()
    fake.fail = list(failures)
    sink = v1(fake, m)
    rec = Recorder(sink)
    await sink.start()
    for i in range(7):
        sink.submit(tel(i), i)
    await asyncio.wait_for(sink.flush(), 3)
    assert len(fake.lines) == 7 and rec.rejected == []
    assert sink.durable_seq == 6
    assert sample(m, "sitewatch_sink_write_errors_total", {"kind": kind}) == len(failures)
    await sink.stop()


async def test_database_not_found_recreates_it() -> None:
    fake = FakeInflux()
    sink = v1(fake)
    await sink.start()
    assert any("CREATE DATABASE" in q for q in fake.queries)
    fake.db_exists = False
    fake.queries.clear()
    sink.submit(tel(1), 1)
    await asyncio.wait_for(sink.flush(), 3)
    assert any('CREATE DATABASE "sitewatch"' in q for q in fake.queries)
    assert len(fake.lines) == 1
    await sink.stop()


async def test_store_down_at_start_is_tolerated() -> None:
    fake = FakeInflux()
    calls = {"n": 0}

    async def down_then_up(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise httpx.ConnectError("down")
        return await fake.handler(request)

    sink = InfluxV1Sink(
        "http://influx.test:8086",
        "sitewatch",
        Metrics(),
        transport=httpx.MockTransport(down_then_up),
        retry_initial_s=0.001,
        retry_max_s=0.01,
    )
    await sink.start()  # CREATE DATABASE fails: logged, not raised
    sink.submit(tel(1), 1)
    await asyncio.wait_for(sink.flush(), 3)
    assert len(fake.lines) == 1
    await sink.stop()


@pytest.mark.parametrize("partial", [False, True])
async def test_refused_points_are_isolated_by_bisection(partial: bool) -> None:
    bad_seqs = {3, 11, 12}
    fake, m = FakeInflux(bad=lambda line: "v=" not in line, partial=partial), Metrics()
    sink = v1(fake, m, batch_size=16)
    rec = Recorder(sink)
    await sink.start()
    for i in range(16):
        if i in bad_seqs:
            sink.submit(tel(i, on=True), i)  # a bool where the store holds floats
        else:
            sink.submit(tel(i), i)
    await asyncio.wait_for(sink.flush(), 3)
    assert sink.durable_seq == 15
    assert sorted({x for x in fake.lines}) == sorted(
        {
            f"hvac,device=ahu-1,site=sc01 v={float(i)} {(T0 + i) * 1_000_000}"
            for i in range(16)
            if i not in bad_seqs
        }
    )
    assert [line for line, _ in rec.rejected] == [
        f"hvac,device=ahu-1,site=sc01 on=true {(T0 + i) * 1_000_000}" for i in sorted(bad_seqs)
    ]
    assert all("400" in reason and "field type conflict" in reason for _, reason in rec.rejected)
    assert sample(m, "sitewatch_points_rejected_total") == 3
    assert sample(m, "sitewatch_points_written_total") == 13
    await sink.stop()


async def test_a_refused_single_point_does_not_block_the_rest() -> None:
    fake = FakeInflux(bad=lambda line: "on=" in line)
    sink = v1(fake, batch_size=1)
    rec = Recorder(sink)
    await sink.start()
    sink.submit(tel(0, on=True), 0)
    sink.submit(tel(1), 1)
    await asyncio.wait_for(sink.flush(), 3)
    assert len(rec.rejected) == 1 and len(fake.lines) == 1 and sink.durable_seq == 1
    await sink.stop()


async def test_unencodable_fields_and_messages_go_to_on_rejected() -> None:
    fake, m = FakeInflux(), Metrics()
    sink = v1(fake, m)
    rec = Recorder(sink)
    await sink.start()
    sink.submit(tel(0, v=float("nan"), ok=1), 0)  # one field dropped, point written
    sink.submit(tel(1, v=float("inf")), 1)  # nothing left: whole message refused
    assert [r for _, r in rec.rejected] == [
        "not a finite number: nan",
        "ahu-1: no field can be written (v: not a finite number: inf)",
    ]
    assert rec.rejected[1][0] == f"sc01/hvac/ahu-1 ts={T0 + 1} v=inf"
    await sink.flush()
    assert fake.lines == [f"hvac,device=ahu-1,site=sc01 ok=1.0 {T0 * 1_000_000}"]
    assert sink.durable_seq == 1
    assert sample(m, "sitewatch_points_rejected_total") == 2
    await sink.stop()


async def test_backpressure_when_store_is_down() -> None:
    fake = FakeInflux()
    fake.fail = [503] * 10_000
    sink = v1(fake, batch_size=4, max_buffer=10, retry_max_s=0.005)
    await sink.start()
    for i in range(10):
        assert sink.has_room()
        sink.submit(tel(i), i)
    assert not sink.has_room()
    waiter = asyncio.create_task(sink.wait_room())
    await asyncio.sleep(0.1)
    assert not waiter.done() and fake.lines == [] and sink.durable_seq == -1
    fake.fail.clear()
    await asyncio.wait_for(waiter, 2)
    await asyncio.wait_for(sink.flush(), 2)
    assert len(fake.lines) == 10 and sink.has_room()
    await sink.stop()


async def test_stop_gives_up_at_its_deadline_without_claiming_durability() -> None:
    fake = FakeInflux()
    fake.fail = [httpx.ConnectError("down")] * 100_000
    sink = v1(fake, stop_timeout=0.3)
    rec = Recorder(sink)
    await sink.start()
    sink.submit(tel(1), 1)
    t0 = asyncio.get_running_loop().time()
    await sink.stop()
    assert asyncio.get_running_loop().time() - t0 < 2
    assert sink.durable_seq == -1 and rec.durable == []


async def test_events_are_written() -> None:
    fake = FakeInflux()
    sink = v1(fake)
    await sink.start()
    sink.submit(Event("sc01", "fire", "fp-1", T0, "fire_alarm", T0, point="d1"), 1)
    await sink.flush()
    assert fake.lines == [
        f"events,device=fp-1,point=d1,site=sc01,system=fire,type=fire_alarm count=1.0 "
        f"{T0 * 1_000_000}"
    ]
    await sink.stop()


async def test_query_builds_influxql_and_parses_the_answer() -> None:
    fake = FakeInflux()
    fake.query_body = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {
                        "name": "hvac",
                        "columns": ["time", "fan", "zone_temp"],
                        "values": [[T0 + 2, None, 22], [T0 + 1, True, 21.5]],
                    }
                ],
            }
        ]
    }
    sink = v1(fake)
    await sink.start()
    rows = await sink.query("ahu-'1", None, T0, T0 + 10, limit=100)
    assert rows == [
        {"ts": T0 + 1, "field": "fan", "value": True},
        {"ts": T0 + 1, "field": "zone_temp", "value": 21.5},
        {"ts": T0 + 2, "field": "zone_temp", "value": 22.0},
    ]
    assert type(rows[2]["value"]) is float
    q = fake.queries[-1]
    assert 'SELECT *::field FROM "hvac","lighting","access","fire"' in q
    assert "\"device\" = 'ahu-\\'1'" in q
    assert f"time >= {T0 * 1_000_000}" in q and f"time <= {(T0 + 10) * 1_000_000}" in q
    assert q.endswith("ORDER BY time DESC LIMIT 100")
    await sink.query("ahu-1", "zone_temp", None, None, limit=2)
    assert fake.queries[-1].startswith('SELECT "zone_temp" FROM')
    assert "time >=" not in fake.queries[-1]
    await sink.stop()


def test_parse_influxql_result_keeps_latest_limit_and_raises_errors() -> None:
    body = {
        "results": [
            {
                "series": [
                    {"columns": ["time", "a", "b"], "values": [[3, 1, 2], [2, 1, 2], [1, 1, None]]}
                ]
            }
        ]
    }
    rows = parse_influxql_result(body, 3)
    assert [(r["ts"], r["field"]) for r in rows] == [(2, "b"), (3, "a"), (3, "b")]
    assert parse_influxql_result({"results": [{"error": "database not found: x"}]}, 5) == []
    with pytest.raises(QueryFailed):
        parse_influxql_result({"results": [{"error": "boom"}]}, 5)


async def test_query_when_store_is_down_raises_query_failed() -> None:
    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    sink = InfluxV1Sink("http://x", "db", Metrics(), transport=httpx.MockTransport(down))
    await sink.start()
    with pytest.raises(QueryFailed):
        await sink.query("d", None, None, None)
    await sink.stop()


def test_make_sink_chooses_from_settings(tmp_path, monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SITEWATCH_"):
            monkeypatch.delenv(name)
    m, clock = Metrics(), ManualClock()
    s = make_sink(Settings(telemetry_db=str(tmp_path / "x.db")), m, clock)
    assert isinstance(s, EmbeddedSink) and s.path == str(tmp_path / "x.db")
    assert isinstance(make_sink(Settings(), m, clock), EmbeddedSink)
    assert make_sink(Settings(), m, clock).path == "./sitewatch-telemetry.db"  # type: ignore[attr-defined]
    s1 = make_sink(
        Settings(
            influx_url="http://h:8086/",
            influx_db="d1",
            influx_batch_size=123,
            influx_flush_interval_s=2.5,
            mqtt_receive_maximum=100,
        ),
        m,
        clock,
    )
    assert isinstance(s1, InfluxV1Sink)
    assert (s1.url, s1.db, s1.batch_size, s1.flush_interval, s1.flush_at_unacked) == (
        "http://h:8086",
        "d1",
        123,
        2.5,
        50,
    )
    s2 = make_sink(
        Settings(
            influx_url="http://h:8086",
            influx_api="v2",
            influx_db="bk",
            influx_token="tok",
            influx_org="org",
        ),
        m,
        clock,
    )
    assert isinstance(s2, InfluxV2Sink)
    assert (s2.bucket, s2.token, s2.org) == ("bk", "tok", "org")


def test_fake_influx_json_helper_is_sane() -> None:
    # guards the fake itself: a refused request must not store anything unless partial
    fake = FakeInflux(bad=lambda line: "x" in line)

    async def go() -> httpx.Response:
        req = httpx.Request(
            "POST", "http://h/write?db=d&precision=ns", content=b"a v=1.0 1\nx v=1.0 2"
        )
        return await fake.handler(req)

    r = asyncio.run(go())
    assert r.status_code == 400 and json.loads(r.content)["error"] == "field type conflict"
    assert fake.lines == []


async def test_a_write_leaves_nothing_for_the_cyclic_collector() -> None:
    """httpx's response and its stream refer to each other; left so, every write's body
    waits for a full collection, which the gateway makes rare (bench/outage.py: +250 MB
    over 1.9 million messages). The sink cuts the cycle: refcounting frees each write."""
    import gc

    fake = FakeInflux()
    sink = v1(fake)
    await sink.start()
    gc.collect()
    gc.disable()
    try:
        for i in range(3):
            await sink._write([f"hvac,device=d v={i} {i}"])
        left = gc.collect()
    finally:
        gc.enable()
    assert fake.writes == [1, 1, 1]
    assert left == 0
    await sink.stop()
