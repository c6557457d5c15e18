"""inspection rounds: templates, rounds, inspected checkpoints, answers, findings; photos

Revision ID: 0006
Revises: 0005
Create Date: 2026-01-06 00:00:00

New tables only (``gateway.rounds``, ``gateway.photos``); nothing existing changes. The
unique index on ``(template_id, due_at_ms)`` makes a second round for one occurrence
impossible; the one on ``(round_id, key)`` a second application of one answer (the
phone's idempotency key). Photo bytes live in the photo store, not here.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _col(name: str, type_: sa.types.TypeEngine, null: bool = False, **kw: object) -> sa.Column:
    return sa.Column(name, type_, nullable=null, **kw)  # type: ignore[arg-type]


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("round_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "round_templates",
        _col("id", sa.String(64)),
        _col("source", sa.String(8)),
        _col("spec", sa.JSON()),
        _col("anchor_ms", sa.BigInteger()),
        _col("created_by", sa.String(128), True),
        _col("created_at_ms", sa.BigInteger()),
        _col("updated_at_ms", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_round_templates"),
    )
    op.create_table(
        "rounds",
        _col("id", _BigId, autoincrement=True),
        _col("site", sa.String(64)),
        _col("template_id", sa.String(64)),
        _col("name", sa.String(200)),
        _col("crew", sa.String(64)),
        _col("status", sa.String(16)),
        _col("due_at_ms", sa.BigInteger()),
        _col("start_by_ms", sa.BigInteger()),
        _col("finish_by_ms", sa.BigInteger()),
        _col("checkpoints", sa.JSON()),
        _col("priority", sa.String(16)),
        _col("started_at_ms", sa.BigInteger(), True),
        _col("started_by", sa.String(128), True),
        _col("finished_at_ms", sa.BigInteger(), True),
        _col("finished_by", sa.String(128), True),
        _col("missed_at_ms", sa.BigInteger(), True),
        _col("abandoned_at_ms", sa.BigInteger(), True),
        _col("note", sa.Text(), True),
        _col("created_at_ms", sa.BigInteger()),
        _col("updated_at_ms", sa.BigInteger()),
        _col("version", sa.Integer(), server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_rounds"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_rounds_template_id_due_at_ms", "rounds", ["template_id", "due_at_ms"], unique=True
    )
    op.create_index("ix_rounds_status", "rounds", ["status"])
    op.create_index("ix_rounds_due_at_ms", "rounds", ["due_at_ms"])
    op.create_table(
        "round_checkpoints",
        _col("round_id", sa.BigInteger(), autoincrement=False),
        _col("checkpoint", sa.String(64)),
        _col("template_id", sa.String(64)),
        _col("zone", sa.String(64)),
        _col("asset", sa.String(64), True),
        _col("answers", sa.JSON()),
        _col("photos", sa.JSON()),
        _col("failed", sa.Boolean()),
        _col("failed_items", sa.JSON()),
        _col("scanned", sa.Boolean(), server_default=sa.false()),
        _col("done_at_ms", sa.BigInteger()),
        _col("done_by", sa.String(128)),
        sa.PrimaryKeyConstraint("round_id", "checkpoint", name="pk_round_checkpoints"),
    )
    op.create_index("ix_round_checkpoints_done_at_ms", "round_checkpoints", ["done_at_ms"])
    op.create_table(
        "round_answers",
        _col("id", _BigId, autoincrement=True),
        _col("round_id", sa.BigInteger()),
        _col("checkpoint", sa.String(64)),
        _col("key", sa.String(64)),
        _col("body", sa.JSON()),
        _col("by", sa.String(128)),
        _col("at_ms", sa.BigInteger()),
        _col("client_at_ms", sa.BigInteger(), True),
        sa.PrimaryKeyConstraint("id", name="pk_round_answers"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "uq_round_answers_round_id_key", "round_answers", ["round_id", "key"], unique=True
    )
    op.create_table(
        "round_findings",
        _col("id", _BigId, autoincrement=True),
        _col("round_id", sa.BigInteger()),
        _col("template_id", sa.String(64)),
        _col("checkpoint", sa.String(64)),
        _col("item", sa.String(64)),
        _col("zone", sa.String(64)),
        _col("asset", sa.String(64), True),
        _col("ticket_id", sa.BigInteger()),
        _col("rounds", sa.JSON()),
        _col("photos", sa.JSON()),
        _col("count", sa.Integer(), server_default="1"),
        _col("first_at_ms", sa.BigInteger()),
        _col("last_at_ms", sa.BigInteger()),
        sa.PrimaryKeyConstraint("id", name="pk_round_findings"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_round_findings_place", "round_findings", ["template_id", "checkpoint", "item"]
    )
    op.create_index("ix_round_findings_ticket_id", "round_findings", ["ticket_id"])
    op.create_table(
        "photos",
        _col("id", sa.String(64)),
        _col("site", sa.String(64)),
        _col("uploaded_by", sa.String(128)),
        _col("uploaded_at_ms", sa.BigInteger()),
        _col("content_type", sa.String(32)),
        _col("bytes", sa.Integer()),
        _col("width", sa.Integer()),
        _col("height", sa.Integer()),
        _col("sha256", sa.String(64)),
        _col("round_id", sa.BigInteger(), True),
        _col("ticket_id", sa.BigInteger(), True),
        sa.PrimaryKeyConstraint("id", name="pk_photos"),
    )
    op.create_index("ix_photos_round_id", "photos", ["round_id"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("round_id")
    op.drop_index("ix_photos_round_id", table_name="photos")
    op.drop_table("photos")
    op.drop_index("ix_round_findings_ticket_id", table_name="round_findings")
    op.drop_index("ix_round_findings_place", table_name="round_findings")
    op.drop_table("round_findings")
    op.drop_index("uq_round_answers_round_id_key", table_name="round_answers")
    op.drop_table("round_answers")
    op.drop_index("ix_round_checkpoints_done_at_ms", table_name="round_checkpoints")
    op.drop_table("round_checkpoints")
    op.drop_index("ix_rounds_due_at_ms", table_name="rounds")
    op.drop_index("ix_rounds_status", table_name="rounds")
    op.drop_index("uq_rounds_template_id_due_at_ms", table_name="rounds")
    op.drop_table("rounds")
    op.drop_table("round_templates")
