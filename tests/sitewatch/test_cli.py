"""``sitewatch run``'s start: the first-run admin made in a child process."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from gateway.clock import ManualClock
from gateway.people import People
from gateway.people.passwords import Passwords
from gateway.store import make_engine, migrate
from rules.vocab import Role
from sitewatch import cli


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[SimpleNamespace]:
    """What ``_ensure_admin`` uses of a runtime: its state store and its people."""
    db = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(db)
    cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield SimpleNamespace(db=db, people=People(db, ManualClock(), passwords=cheap))
    db.dispose()


def _admins(db: sa.Engine) -> list[object]:
    users = People(db, ManualClock()).users
    return [u for u in users.list(role=Role.ADMIN) if u.usable and u.has_password]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_first_run_admin_made_in_a_child(
    runtime: SimpleNamespace, capfd: pytest.CaptureFixture[str]
) -> None:
    pid = os.getpid()
    assert cli._ensure_admin(runtime) is None  # the child told the user itself
    assert os.getpid() == pid
    out = capfd.readouterr().out
    found = re.search(r"user 'admin' now has the password (\S+)", out)
    assert found is not None, out
    # made in the child, committed, seen here on the parent's own connections
    assert len(_admins(runtime.db)) == 1
    creds = runtime.people.users.credentials("admin")
    assert creds is not None and runtime.people.users.passwords.verify(creds[1], found.group(1))
    assert cli._ensure_admin(runtime) is None  # an admin can sign in: nothing to tell
    assert "password" not in capfd.readouterr().out


def test_a_child_that_fails_leaves_it_to_the_parent(
    runtime: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.db, "dispose", lambda close=True: 1 / 0)  # only the child calls it
    password = cli._ensure_admin(runtime)
    assert password is not None and len(_admins(runtime.db)) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_a_child_that_hangs_is_stopped_and_the_parent_does_it(
    runtime: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "ADMIN_CHILD_TIMEOUT_S", 0.5)
    monkeypatch.setattr(runtime.db, "dispose", lambda close=True: time.sleep(60))
    t0 = time.monotonic()
    password = cli._ensure_admin(runtime)
    assert time.monotonic() - t0 < 30
    assert password is not None and len(_admins(runtime.db)) == 1
