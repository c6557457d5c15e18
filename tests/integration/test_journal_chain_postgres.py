"""The journal's hash chain on a real PostgreSQL: two writers never fork it (issue 10).

Its own schema (dropped at the end) on ``SITEWATCH_TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); skipped when unreachable.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from gateway.store import journal as jr
from gateway.store import make_engine, migrate
from sitewatch.cli import main
from tests.gateway.test_journal_chain import write
from tests.pg import PG_URL, private_schema

pytestmark = pytest.mark.integration


@pytest.fixture
def schema() -> Iterator[str]:
    with private_schema("sw_chain_") as name:
        yield name


def test_two_services_on_one_postgres_never_fork_the_chain(schema: str) -> None:
    one = make_engine(PG_URL, schema=schema)
    migrate(one)
    two = make_engine(PG_URL, schema=schema)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(eng: sa.Engine, actor: str) -> None:
        try:
            barrier.wait()
            write(eng, 150, actor)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(one, "one")),
        threading.Thread(target=run, args=(two, "two")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with one.connect() as conn:
        check = jr.verify(conn)
        actors = {r[0] for r in conn.exec_driver_sql("SELECT DISTINCT actor FROM journal").all()}
    assert actors == {"one", "two", "system"}
    assert check.intact and check.entries == 600, str(check)

    # an edit made behind the trigger's back is found
    with one.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE journal DISABLE TRIGGER journal_append_only")
        victim = conn.exec_driver_sql("SELECT id FROM journal ORDER BY id LIMIT 1 OFFSET 99")
        vid = victim.scalar_one()
        conn.exec_driver_sql(f"UPDATE journal SET actor = 'mallory' WHERE id = {vid}")
        conn.exec_driver_sql("ALTER TABLE journal ENABLE TRIGGER journal_append_only")
    with one.connect() as conn:
        check = jr.verify(conn)
    assert (check.broken_id, check.entries) == (vid, 99)
    one.dispose()
    two.dispose()


def test_cli_on_postgres(schema: str, capsys: pytest.CaptureFixture[str]) -> None:
    eng = make_engine(PG_URL, schema=schema)
    migrate(eng)
    write(eng, 3)
    eng.dispose()
    url = PG_URL + ("&" if "?" in PG_URL else "?") + f"options=-csearch_path%3D{schema}"
    assert main(["journal", "verify", "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "6 entries, chain intact"
