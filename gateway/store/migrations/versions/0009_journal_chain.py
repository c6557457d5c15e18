"""journal hash chain: each entry's hash over the previous hash and its canonical JSON

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 00:00:00

``journal.hash`` (SHA-256, hex) and ``journal_head`` (one row: the newest hash and the
number of entries). Entries written before this migration are chained here, in ``id``
order (the append-only triggers are lifted for that one update and put back), so
``sitewatch journal verify`` covers the whole history. The hashing is spelled out here
rather than imported: a migration must keep doing what it did when it was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
CHAINED = (
    "at_ms",
    "actor",
    "action",
    "reason",
    "alarm_id",
    "ticket_id",
    "rule",
    "device",
    "point",
    "state",
    "detail",
)

_journal = sa.table(
    "journal",
    sa.column("id", sa.BigInteger),
    *(sa.column(c, sa.JSON if c == "detail" else None) for c in CHAINED),
    sa.column("hash", sa.String),
)


def _link(prev: str, row: sa.RowMapping) -> str:
    text = json.dumps(
        {k: row[k] for k in CHAINED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )
    return hashlib.sha256((prev + text).encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.add_column("journal", sa.Column("hash", sa.String(64), nullable=True))
    head = op.create_table(
        "journal_head",
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("entries", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("key", name="pk_journal_head"),
    )
    bind = op.get_bind()
    dialect = bind.dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS journal_no_update")
    elif dialect == "postgresql":
        op.execute("ALTER TABLE journal DISABLE TRIGGER journal_append_only")
    prev, n = GENESIS, 0
    rows = bind.execute(sa.select(_journal).order_by(_journal.c.id)).mappings().all()
    for row in rows:
        prev = _link(prev, row)
        n += 1
        bind.execute(sa.update(_journal).where(_journal.c.id == row["id"]).values(hash=prev))
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal "
            "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END"
        )
    elif dialect == "postgresql":
        op.execute("ALTER TABLE journal ENABLE TRIGGER journal_append_only")
    op.bulk_insert(head, [{"key": "journal", "hash": prev, "entries": n}])


def downgrade() -> None:
    op.drop_table("journal_head")
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot drop a column a trigger names: lift the triggers around it
        op.execute("DROP TRIGGER IF EXISTS journal_no_update")
        op.execute("DROP TRIGGER IF EXISTS journal_no_delete")
        op.drop_column("journal", "hash")
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER journal_no_{what.lower()} BEFORE {what} ON journal "
                "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END"
            )
    else:
        op.drop_column("journal", "hash")
