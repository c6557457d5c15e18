"""The request page and progress link over HTTP (contract section 9) on the gateway's own
services (``build_site`` on SQLite, the fake runtime's manual clock): a forged zone token
404, the 6th submission in a minute 429 with Retry-After, a bounded body, 1,000 guessed
progress links 404, the survey once (409 after), a complaint not closed without its reply
(409), the staff side (reply, notification profile, feed) and the figures in /kpis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.middleware import CSP
from gateway.tickets import TicketService
from tests.api.fakes import FakeRuntime, auth, make_app, with_real_services


@pytest.fixture
def rt(tmp_path: Path) -> FakeRuntime:
    runtime = FakeRuntime()
    runtime.services = with_real_services(runtime, tmp_path)  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def client(rt: FakeRuntime) -> Iterator[TestClient]:
    app, _ = make_app(rt)
    with TestClient(app) as c:
        yield c


def zone_url(rt: FakeRuntime, zone: str = "lobby") -> str:
    return "/r/" + rt.services.requests.tokens.sign(zone)  # type: ignore[attr-defined]


JSON = {"Accept": "application/json"}


def real(rt: FakeRuntime) -> TicketService:
    """The gateway's own ticket service behind the fake runtime."""
    tickets: TicketService = rt.services.tickets  # type: ignore[attr-defined]
    return tickets


def send(client: TestClient, url: str, **body: Any) -> Any:
    return client.post(url, json={"kind": "cleaning", **body})


def test_the_page_and_its_zone(rt: FakeRuntime, client: TestClient) -> None:
    url = zone_url(rt)
    page = client.get(url)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == CSP
    assert "/static/js/portal.js" in page.text and "http" not in page.text.split("<body>")[0]
    z = client.get(url, headers=JSON).json()
    assert z["zone"] == "lobby" and z["name"] == "Lobby" and z["timezone"] == "Asia/Shanghai"
    forged = "/r/" + secrets.token_urlsafe(16)[:22]
    assert client.get(forged, headers=JSON).status_code == 404
    assert client.get(forged).status_code == 404
    assert send(client, forged).status_code == 404


def test_a_request_its_progress_and_the_survey_once(rt: FakeRuntime, client: TestClient) -> None:
    r = send(client, zone_url(rt), description="<b>spill</b>", contact="+86 139 0000 0000")
    assert r.status_code == 201, r.text
    link = r.json()["progress_url"]
    assert link.startswith("/p/") and set(r.json()) == {"progress_url"}
    p = client.get(link, headers=JSON)
    assert p.status_code == 200 and p.headers["Cache-Control"] == "no-store"
    body = p.json()
    assert {"status", "kind", "created_at", "resolve_by", "survey_open"} <= set(body)
    assert body["status"] == "assigned" and body["survey_open"] is False
    assert body["description"] == "<b>spill</b>"  # stored and given back as text
    assert client.get(link).headers["content-type"].startswith("text/html")
    [t] = [x for x in real(rt).list()[0] if x["source"] == "portal"]
    assert t["crew"] == "cleaning" and t["zone"] == "lobby"
    scores = {"overall": 8, "speed": 7, "thoroughness": 9, "attitude": 10}
    assert client.post(f"{link}/survey", json=scores).status_code == 409  # not resolved
    for to in ("in_progress", "resolved"):
        real(rt).transition(t["id"], to, "operator")
    assert client.get(link, headers=JSON).json()["survey_open"] is True
    assert client.post(f"{link}/survey", json={**scores, "speed": "7"}).status_code == 422
    assert client.post(f"{link}/survey", json={**scores, "speed": 0}).status_code == 422
    ok = client.post(f"{link}/survey", json={**scores, "comment": "quick"})
    assert ok.status_code == 200 and ok.json()["survey_open"] is False
    again = client.post(f"{link}/survey", json=scores)
    assert again.status_code == 409
    got = real(rt).get(t["id"])
    assert got["survey"]["overall"] == 8 and got["survey"]["comment"] == "quick"


def test_the_sixth_submission_in_a_minute_gets_429(rt: FakeRuntime, client: TestClient) -> None:
    url = zone_url(rt, "meeting")
    for _ in range(5):
        assert send(client, url).status_code == 201
    r = send(client, url)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    rt.clock.advance(61)
    assert send(client, url).status_code == 201


def test_bodies_are_bounded_and_strict(rt: FakeRuntime, client: TestClient) -> None:
    url = zone_url(rt, "vip-1")
    big = client.post(url, json={"kind": "cleaning", "description": "x" * 20_000})
    assert big.status_code == 413
    assert send(client, url, kind="plumbing").status_code == 422
    assert send(client, url, description=5).status_code == 422
    assert send(client, url, description="x" * 2001).status_code == 422


def test_a_thousand_random_progress_links_return_nothing(
    rt: FakeRuntime, client: TestClient
) -> None:
    assert send(client, zone_url(rt, "offices")).status_code == 201
    for _ in range(1000):
        r = client.get("/p/" + secrets.token_urlsafe(24), headers=JSON)
        assert r.status_code == 404 and set(r.json()) == {"detail"}
    assert (
        client.post(
            "/p/" + secrets.token_urlsafe(24) + "/survey",
            json={"overall": 1, "speed": 1, "thoroughness": 1, "attitude": 1},
        ).status_code
        == 404
    )


