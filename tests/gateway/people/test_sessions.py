"""Sessions: idle timeout on the injected clock, CSRF, sign-out, ended by disabling or a
new password, stored hashed, bounded per user."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.errors import Forbidden
from gateway.people import LoginOk, NewSession, People, Unauthenticated
from gateway.people.passwords import Passwords
from gateway.people.sessions import SessionService
from gateway.store import models as m

PW = "correct horse battery"
HOUR = 3600.0


def _sign_in(people: People, user: str = "hvac-liu") -> NewSession:
    people.users.set_password(user, PW)
    got = people.login.authenticate(user, PW, "10.0.0.5")
    assert isinstance(got, LoginOk)
    return got.new


def test_idle_expiry(people: People, clock: ManualClock) -> None:
    new = _sign_in(people)
    assert new.session.expires_at_ms == new.session.created_at_ms + int(12 * HOUR * 1000)
    clock.advance(12 * HOUR - 1)
    s = people.sessions.lookup(new.token)  # used just in time: the idle clock restarts
    assert s.last_seen_ms == clock.now_ms()
    clock.advance(12 * HOUR - 1)
    assert people.sessions.lookup(new.token).id == new.session.id
    clock.advance(12 * HOUR)
    with pytest.raises(Unauthenticated, match="expired"):
        people.sessions.lookup(new.token)
    with pytest.raises(Unauthenticated, match="not signed in"):  # and it is gone
        people.sessions.lookup(new.token)


def test_idle_timeout_is_configurable(
    db: sa.Engine, clock: ManualClock, passwords: Passwords
) -> None:
    people = People(db, clock, idle_s=600, passwords=passwords)
    people.users.add("op1", roles=["operator"])
    new = people.sessions.create(people.users.get("op1"))
    clock.advance(599)
    people.sessions.lookup(new.token)
    clock.advance(600)
    with pytest.raises(Unauthenticated, match="expired"):
        people.sessions.lookup(new.token)


def test_last_seen_written_at_most_once_a_minute(people: People, clock: ManualClock) -> None:
    new = _sign_in(people)
    clock.advance(30)
    assert people.sessions.lookup(new.token).last_seen_ms == new.session.created_at_ms
    clock.advance(30)
    assert people.sessions.lookup(new.token).last_seen_ms == clock.now_ms()


def test_forged_or_missing_token(people: People) -> None:
    _sign_in(people)
    for token in (None, "", "forged-cookie-value", "x" * 5000):
        with pytest.raises(Unauthenticated):
            people.sessions.lookup(token)


def test_csrf(people: People) -> None:
    new = _sign_in(people)
    p, s = people.session(new.token, csrf=new.csrf_token, need_csrf=True)
    assert p.user == "hvac-liu" and s.csrf_ok(new.csrf_token)
    assert people.session(new.token)[0].user == "hvac-liu"  # a read needs no CSRF token
    for bad in (None, "", new.token, new.csrf_token + "x"):
        with pytest.raises(Forbidden, match="CSRF"):
            people.session(new.token, csrf=bad, need_csrf=True)


def test_sign_out(people: People) -> None:
    one, two = _sign_in(people), _sign_in(people, "hvac-zhang")
    assert people.sessions.end(one.token)
    assert not people.sessions.end(one.token)
    with pytest.raises(Unauthenticated):
        people.sessions.lookup(one.token)
    assert people.sessions.lookup(two.token).user.id == "hvac-zhang"


def test_disable_and_new_password_end_sessions(people: People) -> None:
    a = _sign_in(people)
    people.users.disable("hvac-liu")
    with pytest.raises(Unauthenticated):
        people.sessions.lookup(a.token)
    people.users.update("hvac-liu", active=True)
    b = _sign_in(people)  # sets the password again: ends b's predecessors too
    c = people.login.authenticate("hvac-liu", PW, None)
    assert isinstance(c, LoginOk)
    people.users.set_password("hvac-liu", "another long password")
    for new in (b, c.new):
        with pytest.raises(Unauthenticated):
            people.sessions.lookup(new.token)


def test_tokens_stored_hashed(people: People, db: sa.Engine) -> None:
    new = _sign_in(people)
    with db.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(m.sessions)).mappings()]
    assert len(rows) == 1
    flat = repr(rows)
    assert new.token not in flat and new.csrf_token not in flat
    assert len(rows[0]["token_hash"]) == 64 and rows[0]["id"] == new.session.id


def test_sessions_per_user_bounded(db: sa.Engine, clock: ManualClock, passwords: Passwords) -> None:
    people = People(db, clock, passwords=passwords)
    people.users.add("op1", roles=["operator"])
    svc = SessionService(db, clock, max_per_user=3)
    user = people.users.get("op1")
    made = []
    for _ in range(5):
        made.append(svc.create(user))
        clock.advance(120)
    assert [s.id for s in svc.list_for("op1")] == [n.session.id for n in made[:1:-1]]
    with pytest.raises(Unauthenticated):
        svc.lookup(made[0].token)
    assert svc.lookup(made[-1].token).user.id == "op1"


def test_purge(people: People, clock: ManualClock) -> None:
    _sign_in(people)
    clock.advance(HOUR)
    _sign_in(people, "hvac-zhang")
    clock.advance(11.5 * HOUR)
    assert people.sessions.purge() == 1
    assert people.sessions.list_for("hvac-liu") == []
    assert len(people.sessions.list_for("hvac-zhang")) == 1
