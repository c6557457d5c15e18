"""People sign in as themselves, end to end: a real in-process gateway (Mosquitto, SQLite
state, the HTTP API on a free port) on a :class:`ManualClock`, people talking to it over
HTTP with their own cookies (issue 9, contract section 6)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.clock import ManualClock
from tests.integration.runtime_harness import TOKENS, RuntimeHarness, running

pytestmark = pytest.mark.integration

S = 1000
PASSWORD = "a-password-of-one's-own"


@pytest.fixture
def h(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[RuntimeHarness]:
    clock = ManualClock(time.time())
    with running(tmp_path, mosquitto_url, unique_site, clock=clock) as harness:

        def people() -> None:
            assert harness.rt is not None
            users = harness.rt.people.users
            users.add("opa", roles="operator", name="Olga Operator")
            for uid in ("opa", "hvac-liu", "elec-sun"):
                users.set_password(uid, PASSWORD)

        harness.call(people, timeout=60)
        yield harness


class Person:
    """One person's browser: their own cookies, the CSRF token of their sign-in."""

    def __init__(self, h: RuntimeHarness, user: str, password: str = PASSWORD) -> None:
        self.http = httpx.Client(base_url=h.base, timeout=10.0)
        r = self.http.post("/api/v1/auth/login", json={"user": user, "password": password})
        assert r.status_code == 200, r.text
        self.csrf = {"X-CSRF-Token": r.json()["csrf_token"]}
        self.me = r.json()

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.csrf)


def failures(h: RuntimeHarness, reason: str) -> float:
    for line in h.http.get("/metrics").text.splitlines():
        if line.startswith(f'sitewatch_auth_failures_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_people_sign_in_act_as_themselves_and_are_journaled(h: RuntimeHarness) -> None:
    # the journal of an acknowledged alarm names the operator
    h.telemetry("lighting", "lt-office-01", {"lamp_fault": True}, ts=h.now_ms() - 5 * S)
    alarm = h.wait_alarm("lt-office-01", "lighting.lamp_failure")
    olga = Person(h, "opa")
    assert olga.me["roles"] == ["operator"]
    url = f"/api/v1/alarms/{alarm['id']}/ack"
    assert olga.http.post(url, json={"note": "x"}).status_code == 403  # no CSRF header
    forged = httpx.post(
        h.base + url, cookies={"sitewatch_session": "forged"}, headers={"X-CSRF-Token": "f"}
    )
    assert forged.status_code == 401 and forged.headers["WWW-Authenticate"] == "Bearer"
    assert h.get(f"/api/v1/alarms/{alarm['id']}")["state"] == "active_unacked"  # unchanged
    r = olga.post(url, {"note": "replacing it"})
    assert r.status_code == 200 and r.json()["acked_by"] == "opa"
    [ack] = [e for e in h.get(f"/api/v1/alarms/{alarm['id']}")["journal"] if e["action"] == "ack"]
    assert (ack["by"], ack["by_name"], ack["detail"]["via"]) == ("opa", "Olga Operator", "session")

    # a technician of another crew may not move an hvac ticket; one of the crew may
    t = h.post(
        "/api/v1/tickets",
        {
            "title": "noisy fan-coil",
            "category": "repair",
            "priority": "low",
            "device": "fcu-lobby-01",
        },
    ).json()
    assert t["crew"] == "hvac"
    move = f"/api/v1/tickets/{t['id']}/transition"
    sun = Person(h, "elec-sun")
    assert sun.post(move, {"to": "in_progress"}).status_code == 403
    assert h.get(f"/api/v1/tickets/{t['id']}")["status"] == t["status"]
    liu = Person(h, "hvac-liu")
    if t["status"] == "open":  # nobody was on duty: she takes it
        assert liu.post(move, {"to": "assigned"}).json()["assignee"] == "hvac-liu"
    r = liu.post(move, {"to": "in_progress"})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    last = h.get(f"/api/v1/tickets/{t['id']}")["journal"][-1]
    assert (last["by"], last["by_name"]) == ("hvac-liu", "刘洋 Liu Yang")
    # sign-out ends the session
    assert liu.post("/api/v1/auth/logout").status_code == 200
    assert liu.http.get("/api/v1/me").status_code == 401


def test_a_revoked_key_gets_401_at_once(h: RuntimeHarness) -> None:
    r = h.post("/api/v1/keys", {"name": "bms bridge", "roles": ["integrator"]}, role="admin")
    assert r.status_code == 201
    key = r.json()
    bearer = {"Authorization": f"Bearer {key['token']}"}
    assert h.http.get("/api/v1/alarms", headers=bearer).status_code == 200
    assert h.http.delete(f"/api/v1/keys/{key['id']}", headers=h.auth("admin")).status_code == 200
    r = h.http.get("/api/v1/alarms", headers=bearer)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    # the shared tokens of SITEWATCH_API_TOKENS keep working beside keys and sessions
    assert h.http.get("/api/v1/me", headers=h.auth("technician")).json()["via"] == "token"
    assert TOKENS["admin"] not in h.http.get("/metrics").text


def test_lock_out_after_ten_failures_released_after_five_minutes(h: RuntimeHarness) -> None:
    clock = h.clock
    assert isinstance(clock, ManualClock)
    for _ in range(10):
        r = h.http.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": "guessing"})
        assert r.status_code == 401
    r = h.http.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert r.status_code == 429 and r.headers["Retry-After"] == "300"
    assert failures(h, "wrong_pair") == 10 and failures(h, "locked") == 1
    clock.advance(299)
    r = h.http.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    clock.advance(1)
    r = h.http.post("/api/v1/auth/login", json={"user": "hvac-liu", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["name"] == "刘洋 Liu Yang"
