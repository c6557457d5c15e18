"""The state store: engine setup, migrations, the one-open-alarm index, the journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.store import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    open_store,
    reader,
)
from gateway.store import journal as jr
from gateway.store.models import Base, alarms, journal, meta

# the newest migration file's revision: every test that migrates to head ends there
LATEST = sorted(
    p.name.split("_", 1)[0]
    for p in (Path(__file__).resolve().parents[2] / "gateway/store/migrations/versions").glob(
        "0*.py"
    )
)[-1]


def _alarm_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "rule": "hvac.fault",
        "site": "sc01",
        "system": "hvac",
        "device": "ahu1",
        "point": "",
        "zone": "z1",
        "priority": "medium",
        "state": "active_unacked",
        "raised_at_ms": 1,
        "activated_at_ms": 1,
        "source_ts_ms": 1,
        "last_hit_ms": 1,
        "last_announced_ms": 1,
        "updated_at_ms": 1,
        "ticket_ids": [],
        "value": 3,
    }
    row.update(over)
    return row


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/store.db")
    migrate(eng)
    yield eng
    eng.dispose()


def test_sqlite_connections_keep_a_bounded_page_cache(engine: sa.Engine) -> None:
    # SQLite's default is 2,000 KiB a connection: the rule engine's device rows filled it
    from gateway.store.db import SQLITE_CACHE_KIB

    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    assert SQLITE_CACHE_KIB < 2000


def test_migrate_to_head_and_again(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path}/sub/dir/x.db")  # creates the directory
    assert current_revision(eng) is None
    migrate(eng)
    assert current_revision(eng) == head_revision() == LATEST
    migrate(eng)  # a second start changes nothing
    names = set(sa.inspect(eng).get_table_names())
    assert {
        "alarms",
        "journal",
        "rule_state",
        "meta",
        "alarm_changes",
        "out_of_service",
        "alembic_version",
    } <= names
    with eng.connect() as conn:
        assert conn.execute(sa.select(meta.c.value).where(meta.c.key == "alarm_seq")).scalar() == 0
    eng.dispose()


def test_open_store_migrates(tmp_path: Path) -> None:
    eng = open_store(f"sqlite:///{tmp_path}/o.db")
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_models_match_migrations(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(mc, Base.metadata) == []


def test_sqlite_pragmas(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


def test_memory_database_is_shared(tmp_path: Path) -> None:
    eng = make_engine("sqlite://")
    migrate(eng)
    with reader(eng).connect() as conn:
        assert "alarms" in sa.inspect(conn).get_table_names()


def test_writers_take_the_lock_up_front(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer waits (here: times out) instead of interleaving."""
    url = f"sqlite:///{tmp_path}/lock.db"
    eng = make_engine(url)
    migrate(eng)
    other = sa.create_engine(url, connect_args={"timeout": 0.05})
    with eng.begin() as conn:
        conn.execute(sa.update(meta).values(value=1))
        with pytest.raises(DBAPIError, match="locked"), other.begin() as c2:
            c2.exec_driver_sql("BEGIN IMMEDIATE")
        # readers are never blocked (WAL)
        with reader(eng).connect() as r:
            assert r.execute(sa.select(meta.c.value)).scalar() == 0
    other.dispose()
    eng.dispose()


def test_one_open_alarm_per_rule_device_point(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(alarms).values(_alarm_row()))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(alarms).values(_alarm_row(state="cleared_unacked")))
    with engine.begin() as conn:
        # another point, and closed alarms of the same key, are fine
        conn.execute(sa.insert(alarms).values(_alarm_row(point="p1")))
        conn.execute(sa.insert(alarms).values(_alarm_row(state="closed")))
        conn.execute(sa.insert(alarms).values(_alarm_row(state="closed")))
        conn.execute(sa.update(alarms).where(alarms.c.point == "").values(state="closed"))
        conn.execute(sa.insert(alarms).values(_alarm_row()))
    with engine.connect() as conn:
        states = (
            conn.execute(
                sa.select(alarms.c.state).where(alarms.c.point == "").order_by(alarms.c.id)
            )
            .scalars()
            .all()
        )
    assert states == ["closed", "closed", "closed", "active_unacked"]


def test_alarm_ids_are_never_reused(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = conn.execute(
            sa.insert(alarms).values(_alarm_row()).returning(alarms.c.id)
        ).scalar_one()
        conn.execute(sa.delete(alarms).where(alarms.c.id == first))
        second = conn.execute(
            sa.insert(alarms).values(_alarm_row()).returning(alarms.c.id)
        ).scalar_one()
    assert second > first


def test_journal_is_append_only(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        aid = conn.execute(sa.insert(alarms).values(_alarm_row()).returning(alarms.c.id)).scalar()
        jr.append(
            conn,
            [
                jr.entry(
                    at_ms=5,
                    actor="alice",
                    action="ack",
                    reason="seen",
                    alarm_id=aid,
                    detail={"x": float("nan")},
                )
            ],
        )
        jr.append(conn, [jr.entry(at_ms=6, actor="bob", action="note", ticket_id=42)])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.update(journal).values(actor="mallory"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.delete(journal))
    with engine.connect() as conn:
        got = jr.entries(conn, alarm_id=aid)
        by_ticket = jr.entries(conn, ticket_id=42)
    assert [(e["user"], e["action"], e["reason"]) for e in got] == [("alice", "ack", "seen")]
    assert got[0]["at"] == "1970-01-01T00:00:00.005Z"
    assert got[0]["detail"] == {"x": "nan"}
    assert by_ticket[0]["ticket_id"] == "42" and by_ticket[0]["alarm_id"] is None


def test_journal_refers_to_real_alarms(engine: sa.Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        jr.append(conn, [jr.entry(at_ms=1, actor="x", action="ack", alarm_id=999)])


def test_downgrade_to_base_and_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    assert "alarms" not in sa.inspect(engine).get_table_names()
    migrate(engine)
    assert current_revision(engine) == head_revision()


def test_alembic_config_with_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    command.upgrade(alembic_config(url=url), "head")
    eng = make_engine(url)
    assert current_revision(eng) == head_revision()
    eng.dispose()


def test_schema_only_for_postgres() -> None:
    with pytest.raises(ValueError):
        make_engine("sqlite://", schema="x")
