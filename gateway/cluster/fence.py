"""Fencing: a site's state store refuses every transaction of a process that lost the lease.

:func:`install_fence` hooks the ``begin`` of every transaction on one site's engine (the
unit of work of alarms and tickets, the rule state, the outbox, people, maintenance: every
writer of the site goes through that engine). The first statement of the transaction is::

    SELECT epoch FROM <cluster schema>.leases
     WHERE site = :site AND owner = :me AND epoch = :epoch FOR SHARE

- no row: the lease changed hands (a newer epoch) or was released; :class:`Fenced` is
  raised and the transaction never writes;
- a row: it stays share-locked until this transaction ends, so a takeover (which updates
  that row) waits for the commit; a write can therefore never land after a newer owner
  has started, whatever the pauses in between.

A process paused in the middle of a transaction would hold that lock for as long as it is
stopped: the site engine's sessions therefore run with
``idle_in_transaction_session_timeout`` (``gateway.cluster.urls``), which ends such a
session and releases its lock, and the taker waits at most ``lock_timeout``.

PostgreSQL only: on SQLite (one process) there is nobody to fence off.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection

from gateway.errors import Conflict


class Fenced(Conflict):
    """This process no longer holds the site's lease at the epoch it writes under."""


class Fence:
    """The check installed on one site's engine; ``epoch`` is the lease it writes under
    (``refused`` counts the transactions turned away)."""

    def __init__(self, site: str, owner: str, epoch: int, *, schema: str) -> None:
        self.site = site
        self.owner = owner
        self.epoch = epoch
        self.refused = 0
        self.on_refused: Callable[[Fence], None] | None = None
        self._sql = sa.text(
            f'SELECT epoch FROM "{schema}".leases '
            "WHERE site = :site AND owner = :owner AND epoch = :epoch FOR SHARE"
        )

    def check(self, conn: Connection) -> None:
        row = conn.execute(
            self._sql, {"site": self.site, "owner": self.owner, "epoch": self.epoch}
        ).first()
        if row is None:
            self.refused += 1
            if self.on_refused is not None:
                self.on_refused(self)
            raise Fenced(
                f"site {self.site}: lease epoch {self.epoch} of {self.owner} is no longer "
                "held; the write is refused"
            )


def install_fence(engine: Engine, fence: Fence) -> Fence:
    """Check ``fence`` at the start of every transaction on ``engine`` (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("fencing needs PostgreSQL (the leases live there)")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        fence.check(conn)

    return fence
