"""Numbers a client picks are bounded before they reach a service: ids in paths, ``offset``
and ``limit``, ``Last-Event-ID``. Past a 64-bit integer the store cannot even compare
them (SQLite raises ``OverflowError``): they get 422, never 500.

These run against the gateway's own alarm and ticket services on a SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api.fakes import FakeRuntime, auth, make_app, with_real_services

BIG = [2**63, 2**64, 10**30]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    rt = FakeRuntime()
    with_real_services(rt, tmp_path_factory.mktemp("bounds"))
    rt.stopping.set()  # a stream sends its snapshot and ends
    app, _ = make_app(rt)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def names(r: object) -> list[list[object]]:
    return [e["loc"] for e in r.json()["detail"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize("n", BIG)
def test_ids_past_64_bits_are_422(client: TestClient, n: int) -> None:
    op = auth("operator")
    calls = [
        client.get(f"/api/v1/alarms/{n}", headers=op),
        client.post(f"/api/v1/alarms/{n}/ack", headers=op),
        client.post(f"/api/v1/alarms/{n}/shelve", json={"minutes": 5, "reason": "x"}, headers=op),
        client.post(f"/api/v1/alarms/{n}/unshelve", headers=op),
        client.get(f"/api/v1/tickets/{n}", headers=op),
        client.post(f"/api/v1/tickets/{n}/transition", json={"to": "assigned"}, headers=op),
    ]
    for r in calls:
        assert r.status_code == 422, (r.request.url, r.status_code, r.text)
        assert [loc for loc in names(r) if loc[0] == "path"], r.text


def test_the_largest_id_is_a_plain_404(client: TestClient) -> None:
    top = 2**63 - 1
    r = client.get(f"/api/v1/alarms/{top}", headers=auth("viewer"))
    assert r.status_code == 404 and r.json() == {"detail": f"no alarm {top}"}
    assert client.get(f"/api/v1/tickets/{top}", headers=auth("viewer")).status_code == 404
    assert client.get("/api/v1/alarms/0", headers=auth("viewer")).status_code == 422


@pytest.mark.parametrize("n", BIG)
def test_offsets_and_limits_past_64_bits_are_422(client: TestClient, n: int) -> None:
    v = auth("viewer")
    for path in ("/api/v1/alarms", "/api/v1/tickets"):
        for name in ("offset", "limit"):
            r = client.get(path, params={name: str(n)}, headers=v)
            assert r.status_code == 422, (path, name, r.status_code, r.text)
            assert ["query", name] in names(r)
    # the largest offset is an empty page, not an error
    r = client.get("/api/v1/alarms", params={"offset": str(2**63 - 1)}, headers=v)
    assert r.status_code == 200 and r.json()["items"] == []


@pytest.mark.parametrize(
    "value", [str(2**63), str(10**30), "9" * 5000, "-1", "1e3", "0x10", "\xb2".encode("latin-1")]
)
def test_a_last_event_id_out_of_range_is_422(client: TestClient, value: str | bytes) -> None:
    r = client.get("/api/v1/alarms/stream", headers={**auth("viewer"), "Last-Event-ID": value})
    assert r.status_code == 422, (value[:20], r.status_code, r.text[:200])
    assert "Last-Event-ID" in r.text


def test_a_last_event_id_in_range_resumes(client: TestClient) -> None:
    top = str(2**63 - 1)
    r = client.get("/api/v1/alarms/stream", headers={**auth("viewer"), "Last-Event-ID": top})
    assert r.status_code == 200 and r.text.startswith("retry: ")
