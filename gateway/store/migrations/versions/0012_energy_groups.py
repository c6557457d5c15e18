"""energy roll-up per zone and system

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 00:00:00

``energy_rollup_groups`` (the device rows of ``energy_rollup`` summed per zone and per
system, per span and start) and ``energy_rollup_members`` (the device -> zone and system
mapping those sums follow); ``gateway.store.models_energy``. Two new tables; nothing
else changes. They start empty: the roll-up fills them from its next hour on, periods
before are summed from the device rows as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "energy_rollup_groups",
        sa.Column("grouping", sa.String(8), primary_key=True),
        sa.Column("span", sa.String(1), primary_key=True),
        sa.Column("start_ms", sa.BigInteger, primary_key=True),
        sa.Column("grp", sa.String(128), primary_key=True),
        sa.Column("kwh", sa.Double, nullable=False, server_default="0"),
        sa.Column("covered_ms", sa.BigInteger, nullable=False, server_default="0"),
        # SQLite: rows kept in key order, so a grouping's span's range is one read
        sqlite_with_rowid=False,
    )
    op.create_table(
        "energy_rollup_members",
        sa.Column("device", sa.String(128), primary_key=True),
        sa.Column("zone", sa.String(128), nullable=False),
        sa.Column("system", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("energy_rollup_members")
    op.drop_table("energy_rollup_groups")
