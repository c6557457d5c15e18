"""Migration 0003 (users, sessions, API keys, sign-in throttle) on SQLite and on a real
PostgreSQL: it applies, matches the models, goes down and up again, and the people
services work on it.

The PostgreSQL tests work in a schema of their own (dropped at the end), on
``SITEWATCH_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``),
and are skipped when the server cannot be reached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from gateway.clock import ManualClock
from gateway.people import LoginOk, People
from gateway.people.passwords import Passwords
from gateway.site import load_site
from gateway.store import alembic_config, current_revision, head_revision, make_engine, migrate
from gateway.store import models as m
from gateway.store.models import Base
from tests.pg import PG_URL, private_schema

PEOPLE_TABLES = {"users", "sessions", "api_keys", "login_throttle"}
PW = "correct horse battery"


def _check_schema(eng: sa.Engine, schema: str | None = None) -> None:
    assert current_revision(eng) == head_revision()
    assert PEOPLE_TABLES <= set(sa.inspect(eng).get_table_names(schema=schema))
    with eng.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(mc, Base.metadata) == []


def _down_and_up(eng: sa.Engine, schema: str | None = None) -> None:
    with eng.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "0002")
    names = set(sa.inspect(eng).get_table_names(schema=schema))
    assert not PEOPLE_TABLES & names and {"alarms", "tickets"} <= names
    migrate(eng)
    _check_schema(eng, schema)


def _exercise(eng: sa.Engine, passwords: Passwords) -> None:
    clock = ManualClock()
    people = People(eng, clock, passwords=passwords)
    assert people.users.sync_from_site(load_site()).added
    assert not people.users.sync_from_site(load_site()).changed
    people.users.set_password("hvac-liu", PW)
    got = people.login.authenticate("hvac-liu", PW, "10.0.0.1")
    assert isinstance(got, LoginOk)
    assert people.sessions.principal(got.new.token).crew == "hvac"
    for i in range(10):
        people.login.authenticate("hvac-zhang", f"guess-{i:03d}", "10.0.0.2")
    assert people.lockout.check("hvac-zhang", None) == 300
    key = people.keys.create("bms", ["integrator"])
    people.keys.revoke(key.key.id)
    assert [k.revoked_at_ms for k in people.keys.list()] == [clock.now_ms()]
    # deleting a user takes its sessions with it (foreign key, ON DELETE CASCADE)
    with eng.begin() as conn:
        conn.execute(sa.delete(m.users).where(m.users.c.id == "hvac-liu"))
    with eng.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(m.sessions)).scalar() == 0
    # a session for a user that does not exist is refused by the database
    with pytest.raises(IntegrityError), eng.begin() as conn:
        conn.execute(
            sa.insert(m.sessions).values(
                id="s-x",
                token_hash="0" * 64,
                csrf_hash="0" * 64,
                user_id="ghost",
                created_at_ms=1,
                last_seen_ms=1,
                expires_at_ms=2,
            )
        )


def test_sqlite(tmp_path: Path, passwords: Passwords) -> None:
    eng = make_engine(f"sqlite:///{tmp_path}/s.db")
    with eng.begin() as conn:
        command.upgrade(alembic_config(connection=conn), "0002")
    migrate(eng)  # 0002 -> 0003 on an existing store
    _check_schema(eng)
    _down_and_up(eng)
    _exercise(eng, passwords)
    eng.dispose()


@pytest.fixture(scope="module")
def pg_schema() -> Iterator[str]:
    with private_schema("sw_people_") as name:
        yield name


@pytest.mark.integration
def test_postgresql(pg_schema: str, passwords: Passwords) -> None:
    eng = make_engine(PG_URL, schema=pg_schema)
    try:
        migrate(eng)
        _check_schema(eng, pg_schema)
        _down_and_up(eng, pg_schema)
        _exercise(eng, passwords)
        _racing_failures(eng, passwords)
    finally:
        eng.dispose()


def _racing_failures(eng: sa.Engine, passwords: Passwords) -> None:
    """Failed sign-ins for one user from several threads at once: every one counted (row
    lock, retried first insert), the lock set once the limit is reached."""
    clock = ManualClock()
    people = People(eng, clock, passwords=passwords)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            barrier.wait()
            for _ in range(2):
                people.lockout.failed("racer", f"10.1.0.{n}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with eng.connect() as conn:
        fails = conn.execute(
            sa.select(m.login_throttle.c.failures).where(
                m.login_throttle.c.kind == "user", m.login_throttle.c.key == "racer"
            )
        ).scalar_one()
    assert len(fails) == 8
    people.lockout.failed("racer", None)
    people.lockout.failed("racer", None)
    assert people.lockout.check("racer", None) == 300
