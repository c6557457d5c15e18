"""Lock-out: 10 failures in 5 minutes per user or per address lock for 5 minutes (429 with
Retry-After), released on the injected clock; a success clears the user's count."""

from __future__ import annotations

import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.people import LoginFailed, LoginFailure, LoginOk, People
from gateway.people.lockout import Lockout
from gateway.store import models as m

PW = "correct horse battery"


def _fail(people: People, user: str, addr: str, n: int) -> list[LoginFailed]:
    out = []
    for i in range(n):
        got = people.login.authenticate(user, f"guess-{i:04d}", addr)
        assert isinstance(got, LoginFailed)
        out.append(got)
    return out


def test_lock_per_user_and_release(people: People, clock: ManualClock) -> None:
    people.users.set_password("hvac-liu", PW)
    # ten failures from ten addresses: the user is locked, no address is
    for i in range(10):
        clock.advance(10 if i else 0)
        (got,) = _fail(people, "hvac-liu", f"10.0.0.{i}", 1)
        assert got.reason is LoginFailure.WRONG_PAIR and got.status == 401
    assert got.retry_after_s == 300  # the tenth failure starts the lock
    locked = people.login.authenticate("hvac-liu", PW, "10.0.1.1")  # even the right one
    assert isinstance(locked, LoginFailed) and locked.reason is LoginFailure.LOCKED
    assert locked.status == 429 and locked.retry_after_s == 300
    assert people.lockout.check("hvac-liu", "10.0.1.1") == 300
    assert people.lockout.check("hvac-zhang", "10.0.0.1") == 0  # others are not locked
    clock.advance(299.5)
    assert people.lockout.check("hvac-liu", None) == 1
    clock.advance(0.5)
    assert people.lockout.check("hvac-liu", None) == 0
    assert people.login.authenticate("hvac-liu", PW, "10.0.1.1").ok


def test_lock_per_address(people: People, clock: ManualClock) -> None:
    people.users.set_password("hvac-zhang", PW)
    users = [f"user{i}" for i in range(10)]
    for u in users:  # one address tries ten different user ids
        _fail(people, u, "203.0.113.9", 1)
        clock.advance(1)
    got = people.login.authenticate("hvac-zhang", PW, "203.0.113.9")
    assert isinstance(got, LoginFailed) and got.reason is LoginFailure.LOCKED
    assert got.retry_after_s == 299  # locked at the tenth failure, a second ago
    # the same user from another address is fine: it is the address that is locked
    assert people.login.authenticate("hvac-zhang", PW, "198.51.100.7").ok
    clock.advance(298)
    assert people.lockout.check(None, "203.0.113.9") == 1
    clock.advance(1)
    assert people.login.authenticate("hvac-zhang", PW, "203.0.113.9").ok


def test_sliding_window(people: People, clock: ManualClock) -> None:
    _fail(people, "hvac-liu", "10.0.0.1", 9)
    clock.advance(301)  # those nine are older than five minutes now
    got = _fail(people, "hvac-liu", "10.0.0.1", 9)
    assert all(g.retry_after_s == 0 for g in got)
    assert people.lockout.check("hvac-liu", "10.0.0.1") == 0
    (tenth,) = _fail(people, "hvac-liu", "10.0.0.1", 1)
    assert tenth.retry_after_s == 300


def test_success_clears_the_users_count(people: People, clock: ManualClock) -> None:
    people.users.set_password("hvac-liu", PW)
    _fail(people, "hvac-liu", "10.0.0.1", 9)
    assert isinstance(people.login.authenticate("hvac-liu", PW, "10.0.0.2"), LoginOk)
    got = _fail(people, "hvac-liu", "10.0.0.3", 9)
    assert all(g.retry_after_s == 0 for g in got)
    assert people.lockout.check("hvac-liu", None) == 0
    # but not the address's: 9 failures from 10.0.0.1 stand, one more locks it
    (tenth,) = _fail(people, "someone", "10.0.0.1", 1)
    assert tenth.retry_after_s == 300


def test_lock_survives_a_restart(people: People, db: sa.Engine, clock: ManualClock) -> None:
    _fail(people, "hvac-liu", "10.0.0.1", 10)
    fresh = Lockout(db, clock)  # a new gateway process on the same store
    assert fresh.check("hvac-liu", None) == 300
    assert fresh.check(None, "10.0.0.1") == 300


def test_rows_bounded_and_purged(people: People, db: sa.Engine, clock: ManualClock) -> None:
    _fail(people, "hvac-liu", "10.0.0.1", 10)
    _fail(people, "not a valid id at all", "10.0.0.2", 3)  # counted per address only
    with db.connect() as conn:
        rows = {(r.kind, r.key): r for r in conn.execute(sa.select(m.login_throttle))}
    assert set(rows) == {("user", "hvac-liu"), ("addr", "10.0.0.1"), ("addr", "10.0.0.2")}
    assert all(len(r.failures) <= 10 for r in rows.values())
    clock.advance(299)
    assert people.lockout.purge() == 0  # still locked / within the window
    clock.advance(2)
    assert people.lockout.purge() == 3
    assert people.lockout.check("hvac-liu", "10.0.0.1") == 0
