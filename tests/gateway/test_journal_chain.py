"""The tamper-evident journal (issue 10): a hash chain, verified, never forked."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.store import journal as jr
from gateway.store import make_engine, migrate
from gateway.store.models import journal
from sitewatch.cli import main

T0 = 1_767_225_600_000


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = make_engine(_url(tmp_path))
    migrate(eng)
    return eng


def write(engine: sa.Engine, n: int, actor: str = "alice", start: int = 0) -> None:
    for i in range(start, start + n):
        with engine.begin() as conn:
            jr.append(
                conn,
                [
                    jr.entry(
                        at_ms=T0 + i,
                        actor=actor,
                        action="ack",
                        reason=f"note {i} «ü»",
                        ticket_id=i,
                        detail={"n": i, "x": [1.5, None, "s"], "nan": float("nan")},
                    ),
                    jr.entry(at_ms=T0 + i, actor="system", action="raise", rule="r", device="d"),
                ],
            )


def tamper(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER journal_no_update")
        conn.exec_driver_sql("DROP TRIGGER journal_no_delete")
        conn.exec_driver_sql(sql)


def test_entries_are_chained_and_verified(engine: sa.Engine, tmp_path: Path, capsys) -> None:
    write(engine, 10)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(journal).order_by(journal.c.id)).mappings().all()
        check = jr.verify(conn, batch=3)  # several pages
    assert len(rows) == 20 and all(len(r["hash"]) == 64 for r in rows)
    assert rows[0]["hash"] == jr.link(jr.GENESIS, rows[0])
    assert rows[1]["hash"] == jr.link(rows[0]["hash"], rows[1])
    assert check.intact and str(check) == "20 entries, chain intact"
    assert main(["journal", "verify", "--db", _url(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "20 entries, chain intact"


def test_an_edited_entry_is_the_first_broken_link(
    engine: sa.Engine, tmp_path: Path, capsys
) -> None:
    write(engine, 5)
    tamper(engine, "UPDATE journal SET reason = 'nothing to see' WHERE id = 4")
    with engine.connect() as conn:
        check = jr.verify(conn)
    assert (check.intact, check.broken_id, check.entries) == (False, 4, 3)
    assert main(["journal", "verify", "--db", _url(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "entry 4 does not follow entry 3" in err and "after 3 good entries" in err


def test_a_removed_entry_breaks_the_next_link(engine: sa.Engine) -> None:
    write(engine, 5)
    tamper(engine, "DELETE FROM journal WHERE id = 6")
    with engine.connect() as conn:
        check = jr.verify(conn)
    assert check.broken_id == 7 and "entry 7 does not follow entry 5" in check.problem


def test_a_removed_tail_shows_at_the_head(engine: sa.Engine) -> None:
    write(engine, 5)
    tamper(engine, "DELETE FROM journal WHERE id >= 9")
    with engine.connect() as conn:
        check = jr.verify(conn)
    assert not check.intact and check.broken_id is None
    assert "the head says 10 entries" in check.problem and "has 8" in check.problem


def test_the_migration_chains_older_entries(tmp_path: Path) -> None:
    eng = make_engine(_url(tmp_path))
    migrate(eng, "0008")
    with eng.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO journal (at_ms, actor, action, detail) VALUES (1, 'a', 'x', :d)"),
            [{"d": '{"b": 1, "a": [2]}'}, {"d": None}],
        )
    migrate(eng)
    write(eng, 2)
    with eng.connect() as conn:
        check = jr.verify(conn)
    assert check.intact and check.entries == 6


def test_two_writers_on_one_database_never_fork(engine: sa.Engine, tmp_path: Path) -> None:
    other = make_engine(_url(tmp_path))  # a second service: its own engine and pool
    errors: list[BaseException] = []

    def run(eng: sa.Engine, actor: str) -> None:
        try:
            write(eng, 60, actor)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(engine, "one")),
        threading.Thread(target=run, args=(other, "two")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        check = jr.verify(conn)
    assert check.intact and check.entries == 240
