"""Fixtures of the sign-in tests of the HTTP layer (``people_db``, ``people_rt``, ``web``):
the API's fake runtime with a real :class:`gateway.people.People` over a migrated SQLite
store and the runtime's manual clock, a cheap Argon2 (one pass, 1 MiB), and a password
(:data:`tests.api.people_fixtures.PASSWORD`) for a few people of the demo site's crews.
Tests that do not name these fixtures never build them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from gateway.people import People
from gateway.people.passwords import Passwords
from gateway.site import load_site
from gateway.store import make_engine, migrate
from tests.api.fakes import FakeRuntime, make_app
from tests.api.people_fixtures import PASSWORD


@pytest.fixture
def people_db(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/people.db")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def people_rt(people_db: sa.Engine) -> FakeRuntime:
    runtime = FakeRuntime()
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    people = People(people_db, runtime.clock, passwords=Passwords(hasher))
    people.users.sync_from_site(load_site())
    people.users.add("opa", roles="operator", name="Olga Operator", password=PASSWORD)
    people.users.add("boss", roles="admin", name="Ada Admin", password=PASSWORD)
    for uid in ("hvac-zhang", "hvac-liu", "elec-wang"):
        people.users.set_password(uid, PASSWORD)
    runtime.people = people  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def web(people_rt: FakeRuntime) -> Iterator[TestClient]:
    app, _ = make_app(people_rt)
    with TestClient(app) as c:
        yield c
