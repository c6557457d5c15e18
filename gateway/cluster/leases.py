"""Leases on sites in the shared state store: who owns which site, until when, at which epoch.

Lifecycle of a lease (one row of ``leases`` per site, ``gateway.store.models_leases``)::

    (no row) ──acquire──> owned by A, epoch 1 ──renew, renew...──> owned by A, epoch 1
                               │                                     │ A dies or pauses:
                               │ release (A stops serving the site)  │ no renewal
                               v                                     v
                          free (owner '', expired) ──acquire──> owned by B, epoch 2

- :meth:`LeaseStore.acquire` takes a site whose lease is free or expired and adds one to
  its epoch (the fencing token: ``gateway.cluster.fence`` refuses every write of the site
  made under an older epoch); a lease still running under another owner is left alone.
- :meth:`LeaseStore.renew` pushes the expiry of the leases this instance holds *at the
  epoch it holds them*; a site that changed hands in between is reported lost.
- :meth:`LeaseStore.heartbeat` keeps this process's row in ``cluster_members``: the live
  members decide the fair share (``ceil(sites / live members)``); the row also carries the
  process's HTTP base URL (``url``), and :meth:`LeaseStore.owner_of` names a site's live
  owner and that URL (``gateway.cluster.forward`` sends requests for the site there).

Every time is the database's clock (``clock_timestamp()`` on PostgreSQL, ``julianday``
on SQLite), never a gateway's: processes on several machines judge expiry by one clock,
so a machine whose clock runs ahead cannot take a lease early. The methods are
synchronous and short; the coordinator runs them in a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("sitewatch.cluster")

_NOW = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}


@dataclass(frozen=True)
class Lease:
    site: str
    owner: str
    epoch: int
    expires_at_ms: int


@dataclass(frozen=True)
class Owner:
    """The live holder of a site's lease and the HTTP base URL it advertises ('': none)."""

    instance: str
    url: str


