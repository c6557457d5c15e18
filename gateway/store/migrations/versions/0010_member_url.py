"""cluster members advertise their HTTP base URL

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-20 00:00:00

``cluster_members.url`` (empty for a member that advertises none): a process answering a
request for a site another member owns forwards it to that member's URL
(``gateway.cluster.forward``). One new column with a default; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "cluster_members",
        sa.Column("url", sa.String(512), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("cluster_members") as batch:
        batch.drop_column("url")
