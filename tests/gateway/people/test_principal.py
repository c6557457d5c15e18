"""Who may move which ticket: the rule in one place."""

from __future__ import annotations

import pytest

from gateway.errors import Forbidden
from gateway.people import (
    LoginOk,
    People,
    Principal,
    Via,
    check_move,
    check_reassign,
    may_move_ticket,
    may_reassign,
    role_token_principal,
)
from rules.vocab import Role


def _p(user: str, *roles: Role, crew: str | None = None) -> Principal:
    return Principal(user, user, frozenset(roles), crew, Via.SESSION, "s-1")


TECH = _p("hvac-liu", Role.TECHNICIAN, crew="hvac")
LEAD = _p("hvac-zhang", Role.TECHNICIAN, Role.LEAD, crew="hvac")


@pytest.mark.parametrize(
    "who,crew,assignee,ok",
    [
        (TECH, "hvac", None, True),  # own crew, unassigned
        (TECH, "hvac", "hvac-li", True),  # own crew, a colleague's
        (TECH, "electrical", "hvac-liu", True),  # another crew, but assigned to them
        (TECH, "electrical", None, False),
        (TECH, "electrical", "elec-sun", False),
        (LEAD, "hvac", "hvac-liu", True),
        (LEAD, "security", None, False),
        (_p("elec-sun", Role.TECHNICIAN, crew="electrical"), "hvac", "hvac-liu", False),
        (_p("t0", Role.TECHNICIAN), "hvac", None, False),  # a technician of no crew
        (_p("op", Role.OPERATOR), "hvac", None, True),
        (_p("ad", Role.ADMIN), "security", "sec-chen", True),
        (_p("mgr", Role.MANAGER, crew="hvac"), "hvac", None, False),
        (_p("v", Role.VIEWER), "hvac", None, False),
        (_p("i", Role.INTEGRATOR), "hvac", None, False),
        (_p("v2", Role.VIEWER), "hvac", "v2", False),  # assigned, but not a technician
    ],
)
def test_may_move_ticket(who: Principal, crew: str, assignee: str | None, ok: bool) -> None:
    assert may_move_ticket(who, crew, assignee) is ok
    if ok:
        check_move(who, 7, crew, assignee)
    else:
        with pytest.raises(Forbidden, match="may not move ticket 7"):
            check_move(who, 7, crew, assignee)


def test_may_reassign() -> None:
    assert may_reassign(LEAD, "hvac", "hvac")
    assert not may_reassign(LEAD, "hvac", "electrical")
    assert not may_reassign(LEAD, "electrical", "electrical")
    assert not may_reassign(TECH, "hvac", "hvac")
    assert may_reassign(_p("op", Role.OPERATOR), "hvac", "electrical")
    with pytest.raises(Forbidden, match="reassign"):
        check_reassign(TECH, 3, "hvac", "hvac")


def test_two_technicians_of_one_crew(people: People) -> None:
    """From sign-in to the rule: each technician of the hvac crew may move its tickets,
    an electrician may not."""
    pw = "correct horse battery"
    who = {}
    for uid in ("hvac-liu", "hvac-li", "elec-sun"):
        people.users.set_password(uid, pw)
        got = people.login.authenticate(uid, pw, "10.0.0.1")
        assert isinstance(got, LoginOk)
        who[uid] = people.sessions.principal(got.new.token)
    assert may_move_ticket(who["hvac-liu"], "hvac", "hvac-li")
    assert may_move_ticket(who["hvac-li"], "hvac", "hvac-liu")
    assert not may_move_ticket(who["elec-sun"], "hvac", "hvac-liu")
    assert who["hvac-liu"].audit() == {
        "by": "hvac-liu",
        "by_name": "刘洋 Liu Yang",
        "via": "session",
        "via_id": who["hvac-liu"].via_id,
    }


def test_role_token_principal() -> None:
    p = role_token_principal("operator")
    assert p.via is Via.TOKEN and p.roles == {Role.OPERATOR} and p.user == "operator"
    assert p.me() == {"user": "operator", "name": "operator", "roles": ["operator"], "crew": None}
    with pytest.raises(ValueError):
        role_token_principal("root")
