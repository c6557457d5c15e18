"""Tables of the energy roll-up (migrations 0011 and 0012): kWh per device, and per zone
and per system, per site-local hour, day and month, kept as power readings arrive
(``gateway.figures.rollup``, the only writer; ``gateway.figures.rollup_query`` reads
them).

Declared on the state store's one :class:`~gateway.store.models.Base` and imported at the
end of ``gateway.store.models`` so the metadata the migrations are checked against has
them.

- ``energy_rollup``: one row per (``span``, ``start_ms``, ``device``); ``span`` is ``h``
  (a site-local hour), ``d`` (a site-local day) or ``m`` (a site-local month) starting at
  ``start_ms``. ``kwh`` and ``covered_ms`` are what the trapezoid rule credited inside it
  so far (``gateway.figures.energy``); an hour row also keeps the newest reading credited
  into it (``last_ts_ms``, ``last_kw``) so the trapezoid continues across a restart. At
  most one row per device per hour, day and month; rows older than the roll-up's
  retention are deleted.
- ``energy_rollup_state``: one row (``name`` = ``rollup``): ``since_ms``, from when the
  roll-up has seen every reading (periods before it are read from the raw readings), and
  ``clean``, whether the last run stopped with everything written. A second row
  (``name`` = ``groups``): ``since_ms``, from when ``energy_rollup_groups`` follows the
  device -> zone and system mapping in ``energy_rollup_members`` (0012).
- ``energy_rollup_groups`` (0012): the device rows summed per zone
  (``grouping`` = ``zone``) or system (``grouping`` = ``system``), ``grp`` its id: one
  row per (``grouping``, ``span``, ``start_ms``, ``grp``), written in the same
  transaction as the device rows they sum (``gateway.figures.rollup_groups``).
- ``energy_rollup_members`` (0012): each metered device's zone and system as the group
  rows of hours from the ``groups`` ``since_ms`` on were summed; one row per device.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class EnergyRollupRow(Base):
    __tablename__ = "energy_rollup"
    #: SQLite: rows kept in key order, so a span's range is one sequential read
    __table_args__ = {"sqlite_with_rowid": False}

    span: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    start_ms: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    device: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kwh: Mapped[float] = mapped_column(sa.Double, nullable=False, server_default="0")
    covered_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    last_ts_ms: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    last_kw: Mapped[float | None] = mapped_column(sa.Double, nullable=True)


class EnergyRollupState(Base):
    __tablename__ = "energy_rollup_state"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    since_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    clean: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, server_default=sa.false())


class EnergyRollupGroup(Base):
    __tablename__ = "energy_rollup_groups"
    #: SQLite: a grouping's span's range is one sequential read
    __table_args__ = {"sqlite_with_rowid": False}

    grouping: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    span: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    start_ms: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    grp: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    kwh: Mapped[float] = mapped_column(sa.Double, nullable=False, server_default="0")
    covered_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")


class EnergyRollupMember(Base):
    __tablename__ = "energy_rollup_members"

    device: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    zone: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    system: Mapped[str] = mapped_column(sa.String(32), nullable=False)


energy_rollup: sa.Table = EnergyRollupRow.__table__  # type: ignore[assignment]
energy_rollup_state: sa.Table = EnergyRollupState.__table__  # type: ignore[assignment]
energy_rollup_groups: sa.Table = EnergyRollupGroup.__table__  # type: ignore[assignment]
energy_rollup_members: sa.Table = EnergyRollupMember.__table__  # type: ignore[assignment]


def _insert(dialect: str) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        raise NotImplementedError(f"energy roll-up on {dialect}")
    return insert


def rollup_upsert(dialect: str) -> Any:
    """The statement adding hour/day/month sums to their rows (executemany: one
    parameter set a row; ``last_*`` kept from the newer reading)."""
    t = energy_rollup
    stmt = _insert(dialect)(t).values(
        span=sa.bindparam("span"),
        start_ms=sa.bindparam("start_ms"),
        device=sa.bindparam("device"),
        kwh=sa.bindparam("kwh"),
        covered_ms=sa.bindparam("covered_ms"),
        last_ts_ms=sa.bindparam("last_ts_ms"),
        last_kw=sa.bindparam("last_kw"),
    )
    x = stmt.excluded
    newer = sa.and_(
        x.last_ts_ms.is_not(None),
        sa.or_(t.c.last_ts_ms.is_(None), x.last_ts_ms > t.c.last_ts_ms),
    )
    return stmt.on_conflict_do_update(
        index_elements=[t.c.span, t.c.start_ms, t.c.device],
        set_={
            "kwh": t.c.kwh + x.kwh,
            "covered_ms": t.c.covered_ms + x.covered_ms,
            "last_ts_ms": sa.case((newer, x.last_ts_ms), else_=t.c.last_ts_ms),
            "last_kw": sa.case((newer, x.last_kw), else_=t.c.last_kw),
        },
    )


def group_upsert(dialect: str) -> Any:
    """The statement adding zone and system sums to their rows (executemany)."""
    t = energy_rollup_groups
    stmt = _insert(dialect)(t).values(
        grouping=sa.bindparam("grouping"),
        span=sa.bindparam("span"),
        start_ms=sa.bindparam("start_ms"),
        grp=sa.bindparam("grp"),
        kwh=sa.bindparam("kwh"),
        covered_ms=sa.bindparam("covered_ms"),
    )
    x = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[t.c.grouping, t.c.span, t.c.start_ms, t.c.grp],
        set_={"kwh": t.c.kwh + x.kwh, "covered_ms": t.c.covered_ms + x.covered_ms},
    )
