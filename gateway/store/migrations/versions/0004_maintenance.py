"""maintenance: plans, their state per asset, meters and daily readings; PM columns on tickets

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04 00:00:00

New tables (``gateway.maintenance``) and new nullable columns on ``tickets`` (existing rows
keep NULL: they are no plan's occurrence and have no checklist). The unique index on
``(plan_id, asset, due_at_ms)`` makes a second ticket for one occurrence impossible (NULLs
never collide, so other tickets are not concerned).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TICKET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("plan_id", sa.String(64)),
    ("asset", sa.String(64)),
    ("due_at_ms", sa.BigInteger()),
    ("parent_id", sa.BigInteger()),
    ("checklist", sa.JSON()),
    ("answers", sa.JSON()),
    ("costs", sa.JSON()),
)


def upgrade() -> None:
    for name, type_ in _TICKET_COLUMNS:
        op.add_column("tickets", sa.Column(name, type_, nullable=True))
    op.create_index(
        "uq_tickets_plan_occurrence", "tickets", ["plan_id", "asset", "due_at_ms"], unique=True
    )
    op.create_index("ix_tickets_asset", "tickets", ["asset"])

    op.create_table(
        "pm_plans",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("anchor_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pm_plans"),
    )
    op.create_table(
        "pm_state",
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("asset", sa.String(64), nullable=False),
        sa.Column("next_due_ms", sa.BigInteger(), nullable=True),
        sa.Column("next_meter", sa.Float(), nullable=True),
        sa.Column("since_ms", sa.BigInteger(), nullable=True),
        sa.Column("opened", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("plan_id", "asset", name="pk_pm_state"),
    )
    op.create_table(
        "meters",
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("last_ts_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_raw", sa.Float(), nullable=True),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device", "name", name="pk_meters"),
    )
    op.create_table(
        "meter_days",
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("last", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("device", "field", "day", name="pk_meter_days"),
    )


def downgrade() -> None:
    op.drop_table("meter_days")
    op.drop_table("meters")
    op.drop_table("pm_state")
    op.drop_table("pm_plans")
    op.drop_index("ix_tickets_asset", table_name="tickets")
    op.drop_index("uq_tickets_plan_occurrence", table_name="tickets")
    for name, _type in reversed(_TICKET_COLUMNS):
        op.drop_column("tickets", name)
