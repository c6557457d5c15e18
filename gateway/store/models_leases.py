"""Tables of the cluster (migration 0007): who owns which site, and who is alive.

Declared on the state store's one :class:`~gateway.store.models.Base` and imported at the
end of ``gateway.store.models`` so the metadata the migrations are checked against has
them. ``gateway.cluster.leases`` is the only writer.

- ``leases``: one row per site. ``owner`` is the instance holding it (``''`` when released),
  ``epoch`` grows by one at every change of owner (the fencing token every write of the
  site is checked against), ``expires_at_ms`` is the database's clock plus the lease time,
  pushed on by each renewal.
- ``cluster_members``: one row per live ``sitewatch run`` process, its ``expires_at_ms``
  pushed on by its heartbeat; the live ones decide each process's fair share of sites.
  ``url`` (migration 0010) is its HTTP base URL as the other members reach it: a request
  for a site it owns is forwarded there (``gateway.cluster.forward``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class LeaseRow(Base):
    __tablename__ = "leases"

    site: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(sa.String(128), nullable=False, server_default="")
    epoch: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    expires_at_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    acquired_at_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)


class MemberRow(Base):
    __tablename__ = "cluster_members"

    instance: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    started_at_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    expires_at_ms: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)
    url: Mapped[str] = mapped_column(sa.String(512), nullable=False, server_default="")


leases: sa.Table = LeaseRow.__table__  # type: ignore[assignment]
cluster_members: sa.Table = MemberRow.__table__  # type: ignore[assignment]
