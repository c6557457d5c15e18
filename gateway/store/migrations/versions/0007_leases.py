"""leases: one row per site (owner, epoch, expiry) and the cluster's live members

Revision ID: 0007
Revises: 0006
Create Date: 2026-01-07 00:00:00

New tables only (``gateway.cluster``); nothing existing changes. The epoch of a site's
lease is the fencing token: every write of that site's state checks it in its own
transaction (``gateway.cluster.fence``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False, server_default=""),
        sa.Column("epoch", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", name="pk_leases"),
    )
    op.create_table(
        "cluster_members",
        sa.Column("instance", sa.String(128), nullable=False),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("instance", name="pk_cluster_members"),
    )


def downgrade() -> None:
    op.drop_table("cluster_members")
    op.drop_table("leases")
