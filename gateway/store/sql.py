"""Small SQL helpers of the state store that SQLAlchemy Core spells per dialect."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def upsert(conn: Connection, table: sa.Table, row: dict[str, Any], keys: list[str]) -> None:
    """Insert ``row`` into ``table``, or update the row with the same ``keys``."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    else:
        cond = [table.c[k] == row[k] for k in keys]
        if conn.execute(sa.update(table).where(*cond).values(row)).rowcount == 0:
            conn.execute(sa.insert(table).values(row))
        return
    stmt = dialect_insert(table).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}
        )
    )
