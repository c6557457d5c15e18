"""``GET /api/v1/telemetry/{device}``: a client's mistake is 422 with a message saying
what is wrong, and the store is not asked; 503 only when the store does not answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink
from tests.api.fakes import FakeRuntime, auth, make_app

URL = "/api/v1/telemetry/lt-01"


@pytest.fixture
def rt() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def client(rt: FakeRuntime) -> Iterator[TestClient]:
    app, _ = make_app(rt)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("field", "says"),
    [
        ("time", "'time' is the timestamp, not a field"),
        ("a\x00b", "control character"),
        ("zone\ttemp", "control character"),
        ("del\x7f", "control character"),
        ("x" * 65, "longer than 64"),
    ],
)
def test_a_field_no_reading_can_have_is_422(
    client: TestClient, rt: FakeRuntime, field: str, says: str
) -> None:
    r = client.get(URL, params={"field": field}, headers=auth("viewer"))
    assert r.status_code == 422, r.text
    msgs = [e["msg"] for e in r.json()["detail"] if e["loc"] == ["query", "field"]]
    assert msgs and says in msgs[0], r.text
    assert rt.sink.queries == []  # the store was not asked


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"start": str(2**63)}, "start: out of range"),
        ({"start": "9" * 5000}, "start: out of range"),
        ({"end": "-1"}, "end: out of range"),
        ({"start": "9223372036854"}, "start: out of range"),  # one ms past InfluxDB's time
        ({"start": "9999-12-31T23:59:59Z"}, "start: out of range"),
        ({"end": "1600-01-01T00:00:00Z"}, "end: out of range"),
        ({"start": "²"}, "start: '²' is not an RFC 3339 time"),
        ({"start": "١٢٣"}, "start: '١٢٣' is not an RFC 3339 time"),
        ({"start": "2000", "end": "1000"}, "end is before start"),
    ],
)
def test_a_time_out_of_range_is_422(
    client: TestClient, rt: FakeRuntime, params: dict[str, str], says: str
) -> None:
    r = client.get(URL, params=params, headers=auth("viewer"))
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"], r.text
    assert rt.sink.queries == []


def test_the_whole_range_is_accepted(client: TestClient, rt: FakeRuntime) -> None:
    r = client.get(
        URL,
        params={"start": "0", "end": "2262-04-11T23:47:16.853Z", "field": "zone temp é"},
        headers=auth("viewer"),
    )
    assert r.status_code == 200, r.text
    assert rt.sink.queries == [("lt-01", "zone temp é", 0, 9_223_372_036_853, 10_000)]


def test_503_only_when_the_store_is_down(client: TestClient, rt: FakeRuntime) -> None:
    rt.sink.down = True
    r = client.get(URL, params={"field": "on"}, headers=auth("viewer"))
    assert r.status_code == 503
    assert r.json()["detail"].startswith("time-series store unavailable: InfluxDB")
    # a client mistake stays the client's while the store is down
    assert client.get(URL, params={"field": "time"}, headers=auth("viewer")).status_code == 422


def test_the_embedded_store_is_never_handed_a_time_it_cannot_take(tmp_path: Path) -> None:
    clock = ManualClock()
    rt = FakeRuntime()
    sink = EmbeddedSink(tmp_path / "t.db", Metrics(), clock)
    rt.sink = sink  # type: ignore[assignment]
    app, _ = make_app(rt)
    with TestClient(app, raise_server_exceptions=False) as c:
        c.portal.call(sink.start)  # type: ignore[union-attr]
        try:
            h = auth("viewer")
            ok = c.get(URL, params={"start": "0", "field": "on"}, headers=h)
            assert ok.status_code == 200 and ok.json()["items"] == []
            # SQLite cannot bind an integer past 64 bits (OverflowError): 500 before
            for start in (str(2**63), str(2**64)):
                r = c.get(URL, params={"start": start}, headers=h)
                assert r.status_code == 422 and "start: out of range" in r.text, r.text
        finally:
            c.portal.call(sink.stop)  # type: ignore[union-attr]
