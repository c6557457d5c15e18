"""The state store on a real PostgreSQL: migrations, the partial unique index, the
append-only journal, and two alarm services racing on one database.

Each run works in a schema of its own (dropped at the end). The server comes from
``SITEWATCH_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
the tests are skipped when it cannot be reached.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.alarms import AlarmService
from gateway.clock import ManualClock
from gateway.store import alembic_config, current_revision, head_revision, make_engine, migrate
from gateway.store import journal as jr
from gateway.store.models import Base, alarms, journal
from gateway.store.rule_state import RuleStateStore
from rules.model import RuleHit, RuleSpec
from rules.vocab import AlarmState, Priority
from tests.gateway.test_store import LATEST, _alarm_row
from tests.pg import PG_URL, private_schema

pytestmark = pytest.mark.integration

SPECS = {
    "hvac.fault": RuleSpec("hvac.fault", "hvac", Priority.MEDIUM, "alarm", "HVAC fault", "Call"),
    "fire.alarm": RuleSpec("fire.alarm", "fire", Priority.CRITICAL, "alarm", "FIRE", "Evacuate"),
}


@pytest.fixture(scope="module")
def schema() -> Iterator[str]:
    with private_schema("sw_test_") as name:
        yield name


@pytest.fixture
def engine(schema: str) -> Iterator[sa.Engine]:
    eng = make_engine(PG_URL, schema=schema)
    migrate(eng)
    yield eng
    with eng.begin() as conn:  # a clean slate for the next test (journal is append-only)
        conn.exec_driver_sql("ALTER TABLE journal DISABLE TRIGGER journal_append_only")
        conn.exec_driver_sql("TRUNCATE journal, alarms, alarm_changes, out_of_service, rule_state")
        conn.exec_driver_sql("ALTER TABLE journal ENABLE TRIGGER journal_append_only")
        conn.exec_driver_sql("UPDATE meta SET value = 0")
    eng.dispose()


def row(**over: object) -> dict[str, object]:
    """An alarm row (tests/gateway/test_store.py's, without a zone, value 1.5)."""
    return _alarm_row(**{"zone": None, "value": 1.5, **over})


def test_migrations_in_own_schema(engine: sa.Engine, schema: str) -> None:
    assert current_revision(engine) == head_revision() == LATEST
    migrate(engine)  # idempotent
    names = set(sa.inspect(engine).get_table_names(schema=schema))
    assert {"alarms", "journal", "rule_state", "meta", "alembic_version"} <= names
    with engine.connect() as conn:
        mc = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(mc, Base.metadata) == []
        indexdef = conn.execute(
            sa.text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = :s "
                "AND indexname = 'uq_alarms_open_key'"
            ),
            {"s": schema},
        ).scalar_one()
    assert "UNIQUE" in indexdef and "WHERE" in indexdef and "closed" in indexdef


def test_partial_unique_index(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.insert(alarms).values(row()))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(alarms).values(row(state="cleared_unacked")))
    with engine.begin() as conn:
        conn.execute(sa.insert(alarms).values(row(point="p1")))
        conn.execute(sa.insert(alarms).values(row(state="closed")))
        conn.execute(sa.insert(alarms).values(row(state="closed")))
        conn.execute(
            sa.update(alarms)
            .where(alarms.c.point == "", alarms.c.state != "closed")
            .values(state="closed")
        )
        conn.execute(sa.insert(alarms).values(row()))
    with engine.connect() as conn:
        open_count = conn.execute(
            sa.select(sa.func.count()).select_from(alarms).where(alarms.c.state != "closed")
        ).scalar()
    assert open_count == 2


def test_journal_append_only(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        jr.append(conn, [jr.entry(at_ms=1, actor="alice", action="note", ticket_id=7)])
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.update(journal).values(actor="mallory"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.delete(journal))


def test_alarm_service_on_postgres(engine: sa.Engine) -> None:
    clock = ManualClock()
    one = AlarmService(engine, SPECS, clock)
    two = AlarmService(engine, SPECS, clock)

    def h(active: bool = True) -> RuleHit:
        return RuleHit("hvac.fault", "sc01", "hvac", "ahu1", None, active, clock.now_ms(), 2.0)

    a = one.apply(h())
    b = two.apply(h())  # unique index -> the existing alarm is updated
    assert a is not None and b is not None and b.id == a.id and b.count == 2
    assert one.ack(a.id, "alice")["state"] == AlarmState.ACTIVE_ACKED  # type: ignore[arg-type]
    closed = two.apply(h(False))
    assert closed is not None and closed.state == AlarmState.CLOSED and closed.acked_by == "alice"
    RuleStateStore(engine, clock).save_rule_state({"t": 1})
    assert RuleStateStore(engine, clock).load_rule_state() == {"t": 1}
    assert [s for s, _ in two.changes_since(0) or []] == [1, 2, 3, 4]


def test_two_services_racing_on_postgres(engine: sa.Engine) -> None:
    clock = ManualClock()
    services = [AlarmService(engine, SPECS, clock) for _ in range(3)]
    devices = ["ahu1", "ahu2"]
    n = 15
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(services))

    def work(svc: AlarmService) -> None:
        try:
            barrier.wait()
            for _ in range(n):
                for d in devices:
                    svc.apply(RuleHit("hvac.fault", "sc01", "hvac", d, None, True, 1, 1.0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    with engine.connect() as conn:
        got = conn.execute(sa.select(alarms.c.device, alarms.c.count)).all()
    assert sorted(got) == [(d, n * len(services)) for d in devices]


def test_downgrade_and_upgrade(engine: sa.Engine, schema: str) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    assert "alarms" not in sa.inspect(engine).get_table_names(schema=schema)
    migrate(engine)
    assert current_revision(engine) == head_revision()
