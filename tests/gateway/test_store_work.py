"""The shared unit of work (gateway.store.work), the listener list and the rule state."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.clock import ManualClock
from gateway.store import journal as jr
from gateway.store import make_engine, migrate
from gateway.store.models import alarms, journal, meta
from gateway.store.rule_state import RuleStateStore
from gateway.store.work import Listeners, Stale, Tx, UnitOfWork
from tests.gateway.test_store import _alarm_row


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/work.db")
    migrate(eng)
    yield eng
    eng.dispose()


def _entry(tx: Tx, action: str) -> dict[str, object]:
    return jr.entry(at_ms=tx.now_ms, actor="t", action=action)


def _actions(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(journal.c.action).order_by(journal.c.id)).scalars())


def test_flush_hooks_then_journal_then_commit_calls(engine: sa.Engine) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test")
    seen: list[str] = []

    def op(tx: Tx) -> int:
        assert uow.current is tx
        tx.journal(_entry(tx, "first"))
        tx.on_flush(lambda: seen.append("flush"))
        tx.on_flush(lambda: tx.journal(_entry(tx, "from a hook")))
        tx.on_commit(lambda: seen.append(f"commit {_actions(engine)}"))
        return 7

    assert uow.run(op) == 7
    assert seen == ["flush", "commit ['first', 'from a hook']"]
    assert uow.current is None


@dataclass
class _Thing:
    id: int | None = None


def test_journal_takes_the_alarm_id_at_flush(engine: sa.Engine) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test")
    thing = _Thing()

    def op(tx: Tx) -> None:
        tx.journal(_entry(tx, "raise"), alarm=thing)  # id unknown yet
        thing.id = tx.conn.execute(
            sa.insert(alarms).values(_alarm_row()).returning(alarms.c.id)
        ).scalar_one()

    uow.run(op)
    with engine.connect() as conn:
        assert conn.execute(sa.select(journal.c.alarm_id)).scalar_one() == thing.id


@pytest.mark.parametrize("error", [Stale("old"), IntegrityError("x", {}, Exception("dup"))])
def test_a_racing_writer_is_retried_and_rolled_back(engine: sa.Engine, error: Exception) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test", retries=3)
    attempts: list[int] = []
    retried: list[int] = []
    committed: list[int] = []

    def op(tx: Tx) -> str:
        attempts.append(tx.attempt)
        tx.journal(_entry(tx, f"try {tx.attempt}"))
        tx.on_commit(lambda: committed.append(tx.attempt))
        tx.conn.execute(sa.update(meta).values(value=meta.c.value + 1))
        if tx.attempt < 2:
            raise error
        return "done"

    assert uow.run(op, on_retry=lambda tx: retried.append(tx.attempt)) == "done"
    assert attempts == [0, 1, 2] and retried == [1, 2] and committed == [2]
    assert _actions(engine) == ["try 2"]  # the failed attempts left nothing
    with engine.connect() as conn:
        assert conn.execute(sa.select(meta.c.value)).scalar_one() == 1


def test_the_last_attempt_raises_and_nothing_is_told(engine: sa.Engine) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test", retries=2)
    told: list[str] = []

    def op(tx: Tx) -> None:
        tx.on_commit(lambda: told.append("x"))
        raise Stale("always")

    with pytest.raises(Stale):
        uow.run(op)
    assert told == [] and uow.current is None


def test_other_errors_are_not_retried(engine: sa.Engine) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test")
    attempts: list[int] = []

    def op(tx: Tx) -> None:
        attempts.append(tx.attempt)
        raise ValueError("bad request")

    with pytest.raises(ValueError):
        uow.run(op)
    assert attempts == [0]


def test_a_failing_commit_call_is_logged_and_the_rest_run(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test")
    told: list[str] = []

    def boom() -> None:
        raise RuntimeError("listener bug")

    def op(tx: Tx) -> str:
        tx.on_commit(boom)
        tx.on_commit(lambda: told.append("after"))
        return "ok"

    with caplog.at_level(logging.ERROR):
        assert uow.run(op) == "ok"
    assert told == ["after"] and "after commit" in caplog.text


def test_no_operation_inside_another(engine: sa.Engine) -> None:
    uow = UnitOfWork(engine, ManualClock(), name="test")
    with pytest.raises(RuntimeError, match="already in progress"):
        uow.run(lambda tx: uow.run(lambda inner: None))
    assert uow.current is None


def test_listeners(caplog: pytest.LogCaptureFixture) -> None:
    ls: Listeners[[int, str]] = Listeners("thing")
    got: list[tuple[int, str]] = []

    def bad(n: int, s: str) -> None:
        raise RuntimeError("nope")

    ls.subscribe(bad)
    off = ls.subscribe(lambda n, s: got.append((n, s)))
    with caplog.at_level(logging.ERROR):
        ls.notify(1, "a")
    assert got == [(1, "a")] and "thing listener" in caplog.text
    off()
    off()  # twice is harmless
    ls.notify(2, "b")
    assert got == [(1, "a")] and len(ls) == 1


def test_rule_state_store(engine: sa.Engine) -> None:
    clock = ManualClock()
    store = RuleStateStore(engine, clock)
    assert store.load_rule_state() == {} and store.load_rule_state_parts("dev:") == {}
    store.save_rule_state({"t": 1.0, "bad": float("nan")})
    store.save_rule_state_parts({"dev:a": {"x": 1}, "dev:b": {"y": 2}, "dev_c": {"z": 3}})
    store.save_rule_state_parts({"dev:a": {"x": 9}})
    again = RuleStateStore(engine, clock)
    assert again.load_rule_state() == {"t": 1.0, "bad": "nan"}
    assert again.load_rule_state_parts("dev:") == {"dev:a": {"x": 9}, "dev:b": {"y": 2}}
