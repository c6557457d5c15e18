"""Fixtures of the people tests: a migrated SQLite store, a manual clock, and a cheap
Argon2 (one pass, 1 MiB) so dozens of sign-ins stay fast; one test checks the default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from gateway.clock import ManualClock
from gateway.people import People
from gateway.people.passwords import Passwords
from gateway.site import load_site
from gateway.store import make_engine, migrate


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/people.db")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def people(db: sa.Engine, clock: ManualClock, passwords: Passwords) -> People:
    p = People(db, clock, passwords=passwords)
    p.users.sync_from_site(load_site())
    return p
