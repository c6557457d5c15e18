"""initial: alarms, journal, alarm_changes, out_of_service, rule_state, meta

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_WHERE = "state != 'closed'"


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("system", sa.String(32), nullable=True),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("point", sa.String(128), nullable=False, server_default=""),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("shelved", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("shelved_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("shelved_by", sa.String(128), nullable=True),
        sa.Column("shelve_reason", sa.Text(), nullable=True),
        sa.Column("suppressed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("suppressed_reason", sa.Text(), nullable=True),
        sa.Column("out_of_service", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("chattering", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("raised_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("activated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("source_ts_ms", sa.BigInteger(), nullable=False),
        sa.Column("cleared_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("acked_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("acked_by", sa.String(128), nullable=True),
        sa.Column("closed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
        sa.Column("action", sa.Text(), nullable=False, server_default=""),
        sa.Column("cause", sa.Text(), nullable=False, server_default=""),
        sa.Column("consequence", sa.Text(), nullable=False, server_default=""),
        sa.Column("count", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("ticket_ids", sa.JSON(), nullable=False),
        sa.Column("last_hit_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_announced_ms", sa.BigInteger(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
        sqlite_autoincrement=True,
    )
    # One open alarm per (rule, device, point), enforced by the database.
    op.create_index(
        "uq_alarms_open_key",
        "alarms",
        ["rule", "device", "point"],
        unique=True,
        sqlite_where=sa.text(OPEN_WHERE),
        postgresql_where=sa.text(OPEN_WHERE),
    )
    op.create_index("ix_alarms_state", "alarms", ["state"])
    op.create_index("ix_alarms_device", "alarms", ["device"])

    op.create_table(
        "journal",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("alarm_id", sa.BigInteger(), nullable=True),
        sa.Column("ticket_id", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("point", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
        sa.ForeignKeyConstraint(
            ["alarm_id"], ["alarms.id"], name="fk_journal_alarm_id_alarms", ondelete="RESTRICT"
        ),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_journal_alarm_id", "journal", ["alarm_id"])
    op.create_index("ix_journal_ticket_id", "journal", ["ticket_id"])
    op.create_index("ix_journal_at_ms", "journal", ["at_ms"])
    _journal_append_only()

    op.create_table(
        "alarm_changes",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("alarm_id", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_alarm_changes"),
    )
    op.create_table(
        "out_of_service",
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("since_ms", sa.BigInteger(), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "device", name="pk_out_of_service"),
    )
    op.create_table(
        "rule_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("saved_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_rule_state"),
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.bulk_insert(meta, [{"key": "alarm_seq", "value": 0}])


def _journal_append_only() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for what in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER journal_no_{what.lower()} BEFORE {what} ON journal "
                "BEGIN SELECT RAISE(ABORT, 'journal is append-only'); END"
            )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'journal is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal "
            "FOR EACH ROW EXECUTE FUNCTION journal_append_only()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS journal_no_update")
        op.execute("DROP TRIGGER IF EXISTS journal_no_delete")
    op.drop_table("meta")
    op.drop_table("rule_state")
    op.drop_table("out_of_service")
    op.drop_table("alarm_changes")
    op.drop_index("ix_journal_at_ms", table_name="journal")
    op.drop_index("ix_journal_ticket_id", table_name="journal")
    op.drop_index("ix_journal_alarm_id", table_name="journal")
    op.drop_table("journal")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS journal_append_only()")
    op.drop_index("ix_alarms_device", table_name="alarms")
    op.drop_index("ix_alarms_state", table_name="alarms")
    op.drop_index("uq_alarms_open_key", table_name="alarms")
    op.drop_table("alarms")
