"""alarm texts in Chinese beside English, and a fault-detection alarm's mode and waste

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 00:00:00

``message_zh``, ``action_zh``, ``cause_zh``, ``consequence_zh``: the rule pack's Chinese texts
("" where a pack gives English only); ``mode`` (the air handler's operating mode when a
fault-detection rule fired) and ``waste_kw`` (its estimated wasted power), NULL otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXTS = ("message_zh", "action_zh", "cause_zh", "consequence_zh")


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        for name in TEXTS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("mode", sa.String(32), nullable=True))
        batch.add_column(sa.Column("waste_kw", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        for name in (*TEXTS, "mode", "waste_kw"):
            batch.drop_column(name)
