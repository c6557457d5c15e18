"""PostgreSQL for tests: the server's URL and private schemas dropped at the end.

The tests that talk to PostgreSQL (127.0.0.1:5432, trust auth, database ``test``; or
``SITEWATCH_TEST_PG_URL``) each work in schemas of their own, so they run side by side
(pytest-xdist workers, other sessions) without seeing each other's rows. A test is
skipped, with the reason, when the server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get(
    "SITEWATCH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def private_schemas(*names: str) -> Iterator[None]:
    """Create the schemas ``names`` (skip the test if the server is unreachable) and
    drop them, with everything in them, on leaving."""
    try:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    except Exception as exc:  # any failure to reach the server
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    try:
        yield
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()


@contextmanager
def private_schema(prefix: str) -> Iterator[str]:
    """One new schema named ``prefix`` + a random suffix: its name, dropped on leaving."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with private_schemas(name):
        yield name
