"""Who may move which ticket, and the journal naming who did it: the HTTP layer over the
real alarm, ticket and people services (SQLite in a temp dir, the demo site, the default
rule pack, the fake runtime's manual clock: 2026-01-01 08:00 site time, a Thursday)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.alarms import AlarmService
from gateway.errors import Forbidden
from gateway.people import Principal, Via, role_token_principal
from gateway.site import load_site
from gateway.tickets import TicketService
from gateway.tickets.rights import check_rights
from rules import load_default_pack
from rules.model import RuleHit
from rules.vocab import Role
from tests.api.fakes import FakeRuntime, auth
from tests.api.people_fixtures import PASSWORD, sign_in

SITE = load_site()
SPECS = load_default_pack().specs


@pytest.fixture
def services(people_rt: FakeRuntime, people_db: sa.Engine) -> FakeRuntime:
    alarms = AlarmService(people_db, SPECS, people_rt.clock, SITE)
    people_rt.alarms = alarms  # type: ignore[assignment]
    people_rt.tickets = TicketService(  # type: ignore[assignment]
        people_db, SPECS, people_rt.clock, SITE, alarms=alarms
    )
    people = people_rt.people  # type: ignore[attr-defined]
    for uid in ("hvac-li", "elec-sun"):
        people.users.set_password(uid, PASSWORD)
    people.users.add("boss2", roles="manager", name="Mia Manager", password=PASSWORD)
    return people_rt


def _client(rt: FakeRuntime, web: TestClient, user: str) -> tuple[TestClient, dict[str, str]]:
    c = TestClient(web.app)
    return c, sign_in(c, user)


def _repair(web: TestClient, device: str) -> dict[str, Any]:
    r = web.post(
        "/api/v1/tickets",
        json={
            "title": f"{device} noisy",
            "category": "repair",
            "priority": "medium",
            "device": device,
        },
        headers=auth("operator"),
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


def test_technicians_move_what_they_may(services: FakeRuntime, web: TestClient) -> None:
    hvac = _repair(web, "fcu-lobby-01")
    elec = _repair(web, "lt-lobby-01")
    assert (hvac["crew"], elec["crew"]) == ("hvac", "electrical")
    assert hvac["status"] == "assigned" and hvac["assignee"] in ("hvac-zhang", "hvac-liu")
    liu, liu_h = _client(services, web, "hvac-liu")
    li, li_h = _client(services, web, "hvac-li")
    sun, sun_h = _client(services, web, "elec-sun")

    # "my tickets": each technician sees the tickets assigned to them
    mine = {c: c.get("/api/v1/tickets?assignee=me").json() for c in (liu, li)}
    assert all(t["assignee"] == "hvac-liu" for t in mine[liu]["items"])
    assert mine[li]["total"] == 0
    crew = liu.get("/api/v1/tickets?crew=me").json()["items"]
    assert [t["id"] for t in crew] == [hvac["id"]]

    # another crew's technician: 403, nothing changed
    move = f"/api/v1/tickets/{hvac['id']}/transition"
    r = sun.post(move, json={"to": "in_progress"}, headers=sun_h)
    assert r.status_code == 403 and "elec-sun may not move" in r.json()["detail"]
    assert web.get(f"/api/v1/tickets/{hvac['id']}", headers=auth("viewer")).json()["status"] == (
        "assigned"
    )
    r = liu.post(
        f"/api/v1/tickets/{elec['id']}/transition", json={"to": "in_progress"}, headers=liu_h
    )
    assert r.status_code == 403
    # a technician who is no lead may not hand it to another
    r = liu.post(move, json={"to": "assigned", "assignee": "hvac-li"}, headers=liu_h)
    assert r.status_code == 403
    # the lead reassigns within the crew, not outside it
    zhang, zhang_h = _client(services, web, "hvac-zhang")
    r = zhang.post(move, json={"to": "assigned", "assignee": "elec-sun"}, headers=zhang_h)
    assert r.status_code == 403
    r = zhang.post(move, json={"to": "assigned", "assignee": "hvac-li"}, headers=zhang_h)
    assert r.status_code == 200 and r.json()["assignee"] == "hvac-li"
    # now it is hvac-li's: they see it as theirs and start it
    assert [t["id"] for t in li.get("/api/v1/tickets?assignee=me").json()["items"]] == [hvac["id"]]
    r = li.post(move, json={"to": "in_progress"}, headers=li_h)
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
    # a manager reads everything and moves nothing
    boss, boss_h = _client(services, web, "boss2")
    assert boss.get("/api/v1/tickets").json()["total"] == 2
    assert boss.post(move, json={"to": "in_progress"}, headers=boss_h).status_code == 403

    journal = web.get(f"/api/v1/tickets/{hvac['id']}", headers=auth("viewer")).json()["journal"]
    moves = [e for e in journal if e["action"] == "transition"]
    assert [(e["by"], e["by_name"], e["detail"]["via"]) for e in moves] == [
        ("hvac-zhang", "张伟 Zhang Wei", "session"),
        ("hvac-li", "李强 Li Qiang", "session"),
    ]
    assert all(e["detail"]["via_id"].startswith("s-") for e in moves)
    create = next(e for e in journal if e["action"] == "create")
    assert (create["by"], create["by_name"], create["detail"]["via"]) == (
        "operator",
        "operator",
        "token",
    )


def test_the_journal_of_an_acknowledged_alarm_names_the_operator(
    services: FakeRuntime, web: TestClient
) -> None:
    alarms: AlarmService = services.alarms  # type: ignore[assignment]
    hit = RuleHit(
        rule="lighting.lamp_failure",
        site="sc01",
        system="lighting",
        device="lt-lobby-01",
        point=None,
        active=True,
        ts_ms=services.clock.now_ms() - 100,
        value=True,
        message="lamp failed",
    )
    alarm = alarms.apply(hit)
    assert alarm is not None
    csrf = sign_in(web, "opa")
    before = web.post(f"/api/v1/alarms/{alarm.id}/ack", json={"note": "on it"})
    assert before.status_code == 403  # no CSRF header: nothing changed
    assert web.get(f"/api/v1/alarms/{alarm.id}").json()["state"] == "active_unacked"
    r = web.post(f"/api/v1/alarms/{alarm.id}/ack", json={"note": "on it"}, headers=csrf)
    assert r.status_code == 200 and r.json()["acked_by"] == "opa"
    shelve = {"minutes": 30, "reason": "lamp ordered"}
    assert web.post(f"/api/v1/alarms/{alarm.id}/shelve", json=shelve, headers=csrf).is_success
    detail = web.get(f"/api/v1/alarms/{alarm.id}").json()
    entries = {e["action"]: e for e in detail["journal"]}
    ack = entries["ack"]
    assert (ack["by"], ack["by_name"], ack["reason"]) == ("opa", "Olga Operator", "on it")
    assert ack["detail"]["via"] == "session" and ack["detail"]["via_id"].startswith("s-")
    assert (entries["shelve"]["by"], entries["shelve"]["by_name"]) == ("opa", "Olga Operator")
    assert entries["raise"]["by"] == "system"


def _ticket(crew: str, assignee: str | None) -> Any:
    return SimpleNamespace(tid=7, crew=crew, assignee=assignee)


def _tech(user: str, crew: str, *roles: Role) -> Principal:
    return Principal(user, user, frozenset({Role.TECHNICIAN, *roles}), crew, Via.SESSION, "s-1")


def test_rights_of_a_move() -> None:
    crews = {"hvac-li": "hvac", "hvac-liu": "hvac", "elec-sun": "electrical"}
    li = _tech("hvac-li", "hvac")
    # taking an unassigned ticket of one's crew: oneself, named or not
    assert check_rights(li, _ticket("hvac", None), "assigned", None, crews) == "hvac-li"
    assert check_rights(li, _ticket("hvac", None), "assigned", "hvac-li", crews) == "hvac-li"
    # not a colleague's, not for a colleague, not another crew's
    with pytest.raises(Forbidden):
        check_rights(li, _ticket("hvac", "hvac-liu"), "assigned", "hvac-li", crews)
    with pytest.raises(Forbidden):
        check_rights(li, _ticket("hvac", None), "assigned", "hvac-liu", crews)
    with pytest.raises(Forbidden):
        check_rights(li, _ticket("electrical", None), "in_progress", None, crews)
    # assigned to them though of another crew: they may move it
    assert check_rights(li, _ticket("electrical", "hvac-li"), "in_progress", None, crews) is None
    # a lead lets the roster pick within the crew
    lead = _tech("hvac-zhang", "hvac", Role.LEAD)
    assert check_rights(lead, _ticket("hvac", "hvac-liu"), "assigned", None, crews) is None
    # a shared token names no person: its role's rights on every ticket
    token = role_token_principal("technician")
    assert check_rights(token, _ticket("security", "x"), "resolved", None, crews) is None
