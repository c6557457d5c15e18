"""API keys: shown once, stored hashed, refused at once when revoked or expired."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.errors import Invalid, NotFound
from gateway.people import People, Principal, Unauthenticated, Via
from gateway.store import models as m
from rules.vocab import Role


def test_create_lookup_and_list(people: People, db: sa.Engine) -> None:
    new = people.keys.create("bms-bridge", ["integrator", "viewer"], by="admin")
    assert new.token.startswith("swk_") and len(new.token) > 40
    key = people.keys.lookup(new.token)
    assert key.id == new.key.id and key.roles == (Role.VIEWER, Role.INTEGRATOR)
    assert people.keys.principal(new.token) == Principal(
        f"key:{key.id}",
        "bms-bridge",
        frozenset({Role.VIEWER, Role.INTEGRATOR}),
        None,
        Via.KEY,
        key.id,
    )
    assert people.bearer(new.token).via_id == key.id
    listed = [k.public() for k in people.keys.list()]
    assert [k["id"] for k in listed] == [key.id] and listed[0]["created_by"] == "admin"
    with db.connect() as conn:
        stored = repr([dict(r) for r in conn.execute(sa.select(m.api_keys)).mappings()])
    assert new.token not in stored and new.token not in repr(listed)
    assert new.token not in repr(new)


def test_revoked_key_refused_at_once(people: People, clock: ManualClock) -> None:
    new = people.keys.create("script", ["operator"])
    other = people.keys.create("other", ["viewer"])
    people.keys.lookup(new.token)
    revoked = people.keys.revoke(new.key.id)
    assert revoked.revoked_at_ms == clock.now_ms()
    with pytest.raises(Unauthenticated, match="revoked"):
        people.keys.lookup(new.token)
    with pytest.raises(Unauthenticated, match="revoked"):
        people.bearer(new.token)
    assert people.keys.lookup(other.token).id == other.key.id
    assert people.keys.revoke(new.key.id).revoked_at_ms == revoked.revoked_at_ms
    assert [k.id for k in people.keys.list(include_revoked=False)] == [other.key.id]
    with pytest.raises(NotFound):
        people.keys.revoke("k-nope")


def test_expired_key_refused_at_once(people: People, clock: ManualClock) -> None:
    new = people.keys.create("temp", ["viewer"], expires_at_ms=clock.now_ms() + 60_000)
    clock.advance(59.999)
    assert people.keys.lookup(new.token).name == "temp"
    clock.advance(0.001)
    with pytest.raises(Unauthenticated, match="expired"):
        people.keys.lookup(new.token)
    with pytest.raises(Invalid, match="past"):
        people.keys.create("late", ["viewer"], expires_at_ms=clock.now_ms())


def test_bad_keys(people: People) -> None:
    people.keys.create("script", ["operator"])
    for token in (None, "", "swk_forged", "no-prefix", "swk_" + "a" * 400):
        with pytest.raises(Unauthenticated):
            people.keys.lookup(token)
    with pytest.raises(Unauthenticated):
        people.bearer("a.b.c")  # looks like an ID token, but no single sign-on configured
    with pytest.raises(Invalid):
        people.keys.create("", ["viewer"])
    with pytest.raises(Invalid):
        people.keys.create("x", ["root"])


def test_last_used(people: People, clock: ManualClock) -> None:
    new = people.keys.create("script", ["operator"])
    assert people.keys.get(new.key.id).last_used_ms is None
    people.keys.lookup(new.token)
    first = clock.now_ms()
    clock.advance(30)
    people.keys.lookup(new.token)
    assert people.keys.get(new.key.id).last_used_ms == first  # at most once a minute
    clock.advance(30)
    people.keys.lookup(new.token)
    assert people.keys.get(new.key.id).last_used_ms == clock.now_ms()