def test_a_complaint_cannot_close_without_its_reply(rt: FakeRuntime, client: TestClient) -> None:
    r = send(client, zone_url(rt, "vip-2"), kind="complaint", contact="guest@example.com")
    [t] = [x for x in real(rt).list()[0] if x["category"] == "complaint"]
    tid = t["id"]
    op = auth("operator")
    for to in ("in_progress", "resolved"):
        assert (
            client.post(
                f"/api/v1/tickets/{tid}/transition", json={"to": to}, headers=op
            ).status_code
            == 200
        )
    close = {"to": "closed", "satisfaction": 7}
    refused = client.post(f"/api/v1/tickets/{tid}/transition", json=close, headers=op)
    assert refused.status_code == 409 and "reply" in str(refused.json()["detail"])
    assert (
        client.post(
            f"/api/v1/tickets/{tid}/reply", json={"text": "Sorry"}, headers=auth("viewer")
        ).status_code
        == 403
    )
    rep = client.post(f"/api/v1/tickets/{tid}/reply", json={"text": "We are sorry."}, headers=op)
    assert rep.status_code == 200 and rep.json()["reply"]["text"] == "We are sorry."
    assert client.get(r.json()["progress_url"], headers=JSON).json()["reply"] == "We are sorry."
    assert (
        client.post(f"/api/v1/tickets/{tid}/transition", json=close, headers=op).status_code == 200
    )


def test_notification_profile_and_feed(rt: FakeRuntime, client: TestClient) -> None:
    h = auth("operator")
    put = client.put(
        "/api/v1/me/notify",
        headers=h,
        json={
            "email": "op@example.com",
            "chats": [{"kind": "slack", "url": "https://hooks.slack.example/services/T/B/XYZ"}],
            "browser": True,
        },
    )
    assert put.status_code == 200, put.text
    shown = put.json()
    assert shown["email"] == "op@example.com" and "XYZ" in shown["chats"][0]["url"]
    assert "/services/T/B/" not in shown["chats"][0]["url"]
    assert client.get("/api/v1/me/notify", headers=h).json() == shown
    assert client.put("/api/v1/me/notify", headers=h, json={"browser": "true"}).status_code == 422
    assert (
        client.put(
            "/api/v1/me/notify",
            headers=h,
            json={"chats": [{"kind": "icq", "url": "https://x.example/a"}]},
        ).status_code
        == 422
    )
    feed = client.get("/api/v1/me/notifications", headers=h)
    assert feed.status_code == 200 and feed.json() == {"items": [], "total": 0}
    zones = client.get("/api/v1/requests/zones", headers=h).json()["items"]
    assert {z["zone"] for z in zones} >= {"lobby", "car-park"}
    assert all(z["url"].startswith("/r/") for z in zones)
    assert client.get("/api/v1/requests/zones", headers=auth("viewer")).status_code == 403


def test_kpis_carry_the_request_figures(rt: FakeRuntime, client: TestClient) -> None:
    link = send(client, zone_url(rt, "negotiation")).json()["progress_url"]
    [t] = [x for x in real(rt).list()[0] if x["source"] == "portal"]
    for to in ("in_progress", "resolved"):
        real(rt).transition(t["id"], to, "operator")
    client.post(f"{link}/survey", json={"overall": 6, "speed": 5, "thoroughness": 7, "attitude": 8})
    k = client.get("/api/v1/kpis", headers=auth("viewer")).json()
    assert k["satisfaction"]["overall"] == 6.0 and k["satisfaction"]["speed"] == 5.0
    assert k["over_standard_time_pct"] == 0.0
    assert k["requests"]["by_channel"]["portal"] == 1


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_a_request_carries_a_photo_that_only_staff_with_rights_see(
    rt: FakeRuntime, client: TestClient
) -> None:
    url = zone_url(rt)
    assert (
        client.post("/r/forged-token/photo", files={"file": ("a.jpg", _jpeg())}).status_code == 404
    )
    bad = client.post(url + "/photo", files={"file": ("a.jpg", b"MZ\x90\x00 not an image")})
    assert bad.status_code == 415
    up = client.post(url + "/photo", files={"file": ("a.jpg", _jpeg(), "image/jpeg")})
    assert up.status_code == 201, up.text
    pid = up.json()["id"]
    r = send(client, url, photo=pid, description="wet floor by the door")
    assert r.status_code == 201
    t = [x for x in real(rt).list()[0] if x["source"] == "portal"][0]
    # the crew that cleans sees it, an anonymous caller does not
    assert client.get(f"/api/v1/photos/{pid}").status_code == 401
    seen = client.get(f"/api/v1/photos/{pid}", headers=auth("operator"))
    assert seen.status_code == 200 and seen.headers["content-type"] == "image/jpeg"
    assert t["crew"] == "cleaning"
    # the same photo cannot be claimed again by another request
    assert send(client, url, photo=pid).status_code == 422
