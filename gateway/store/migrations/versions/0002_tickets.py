"""tickets and the notification outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02 00:00:00

Only new tables: ``alarms`` and ``journal`` are left as they are (on SQLite nothing is
batch-recreated; ``journal.ticket_id`` already exists).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_WHERE = "status NOT IN ('closed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("crew", sa.String(64), nullable=False),
        sa.Column("assignee", sa.String(64), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("system", sa.String(32), nullable=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("alarm_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("assigned_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("resolved_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("cancelled_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("assign_by_ms", sa.BigInteger(), nullable=False),
        sa.Column("respond_by_ms", sa.BigInteger(), nullable=False),
        sa.Column("resolve_by_ms", sa.BigInteger(), nullable=False),
        sa.Column("callback_by_ms", sa.BigInteger(), nullable=True),
        sa.Column("breached", sa.JSON(), nullable=False),
        sa.Column("escalations", sa.JSON(), nullable=False),
        sa.Column("escalated_to", sa.String(128), nullable=True),
        sa.Column("repeat_of", sa.BigInteger(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("condition_active", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("condition_cleared_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("reopened", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
        sqlite_autoincrement=True,
    )
    # One open ticket per (rule, device, crew), enforced by the database.
    op.create_index(
        "uq_tickets_open_key",
        "tickets",
        ["rule", "device", "crew"],
        unique=True,
        sqlite_where=sa.text(OPEN_WHERE),
        postgresql_where=sa.text(OPEN_WHERE),
    )
    op.create_index("ix_tickets_status", "tickets", ["status"])
    op.create_index("ix_tickets_crew", "tickets", ["crew"])
    op.create_index("ix_tickets_assignee", "tickets", ["assignee"])
    op.create_index("ix_tickets_created_at_ms", "tickets", ["created_at_ms"])

    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("dest", sa.String(512), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_attempt_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_dest_id", "outbox", ["dest", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_dest_id", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_tickets_created_at_ms", table_name="tickets")
    op.drop_index("ix_tickets_assignee", table_name="tickets")
    op.drop_index("ix_tickets_crew", table_name="tickets")
    op.drop_index("ix_tickets_status", table_name="tickets")
    op.drop_index("uq_tickets_open_key", table_name="tickets")
    op.drop_table("tickets")
