"""``?access_token=`` is taken by the alarm stream alone (a browser's EventSource cannot send
a header); on any other route, a device or ticket named ``stream`` among them, it is 401."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.fakes import TOKENS, FakeDevice, FakeRegistry, FakeRuntime, make_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    rt = FakeRuntime()
    rt.registry = FakeRegistry(FakeDevice("lt-01"), FakeDevice("stream"))
    rt.stopping.set()  # a stream sends its snapshot and ends
    app, _ = make_app(rt)
    with TestClient(app) as c:
        yield c


def test_the_alarm_stream_takes_the_query_token(client: TestClient) -> None:
    r = client.get("/api/v1/alarms/stream", params={"access_token": TOKENS["viewer"]})
    assert r.status_code == 200 and r.text.startswith("retry: ")
    wrong = client.get("/api/v1/alarms/stream", params={"access_token": "tok-wrong"})
    assert wrong.status_code == 401
    assert client.get("/api/v1/alarms/stream").status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/devices/stream",  # a device named stream
        "/api/v1/telemetry/stream",
        "/api/v1/devices/lt-01",
        "/api/v1/alarms",
        "/api/v1/me",
    ],
)
def test_no_other_route_takes_it(client: TestClient, path: str) -> None:
    r = client.get(path, params={"access_token": TOKENS["admin"]})
    assert r.status_code == 401, (path, r.status_code, r.text)
    assert r.headers["www-authenticate"] == "Bearer"


def test_a_header_still_opens_a_device_named_stream(client: TestClient) -> None:
    r = client.get(
        "/api/v1/devices/stream", headers={"Authorization": f"Bearer {TOKENS['viewer']}"}
    )
    assert r.status_code == 200 and r.json()["id"] == "stream"


def test_posts_never_take_it(client: TestClient) -> None:
    r = client.post("/api/v1/alarms/1/ack", params={"access_token": TOKENS["admin"]})
    assert r.status_code == 401
