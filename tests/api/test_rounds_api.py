"""Rounds and photos over HTTP: a crew member signed in does a round with a photo and a
failed item (one linked ticket); answers replayed with the same Idempotency-Key apply
once; photos refused by size (413) and content (415); who may read a photo (401, 403,
404); templates by managers; the figures in /api/v1/kpis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.photos import FolderStore, Photos
from gateway.rounds import RoundService
from gateway.site import load_site
from gateway.tickets import TicketService
from tests.api.fakes import FakeRuntime, auth, make_app
from tests.api.people_fixtures import PASSWORD, sign_in
from tests.gateway.rounds.env import MON_8H, TEN, jpeg


@pytest.fixture
def rt(people_rt: FakeRuntime, people_db: sa.Engine, tmp_path: Path) -> FakeRuntime:
    people_rt.clock.set(MON_8H)  # Monday 08:00 in Asia/Shanghai: the templates are seen
    site = load_site().model_copy(update={"rounds": [TEN]})
    tickets = TicketService(people_db, {}, people_rt.clock, site)
    photos = Photos(people_db, FolderStore(tmp_path / "photos"), people_rt.clock, "sc01")
    people_rt.tickets = tickets  # type: ignore[assignment]
    people_rt.rounds = RoundService(  # type: ignore[attr-defined]
        people_db, site, people_rt.clock, tickets, photos
    )
    for uid in ("clean-hu", "clean-guo", "sec-chen"):
        people_rt.people.users.set_password(uid, PASSWORD)  # type: ignore[attr-defined]
    people_rt.clock.set(MON_8H + 3600 + 300)  # 09:05: the 09:00 round is due
    return people_rt


@pytest.fixture
def client(rt: FakeRuntime) -> Any:
    app, _ = make_app(rt)
    with TestClient(app) as c:
        yield c


def upload(c: TestClient, headers: dict[str, str], data: bytes, name: str = "p.jpg") -> Any:
    return c.post("/api/v1/photos", files={"file": (name, data, "image/jpeg")}, headers=headers)


def the_round(c: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = c.get("/api/v1/rounds?status=due", headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()["items"][0]


def test_a_crew_member_does_a_round_with_a_photo_and_a_failed_item(
    client: TestClient, rt: FakeRuntime
) -> None:
    h = sign_in(client, "clean-hu", PASSWORD)
    rnd = the_round(client)
    assert rnd["status"] == "due" and len(rnd["checkpoints"]) == 10
    rid = rnd["id"]
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=h).json()["status"] == "in_progress"
    photo = upload(client, h, jpeg())
    assert photo.status_code == 201, photo.text
    pid = photo.json()["id"]
    for i in range(10):
        body: dict[str, Any] = {"answers": {"floor": i != 4, "bins": True}}
        if i == 4:
            body["photos"] = [pid]
        r = client.post(
            f"/api/v1/rounds/{rid}/checkpoints/cp{i:02d}",
            json=body,
            headers={**h, "Idempotency-Key": f"answer-{rid}-{i}"},
        )
        assert r.status_code == 200, r.text
    again = client.post(
        f"/api/v1/rounds/{rid}/checkpoints/cp04",
        json={"answers": {}},
        headers={**h, "Idempotency-Key": f"answer-{rid}-4"},
    )
    assert again.status_code == 200 and again.json()["replayed"] is True
    done = client.post(f"/api/v1/rounds/{rid}/finish", json={}, headers=h).json()
    assert done["status"] == "done" and done["progress"] == {"done": 10, "total": 10, "failed": 1}
    [finding] = done["findings"]
    tickets, total = rt.tickets.list()  # type: ignore[union-attr, call-arg]
    assert total == 1 and tickets[0]["id"] == finding["ticket_id"]
    assert tickets[0]["source"] == "inspection" and tickets[0]["zone"] == "lobby"
    log = client.get(f"/api/v1/rounds/{rid}").json()["answers_log"]
    assert [a["checkpoint"] for a in log] == [f"cp{i:02d}" for i in range(10)]
    # the photo: its crew sees it, another crew does not, no session is 401
    assert client.get(f"/api/v1/photos/{pid}").headers["content-type"] == "image/jpeg"
    guo = TestClient(client.app)
    sign_in(guo, "clean-guo", PASSWORD)
    assert guo.get(f"/api/v1/photos/{pid}?size=thumb").status_code == 200
    chen = TestClient(client.app)
    sign_in(chen, "sec-chen", PASSWORD)
    assert chen.get(f"/api/v1/photos/{pid}").status_code == 403
    assert TestClient(client.app).get(f"/api/v1/photos/{pid}").status_code == 401
    assert guo.get(f"/api/v1/photos/{pid}", headers=auth("viewer")).status_code == 403
    assert guo.get(f"/api/v1/photos/{pid}", headers=auth("admin")).status_code == 200


def test_another_crew_may_not_do_the_round(client: TestClient) -> None:
    h = sign_in(client, "sec-chen", PASSWORD)
    rid = the_round(client)["id"]
    r = client.post(f"/api/v1/rounds/{rid}/start", headers=h)
    assert r.status_code == 403
    assert client.post(f"/api/v1/rounds/{rid}/start", headers=auth("technician")).status_code == 403


def test_another_sites_photo_is_not_found(client: TestClient, rt: FakeRuntime) -> None:
    other = Photos(rt.rounds.photos._engine, rt.rounds.photos.store, rt.clock, "sc02")  # type: ignore[attr-defined]
    pid = other.upload(jpeg(), "admin")["id"]
    assert client.get(f"/api/v1/photos/{pid}", headers=auth("admin")).status_code == 404
    assert client.get("/api/v1/photos/" + "x" * 32, headers=auth("admin")).status_code == 404


def test_an_eleven_megabyte_upload_is_413_and_a_renamed_program_415(client: TestClient) -> None:
    h = auth("operator")
    big = upload(client, h, b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024))
    assert big.status_code == 413 and "10 MB" in big.json()["detail"]["message"]
    exe = upload(client, h, b"MZ\x90\x00\x03" + b"\0" * 5000, name="holiday.jpg")
    assert exe.status_code == 415 and "by its content" in exe.json()["detail"]["message"]
    assert upload(client, auth("viewer"), jpeg()).status_code == 403
    assert upload(client, {}, jpeg()).status_code == 401


def test_templates_are_made_by_managers(client: TestClient) -> None:
    body: dict[str, Any] = {
        "id": "vip-check",
        "name": "VIP rooms",
        "crew": "customer-service",
        "schedule": {"rrule": "FREQ=DAILY;BYHOUR=9;BYMINUTE=30"},
        "checkpoints": [
            {"id": "vip1", "zone": "vip-1", "items": [{"id": "tidy", "text": "Room tidy"}]}
        ],
    }
    assert (
        client.post("/api/v1/rounds/templates", json=body, headers=auth("technician")).status_code
        == 403
    )
    r = client.post("/api/v1/rounds/templates", json=body, headers=auth("admin"))
    assert r.status_code == 201 and r.json()["source"] == "api"
    assert (
        client.post("/api/v1/rounds/templates", json=body, headers=auth("admin")).status_code == 409
    )
    bad = {**body, "id": "x2", "checkpoints": [{**body["checkpoints"][0], "zone": "moon"}]}
    assert (
        client.post("/api/v1/rounds/templates", json=bad, headers=auth("admin")).status_code == 422
    )
    got = client.get("/api/v1/rounds/templates", headers=auth("viewer")).json()["items"]
    ids = [t["id"] for t in got]
    assert ids == ["ten-points", "vip-check"]


def test_kpis_carry_rounds_and_the_fail_rate_by_zone(client: TestClient, rt: FakeRuntime) -> None:
    h = sign_in(client, "clean-hu", PASSWORD)
    rid = the_round(client)["id"]
    client.post(f"/api/v1/rounds/{rid}/start", headers=h)
    pid = upload(client, h, jpeg()).json()["id"]
    client.post(
        f"/api/v1/rounds/{rid}/checkpoints/cp00",
        json={"answers": {"floor": False, "bins": True}, "photos": [pid]},
        headers=h,
    )
    for i in (1, 5, 6):
        client.post(
            f"/api/v1/rounds/{rid}/checkpoints/cp{i:02d}",
            json={"answers": {"floor": True, "bins": True}},
            headers=h,
        )
    k = client.get("/api/v1/kpis?days=1", headers=auth("viewer")).json()
    assert k["inspection_fail_pct"] == {"lobby": 50.0, "sand-table": 0.0}
    assert k["rounds"] == {
        "cleaning": {"on_time": 0, "late": 0, "missed": 0, "abandoned": 0, "open": 1}
    }
    assert k["inspection"]["fail_pct"] == 25.0
