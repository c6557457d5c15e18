"""Password sign-in: right and wrong pairs, unknown and disabled users, Argon2 itself,
and no secret in any log line."""

from __future__ import annotations

import logging
import time

import pytest
from argon2 import PasswordHasher

from gateway.errors import Invalid
from gateway.people import LoginFailed, LoginFailure, LoginOk, People, Principal, Via
from gateway.people.passwords import Passwords
from rules.vocab import Role

PW = "correct horse battery"


def test_default_hasher_is_argon2id() -> None:
    pw = Passwords()
    hashed = pw.hash(PW)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert pw.verify(hashed, PW)
    assert not pw.verify(hashed, PW + "!")
    assert not pw.verify(None, PW)
    assert not pw.needs_rehash(hashed)
    assert pw.needs_rehash(Passwords(PasswordHasher(time_cost=1)).hash(PW))
    with pytest.raises(Invalid):
        pw.hash("x" * 7)
    with pytest.raises(Invalid):
        pw.hash("x" * 1025)


def test_set_and_verify_password(people: People) -> None:
    people.users.set_password("hvac-liu", PW)
    got = people.login.authenticate("hvac-liu", PW, "10.0.0.5")
    assert isinstance(got, LoginOk)
    assert got.user.id == "hvac-liu" and got.new.session.user.id == "hvac-liu"
    body = got.body()
    assert body["user"] == "hvac-liu" and body["roles"] == ["technician"]
    assert body["csrf_token"] == got.new.csrf_token and got.new.session.addr == "10.0.0.5"
    p = people.sessions.principal(got.new.token)
    assert p == Principal(
        "hvac-liu",
        "刘洋 Liu Yang",
        frozenset({Role.TECHNICIAN}),
        "hvac",
        Via.SESSION,
        got.new.session.id,
    )


@pytest.mark.parametrize(
    "user,password",
    [
        ("hvac-liu", PW + "x"),  # wrong password
        ("hvac-liu", ""),  # empty password
        ("nobody", PW),  # unknown user
        ("hvac-zhang", PW),  # a user without a password yet
        ("not a user id!", PW),  # not even an id
    ],
)
def test_wrong_pair(people: People, user: str, password: str) -> None:
    people.users.set_password("hvac-liu", PW)
    got = people.login.authenticate(user, password, "10.0.0.5")
    assert isinstance(got, LoginFailed)
    assert got.reason is LoginFailure.WRONG_PAIR and got.status == 401
    assert got.message == "wrong user or password"  # the same words whatever went wrong


def test_disabled_user(people: People) -> None:
    people.users.set_password("hvac-liu", PW)
    people.users.disable("hvac-liu")
    got = people.login.authenticate("hvac-liu", PW, "10.0.0.5")
    assert isinstance(got, LoginFailed) and got.reason is LoginFailure.DISABLED
    assert got.status == 403
    # a wrong password for a disabled user says nothing about the account
    wrong = people.login.authenticate("hvac-liu", "guessing-1", "10.0.0.5")
    assert isinstance(wrong, LoginFailed) and wrong.reason is LoginFailure.WRONG_PAIR


def test_unknown_user_costs_a_hash() -> None:
    """The unknown-user path does the Argon2 work of a real one (constant-time path)."""
    pw = Passwords()
    hashed = pw.hash(PW)

    def took(fn: object) -> float:
        t0 = time.perf_counter()
        for _ in range(3):
            fn()  # type: ignore[operator]
        return time.perf_counter() - t0

    real = took(lambda: pw.verify(hashed, "wrong password"))
    unknown = took(lambda: pw.verify(None, "wrong password"))
    nothing = took(lambda: None)
    assert unknown > 0.3 * real and unknown > 100 * nothing


def test_outdated_hash_upgraded_on_sign_in(people: People) -> None:
    old = Passwords(PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1))
    people.users.set_password("hvac-liu", PW)  # hashed with the fixture's t=1
    people.users.passwords = old  # the gateway now wants t=2
    before = people.users.credentials("hvac-liu")
    assert before is not None and before[1] is not None and ",t=1," in before[1]
    assert people.login.authenticate("hvac-liu", PW, None).ok
    after = people.users.credentials("hvac-liu")
    assert after is not None and after[1] is not None and ",t=2," in after[1]
    assert people.login.authenticate("hvac-liu", PW, None).ok


def test_no_secret_in_the_log(people: People, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    people.users.set_password("hvac-liu", PW)
    ok = people.login.authenticate("hvac-liu", PW, "10.0.0.5")
    assert isinstance(ok, LoginOk)
    # a password typed into the user box is not logged either
    people.login.authenticate("Tr0ub4dor-3", "x", "10.0.0.5")
    people.sessions.lookup(ok.new.token)
    people.sessions.end(ok.new.token)
    key = people.keys.create("bms", ["integrator"], by="admin")
    people.keys.lookup(key.token)
    admin_pw = people.users.ensure_admin()
    assert admin_pw
    secrets = [PW, ok.new.token, ok.new.csrf_token, key.token, admin_pw, "Tr0ub4dor-3"]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "signed in" in text and "API key" in text
    for s in secrets:
        assert s not in text
    for value in (ok, ok.new, key):
        assert ok.new.token not in repr(value) and key.token not in repr(value)
