"""energy roll-up: kWh per device per site-local hour, day and month

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-21 00:00:00

``energy_rollup`` (one row per span, start and device; ``gateway.store.models_energy``)
and ``energy_rollup_state`` (one row: from when the roll-up has seen every reading).
Two new tables; nothing else changes. The roll-up starts empty: periods before its
``since_ms`` are still computed from the raw readings.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "energy_rollup",
        sa.Column("span", sa.String(1), primary_key=True),
        sa.Column("start_ms", sa.BigInteger, primary_key=True),
        sa.Column("device", sa.String(128), primary_key=True),
        sa.Column("kwh", sa.Double, nullable=False, server_default="0"),
        sa.Column("covered_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_ts_ms", sa.BigInteger, nullable=True),
        sa.Column("last_kw", sa.Double, nullable=True),
        # SQLite: rows kept in key order, so a span's range is one sequential read
        sqlite_with_rowid=False,
    )
    op.create_table(
        "energy_rollup_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("since_ms", sa.BigInteger, nullable=False),
        sa.Column("clean", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("energy_rollup_state")
    op.drop_table("energy_rollup")