class LeaseStore:
    """The leases of ``engine``'s database, as seen by ``instance`` (lease time ``ttl_s``).
    ``schema`` qualifies the tables (PostgreSQL; ``None``: the search path). ``url`` is the
    HTTP base URL this process advertises in its heartbeat (set before the first beat)."""

    def __init__(
        self,
        engine: Engine,
        instance: str,
        ttl_s: float,
        *,
        schema: str | None = None,
        url: str = "",
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("the lease time is positive")
        self.engine = engine
        self.instance = instance
        self.url = url
        self.ttl_ms = int(ttl_s * 1000)
        self.schema = schema
        self._now = _NOW.get(engine.dialect.name, _NOW["postgresql"])
        prefix = f'"{schema}".' if schema else ""
        self._leases = f"{prefix}leases"
        self._members = f"{prefix}cluster_members"

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _sql(self, text: str) -> sa.TextClause:
        return sa.text(
            text.replace("{now}", self._now)
            .replace("{leases}", self._leases)
            .replace("{members}", self._members)
        )

    def now_ms(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(self._sql("SELECT {now}")).scalar_one())

    # -- members ------------------------------------------------------------------------
    def heartbeat(self) -> None:
        """This process is alive for another lease time."""
        with self.engine.begin() as conn:
            conn.execute(
                self._sql(
                    "INSERT INTO {members} (instance, started_at_ms, expires_at_ms, url) "
                    "VALUES (:me, {now}, {now} + :ttl, :url) ON CONFLICT (instance) "
                    "DO UPDATE SET expires_at_ms = {now} + :ttl, url = :url"
                ),
                {"me": self.instance, "ttl": self.ttl_ms, "url": self.url},
            )

    def leave(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self._sql("DELETE FROM {members} WHERE instance = :me"), {"me": self.instance}
            )

    def live_members(self) -> int:
        """How many processes are alive (this one counts even before its first beat)."""
        with self.engine.connect() as conn:
            others = conn.execute(
                self._sql(
                    "SELECT COUNT(*) FROM {members} WHERE expires_at_ms > {now} AND instance != :me"
                ),
                {"me": self.instance},
            ).scalar_one()
        return int(others) + 1

    def owner_of(self, site: str) -> Owner | None:
        """Who holds ``site``'s running lease, with its advertised URL ('' when that
        member is not alive or advertises none); ``None`` when nobody holds it."""
        with self.engine.connect() as conn:
            row = conn.execute(
                self._sql(
                    "SELECT l.owner, COALESCE(m.url, '') AS url FROM {leases} l "
                    "LEFT JOIN {members} m ON m.instance = l.owner AND m.expires_at_ms > {now} "
                    "WHERE l.site = :site AND l.owner != '' AND l.expires_at_ms > {now}"
                ),
                {"site": site},
            ).first()
        return None if row is None else Owner(row.owner, row.url)

    # -- leases -------------------------------------------------------------------------
    def table(self) -> dict[str, Lease]:
        """Every lease (expired ones included), by site."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._sql("SELECT site, owner, epoch, expires_at_ms, {now} AS now FROM {leases}")
            ).all()
        return {
            r.site: Lease(
                r.site, r.owner if r.expires_at_ms > r.now else "", r.epoch, r.expires_at_ms
            )
            for r in rows
        }

    def acquire(self, site: str) -> Lease | None:
        """Take ``site`` if its lease is free or expired (epoch + 1); ``None`` if another
        process holds it (or holds the row locked: a writer of the old owner in flight)."""
        try:
            with self.engine.begin() as conn:
                if self.postgres:
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                conn.execute(
                    self._sql(
                        "INSERT INTO {leases} (site, owner, epoch, expires_at_ms, "
                        "acquired_at_ms) VALUES (:site, '', 0, 0, 0) "
                        "ON CONFLICT (site) DO NOTHING"
                    ),
                    {"site": site},
                )
                row = conn.execute(
                    self._sql(
                        "UPDATE {leases} SET owner = :me, epoch = epoch + 1, "
                        "expires_at_ms = {now} + :ttl, acquired_at_ms = {now} "
                        "WHERE site = :site AND (owner = '' OR expires_at_ms <= {now}) "
                        "RETURNING epoch, expires_at_ms"
                    ),
                    {"me": self.instance, "ttl": self.ttl_ms, "site": site},
                ).first()
        except DBAPIError as exc:  # lock_timeout: the old owner's writer still holds it
            log.info("site %s: lease busy (%s)", site, exc.orig)
            return None
        if row is None:
            return None
        return Lease(site, self.instance, int(row.epoch), int(row.expires_at_ms))

    def renew(self, held: dict[str, int]) -> tuple[dict[str, Lease], list[str]]:
        """Push on the leases in ``held`` (site -> epoch); returns the renewed leases and
        the sites lost (taken over at a newer epoch, or released by someone)."""
        renewed: dict[str, Lease] = {}
        lost: list[str] = []
        if not held:
            return renewed, lost
        with self.engine.begin() as conn:
            for site, epoch in held.items():
                row = self._renew_one(conn, site, epoch)
                if row is None:
                    lost.append(site)
                else:
                    renewed[site] = Lease(site, self.instance, epoch, int(row))
        return renewed, lost

    def _renew_one(self, conn: Connection, site: str, epoch: int) -> int | None:
        value = conn.execute(
            self._sql(
                "UPDATE {leases} SET expires_at_ms = {now} + :ttl "
                "WHERE site = :site AND owner = :me AND epoch = :epoch "
                "RETURNING expires_at_ms"
            ),
            {"ttl": self.ttl_ms, "site": site, "me": self.instance, "epoch": epoch},
        ).scalar()
        return None if value is None else int(value)

    def release(self, site: str, epoch: int) -> bool:
        """Give ``site`` up (its runtime has stopped): free at once for another process."""
        with self.engine.begin() as conn:
            n = conn.execute(
                self._sql(
                    "UPDATE {leases} SET owner = '', expires_at_ms = 0 "
                    "WHERE site = :site AND owner = :me AND epoch = :epoch"
                ),
                {"site": site, "me": self.instance, "epoch": epoch},
            ).rowcount
        return bool(n)
