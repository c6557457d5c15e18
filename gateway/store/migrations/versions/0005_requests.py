"""requests from people and notifications: portal requests, surveys, replies, profiles

Revision ID: 0005
Revises: 0004
Create Date: 2026-01-05 00:00:00

New nullable columns on ``tickets`` (``survey``: the person's answers; ``reply``: the
written answer to a complaint; ``reply_by_ms``: when that answer is due; ``channel``: how a
person's request came in) and the tables of ``gateway.requests`` (a request made through a
zone's page: its progress token's hash, never the token) and ``gateway.notify`` (channels
per person, the browser's feed, critical alarms already announced to leads).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TICKET_COLUMNS: tuple[tuple[str, sa.types.TypeEngine], ...] = (
    ("survey", sa.JSON()),
    ("reply", sa.JSON()),
    ("reply_by_ms", sa.BigInteger()),
    ("channel", sa.String(16)),
)


def upgrade() -> None:
    for name, type_ in _TICKET_COLUMNS:
        op.add_column("tickets", sa.Column(name, type_, nullable=True))
    op.create_table(
        "portal_requests",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("contact", sa.String(128), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("surveyed_at_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_portal_requests"),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_portal_requests_token_hash", "portal_requests", ["token_hash"], unique=True)
    op.create_index("uq_portal_requests_ticket_id", "portal_requests", ["ticket_id"], unique=True)
    op.create_table(
        "portal_keys",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_portal_keys"),
    )
    op.create_table(
        "notify_profiles",
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(256), nullable=True),
        sa.Column("chats", sa.JSON(), nullable=False),
        sa.Column("browser", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_notify_profiles"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=True),
        sa.Column("alarm_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_notifications_user_id_id", "notifications", ["user_id", "id"])
    op.create_index("ix_notifications_at_ms", "notifications", ["at_ms"])
    op.create_table(
        "alarm_notices",
        sa.Column("alarm_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("alarm_id", name="pk_alarm_notices"),
    )


def downgrade() -> None:
    op.drop_table("alarm_notices")
    op.drop_index("ix_notifications_at_ms", table_name="notifications")
    op.drop_index("ix_notifications_user_id_id", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notify_profiles")
    op.drop_table("portal_keys")
    op.drop_index("uq_portal_requests_ticket_id", table_name="portal_requests")
    op.drop_index("uq_portal_requests_token_hash", table_name="portal_requests")
    op.drop_table("portal_requests")
    for name, _type in reversed(_TICKET_COLUMNS):
        op.drop_column("tickets", name)
