"""Sign-in over HTTP: cookies, CSRF, lock-out on the injected clock, sign-out, and every
refusal counted in /metrics with nothing changed and no secret in the log."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.auth import CSRF_COOKIE, SESSION_COOKIE
from tests.api.fakes import FakeRuntime, alarm, auth
from tests.api.people_fixtures import PASSWORD, failures, sign_in


def _set_cookies(r: object) -> dict[str, str]:
    headers = r.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {h.split("=", 1)[0]: h for h in headers}


def test_sign_in_gives_a_session_cookie_and_a_csrf_token(web: TestClient) -> None:
    r = web.post("/api/v1/auth/login", json={"user": "hvac-zhang", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == "hvac-zhang" and body["name"] == "张伟 Zhang Wei"
    assert body["roles"] == ["technician", "lead"] and body["crew"] == "hvac"
    assert len(body["csrf_token"]) >= 32
    cookies = _set_cookies(r)
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/" in session
    assert "secure" not in session  # plain HTTP on the test client, no bind address known
    csrf = cookies[CSRF_COOKIE].lower()
    assert "httponly" not in csrf and "samesite=strict" in csrf
    me = web.get("/api/v1/me").json()
    assert me == {
        "user": "hvac-zhang",
        "name": "张伟 Zhang Wei",
        "roles": ["technician", "lead"],
        "crew": "hvac",
        "role": "technician",
        "via": "session",
    }


def test_cookies_are_secure_unless_bound_to_loopback(
    web: TestClient, people_rt: FakeRuntime
) -> None:
    people_rt.settings = SimpleNamespace(http_host="0.0.0.0")  # type: ignore[attr-defined]
    r = web.post("/api/v1/auth/login", json={"user": "opa", "password": PASSWORD})
    assert all("secure" in h.lower() for h in _set_cookies(r).values())
    people_rt.settings = SimpleNamespace(http_host="127.0.0.1")  # type: ignore[attr-defined]
    r = web.post("/api/v1/auth/login", json={"user": "opa", "password": PASSWORD})
    assert not any("secure" in h.lower() for h in _set_cookies(r).values())


def test_wrong_pair_is_401_counted_and_never_logged(
    web: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = web.post("/api/v1/auth/login", json={"user": "opa", "password": "not-the-password"})
    assert r.status_code == 401 and r.json() == {"detail": "wrong user or password"}
    assert SESSION_COOKIE not in web.cookies
    assert failures(web, "wrong_pair") == 1
    ok = web.post("/api/v1/auth/login", json={"user": "opa", "password": PASSWORD})
    token, csrf = web.cookies[SESSION_COOKIE], ok.json()["csrf_token"]
    web.get("/api/v1/me")
    web.post("/api/v1/alarms/1/ack", headers={"X-CSRF-Token": "forged"})
    text = caplog.text
    for secret in ("not-the-password", PASSWORD, token, csrf):
        assert secret not in text


def test_lock_out_after_ten_failures_and_release_after_five_minutes(
    web: TestClient, people_rt: FakeRuntime
) -> None:
    wrong = {"user": "hvac-liu", "password": "guess-guess"}
    for _ in range(10):
        assert web.post("/api/v1/auth/login", json=wrong).status_code == 401
    locked = web.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "300"
    assert failures(web, "locked") == 1 and failures(web, "wrong_pair") == 10
    people_rt.clock.advance(200)
    again = web.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert again.status_code == 429 and again.headers["Retry-After"] == "100"
    people_rt.clock.advance(100)
    assert web.post(
        "/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD}
    ).is_success


def test_state_changing_calls_need_the_csrf_header(web: TestClient, people_rt: FakeRuntime) -> None:
    assert people_rt.alarms is not None
    people_rt.alarms.alarms = {1: alarm(1)}
    csrf = sign_in(web, "opa")
    assert web.get("/api/v1/alarms").status_code == 200  # a read needs no CSRF header
    missing = web.post("/api/v1/alarms/1/ack")
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = web.post("/api/v1/alarms/1/ack", headers={"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403
    assert people_rt.alarms.alarms[1]["state"] == "active_unacked"  # nothing changed
    assert failures(web, "csrf") == 2
    ok = web.post("/api/v1/alarms/1/ack", headers=csrf)
    assert ok.status_code == 200 and ok.json()["acked_by"] == "opa"


def test_a_forged_cookie_is_401_and_changes_nothing(
    web: TestClient, people_rt: FakeRuntime
) -> None:
    assert people_rt.alarms is not None
    people_rt.alarms.alarms = {1: alarm(1)}
    web.cookies.set(SESSION_COOKIE, "forged-session-token")
    r = web.post("/api/v1/alarms/1/ack", headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert web.get("/api/v1/me").status_code == 401
    assert people_rt.alarms.alarms[1]["state"] == "active_unacked"
    assert failures(web, "session") == 2


def test_no_credentials_is_401(web: TestClient) -> None:
    r = web.get("/api/v1/alarms")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert failures(web, "missing") == 1


def test_sign_out_ends_the_session(web: TestClient) -> None:
    csrf = sign_in(web, "hvac-zhang")
    token = web.cookies[SESSION_COOKIE]
    assert web.post("/api/v1/auth/logout").status_code == 403  # CSRF header needed
    r = web.post("/api/v1/auth/logout", headers=csrf)
    assert r.status_code == 200 and r.json() == {"user": "hvac-zhang", "signed_out": True}
    assert SESSION_COOKIE not in web.cookies and CSRF_COOKIE not in web.cookies
    web.cookies.set(SESSION_COOKIE, token)  # the old cookie, kept by someone
    assert web.get("/api/v1/me").status_code == 401


def test_the_session_expires_after_twelve_idle_hours(
    web: TestClient, people_rt: FakeRuntime
) -> None:
    sign_in(web, "opa")
    people_rt.clock.advance(11 * 3600)
    assert web.get("/api/v1/me").status_code == 200  # use moves the expiry on
    people_rt.clock.advance(12 * 3600 + 1)
    r = web.get("/api/v1/me")
    assert r.status_code == 401 and "expired" in r.json()["detail"]


def test_a_disabled_user_is_refused(web: TestClient, people_rt: FakeRuntime) -> None:
    sign_in(web, "hvac-liu")
    people_rt.people.users.disable("hvac-liu")  # type: ignore[attr-defined]
    assert web.get("/api/v1/me").status_code == 401  # the session ended with it
    r = web.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert r.status_code == 403 and failures(web, "disabled") == 1


def test_shared_tokens_keep_working(web: TestClient) -> None:
    r = web.get("/api/v1/me", headers=auth("technician"))
    assert r.json() == {
        "user": "technician",
        "name": "technician",
        "roles": ["technician"],
        "crew": None,
        "role": "technician",
        "via": "token",
    }
    assert web.post("/api/v1/auth/logout", headers=auth("operator")).status_code == 400
