"""The routes against a fake runtime: strict bodies, vocabulary, services called as is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from rules.vocab import Priority, TicketCategory, TicketStatus
from tests.api.fakes import FakeRuntime, alarm, auth, make_app, ticket


@pytest.fixture
def rt() -> FakeRuntime:
    runtime = FakeRuntime()
    assert runtime.alarms is not None and runtime.tickets is not None
    runtime.alarms.alarms = {1: alarm(1), 2: alarm(2, priority="critical")}
    runtime.tickets.tickets = {1: ticket(1)}
    return runtime


@pytest.fixture
def client(rt: FakeRuntime) -> Iterator[TestClient]:
    app, _ = make_app(rt)
    with TestClient(app) as c:
        yield c


def test_a_string_for_an_integer_body_field_is_422_naming_it(
    client: TestClient, rt: FakeRuntime
) -> None:
    r = client.post(
        "/api/v1/alarms/1/shelve", json={"minutes": "5", "reason": "x"}, headers=auth("operator")
    )
    assert r.status_code == 422
    assert ["body", "minutes"] in [e["loc"] for e in r.json()["detail"]]
    r = client.post(
        "/api/v1/tickets/1/transition",
        json={"to": "closed", "satisfaction": "9"},
        headers=auth("operator"),
    )
    assert r.status_code == 422
    assert ["body", "satisfaction"] in [e["loc"] for e in r.json()["detail"]]
    assert (
        client.post(
            "/api/v1/alarms/1/shelve",
            json={"minutes": 5.5, "reason": "x"},
            headers=auth("operator"),
        ).status_code
        == 422
    )
    assert rt.alarms is not None and not [c for c in rt.alarms.calls if c[0] == "shelve"]
    # an integer is fine; the service's own refusals come back through the one handler
    ok = client.post(
        "/api/v1/alarms/1/shelve", json={"minutes": 5, "reason": "x"}, headers=auth("operator")
    )
    assert ok.status_code == 200 and ok.json()["shelved"] is True
    assert ok.json()["count"] == 1  # a field the contract does not list passes through
    crit = client.post(
        "/api/v1/alarms/2/shelve", json={"minutes": 5, "reason": "x"}, headers=auth("operator")
    )
    assert crit.status_code == 409 and "critical" in crit.json()["detail"]
    long = client.post(
        "/api/v1/alarms/1/shelve", json={"minutes": 10**6, "reason": "x"}, headers=auth("operator")
    )
    assert long.status_code == 422 and "minutes" in long.json()["detail"]


def test_bodies_take_the_vocabulary(client: TestClient, rt: FakeRuntime) -> None:
    bad = client.post(
        "/api/v1/tickets",
        json={"title": "t", "category": "plumbing", "priority": "low"},
        headers=auth("operator"),
    )
    assert bad.status_code == 422
    assert ["body", "category"] in [e["loc"] for e in bad.json()["detail"]]
    r = client.post(
        "/api/v1/tickets",
        json={"title": "t", "category": "cleaning", "priority": "high", "extra": 1},
        headers=auth("technician"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["category"] == "cleaning" and r.json()["priority"] == "high"
    assert rt.tickets is not None
    _, kw = rt.tickets.calls[-1]
    assert kw["category"] is TicketCategory.CLEANING and kw["priority"] is Priority.HIGH
    assert kw["user"] == "technician"
    moved = client.post(
        "/api/v1/tickets/1/transition", json={"to": "in_progress"}, headers=auth("operator")
    )
    assert moved.status_code == 200 and moved.json()["status"] == "in_progress"
    assert rt.tickets.calls[-1][2] is TicketStatus.IN_PROGRESS
    assert (
        client.post(
            "/api/v1/tickets/1/transition", json={"to": "done"}, headers=auth("operator")
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/v1/tickets",
            json={"title": "t", "category": "cleaning", "priority": "low"},
            headers=auth("viewer"),
        ).status_code
        == 403
    )


def test_alarm_queries_and_errors(client: TestClient, rt: FakeRuntime) -> None:
    r = client.get(
        "/api/v1/alarms", params={"state": "open", "priority": "low"}, headers=auth("viewer")
    )
    assert r.status_code == 200
    assert r.json()["total"] == 2 and [a["id"] for a in r.json()["items"]] == [1, 2]
    assert rt.alarms is not None
    assert rt.alarms.calls[-1][1]["state"] == "open"
    assert rt.alarms.calls[-1][1]["priority"] is Priority.LOW
    assert (
        client.get(
            "/api/v1/alarms", params={"state": "shelved"}, headers=auth("viewer")
        ).status_code
        == 422
    )
    detail = client.get("/api/v1/alarms/1", headers=auth("viewer")).json()
    assert detail["journal"][0]["action"] == "raise"
    assert client.get("/api/v1/alarms/9", headers=auth("viewer")).json() == {"detail": "no alarm 9"}
    assert (
        client.post("/api/v1/alarms/1/ack", headers=auth("operator")).json()["acked_by"]
        == "operator"
    )
    assert client.post("/api/v1/alarms/1/ack", json={}, headers=auth("operator")).status_code == 409
    assert client.post("/api/v1/alarms/1/ack", headers=auth("viewer")).status_code == 403


def test_a_service_not_running_is_503(client: TestClient, rt: FakeRuntime) -> None:
    rt.alarms = None
    rt.tickets = None
    assert client.get("/api/v1/alarms", headers=auth("viewer")).status_code == 503
    assert client.get("/api/v1/tickets", headers=auth("viewer")).status_code == 503
    k = client.get("/api/v1/kpis", headers=auth("viewer"))
    assert k.status_code == 200
    assert k.json()["alarms"] is None and k.json()["maintenance"] is None


def test_telemetry_times(client: TestClient, rt: FakeRuntime) -> None:
    url = "/api/v1/telemetry/lt-01"
    h = auth("viewer")
    r = client.get(
        url, params={"start": "2026-01-01T08:00:00+08:00", "end": "1767225600500"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "device": "lt-01",
        "total": 1,
        "items": [{"ts": "2026-01-01T00:00:00.000Z", "field": "on", "value": 1.0}],
    }
    assert rt.sink.queries[-1][2:4] == (1_767_225_600_000, 1_767_225_600_500)
    naive = client.get(url, params={"start": "2026-01-01T08:00:00"}, headers=h)
    assert naive.status_code == 422 and "offset" in naive.json()["detail"]
    assert client.get(url, params={"start": "yesterday"}, headers=h).status_code == 422
    backwards = client.get(url, params={"start": "2000", "end": "1000"}, headers=h)
    assert backwards.status_code == 422 and backwards.json()["detail"] == "end is before start"
    assert client.get("/api/v1/telemetry/nope", headers=h).status_code == 404


def test_health_and_devices(client: TestClient, rt: FakeRuntime) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    rt.status = "degraded"
    assert client.get("/healthz").json() == {"status": "degraded", "site": "sc01", "uptime_s": 1.0}
    devices = client.get("/api/v1/devices", headers=auth("viewer")).json()
    assert devices["total"] == 1 and devices["items"][0]["messages"] == 0
    assert client.get("/api/v1/devices/x", headers=auth("viewer")).status_code == 404
    assert client.get("/metrics").status_code == 200
