"""The gateway's state store: alarms, journal, rule-engine state, SSE sequence.

SQLite by default, PostgreSQL supported; the schema is owned by the Alembic migrations in
``gateway/store/migrations`` (run with :func:`migrate`, or :func:`open_store` at start).
"""

from gateway.store.db import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    migrate,
    open_store,
    reader,
)

__all__ = [
    "alembic_config",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "open_store",
    "reader",
]
