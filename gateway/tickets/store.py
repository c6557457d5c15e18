"""Persistence of tickets inside one transaction: the ``tickets`` table and the journal.

:class:`TicketTx` is what every ticket operation works on: the unit of work's attempt
(``gateway.store.work``) plus what the operation did, for after the commit: the changes
to publish (listeners and the outbox) and the work to do on alarms (links, out of
service). Rows are read ``FOR UPDATE`` (on SQLite the transaction already holds the write
lock); a versioned update that finds another version raises :class:`Conflict`. The
partial unique index on the open (rule, device, crew) refuses a second open ticket with
an ``IntegrityError``: the unit of work then runs the operation again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, NotFound
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.work import Tx
from gateway.tickets.model import (
    OPEN_STATUSES,
    SYSTEM_ACTOR,
    WORK_STATUSES,
    WORKING,
    Ticket,
    from_row,
)
from rules.vocab import TicketStatus

_t = m.tickets


class TicketTx:
    """One attempt of a ticket operation (``now``: its time, epoch ms)."""

    __slots__ = ("tx", "conn", "now", "changes", "links", "oos")

    def __init__(self, tx: Tx) -> None:
        self.tx = tx
        self.conn: Connection = tx.conn
        self.now = tx.now_ms
        self.changes: dict[int, tuple[Ticket, list[str]]] = {}
        self.links: list[tuple[int, int]] = []  # (alarm id, ticket id)
        self.oos: list[tuple[str, str, bool, str, str]] = []  # rule, device, on, user, why

    # ---------------------------------------------------------------- recording
    def changed(self, t: Ticket, change: str) -> None:
        before = self.changes.get(t.tid)
        self.changes[t.tid] = (t, [*(before[1] if before else []), change])

    def log(
        self,
        t: Ticket,
        action: str,
        *,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        self.tx.journal(
            jr.entry(
                at_ms=self.now,
                actor=actor,
                action=action,
                reason=reason,
                ticket_id=t.tid,
                rule=t.rule,
                device=t.device,
                state=t.status,
                detail=detail,
            )
        )

    # ------------------------------------------------------------------ writing
    def edit(self, t: Ticket) -> Ticket:
        return t.next_version(self.now)

    def save(self, old: Ticket, new: Ticket, change: str) -> None:
        """Write ``new`` over ``old`` (refused if the row is no longer ``old``)."""
        res = self.conn.execute(
            sa.update(_t).where(_t.c.id == old.id, _t.c.version == old.version).values(new.row())
        )
        if res.rowcount != 1:
            raise Conflict(f"ticket {old.id} changed meanwhile; try again")
        self.changed(new, change)

    def insert(self, t: Ticket) -> Ticket:
        t.id = int(self.conn.execute(sa.insert(_t).values(t.row()).returning(_t.c.id)).scalar_one())
        return t

    def save_assignment(self, t: Ticket) -> None:
        """A ticket inserted by this transaction was assigned at once."""
        self.conn.execute(
            sa.update(_t)
            .where(_t.c.id == t.id)
            .values(
                status=t.status,
                assignee=t.assignee,
                assigned_at_ms=t.assigned_at_ms,
                breached=list(t.breached),
            )
        )

    # ------------------------------------------------------------------ reading
    def _rows(self, q: sa.Select[Any]) -> list[Ticket]:
        return [from_row(r) for r in self.conn.execute(q).mappings()]

    def load(self, tid: int) -> Ticket:
        got = self._rows(sa.select(_t).where(_t.c.id == tid).with_for_update())
        if not got:
            raise NotFound(f"no ticket {tid}")
        return got[0]

    def open_of(self, rule: str, device: str) -> list[Ticket]:
        """The open tickets of (rule, device), every crew."""
        return self._rows(
            sa.select(_t)
            .where(_t.c.rule == rule, _t.c.device == device, _t.c.status.in_(OPEN_STATUSES))
            .with_for_update()
        )

    def open_for(self, rule: str, device: str, crew: str) -> Ticket | None:
        got = self._rows(
            sa.select(_t)
            .where(
                _t.c.rule == rule,
                _t.c.device == device,
                _t.c.crew == crew,
                _t.c.status.in_(OPEN_STATUSES),
            )
            .with_for_update()
        )
        return got[0] if got else None

    def last_closed(self, rule: str, device: str, crew: str, since_ms: int) -> int | None:
        """The id of the last ticket of (rule, device, crew) closed since ``since_ms``."""
        prev = self.conn.execute(
            sa.select(_t.c.id)
            .where(
                _t.c.rule == rule,
                _t.c.device == device,
                _t.c.crew == crew,
                _t.c.status == TicketStatus.CLOSED,
                _t.c.closed_at_ms >= since_ms,
            )
            .order_by(_t.c.closed_at_ms.desc(), _t.c.id.desc())
            .limit(1)
        ).scalar()
        return int(prev) if prev is not None else None

    def others_working(self, t: Ticket) -> int:
        """Other tickets of ``t``'s (rule, device) being worked on."""
        n = self.conn.execute(
            sa.select(sa.func.count())
            .select_from(_t)
            .where(
                _t.c.rule == t.rule,
                _t.c.device == t.device,
                _t.c.status.in_(WORKING),
                _t.c.id != t.id,
            )
        ).scalar()
        return int(n or 0)

    def open_work(self, members: Sequence[str]) -> dict[str, int]:
        """Open work (assigned, in progress, on hold) of each of ``members``."""
        work = {mid: 0 for mid in members}
        if members:
            for a, n in self.conn.execute(
                sa.select(_t.c.assignee, sa.func.count())
                .where(_t.c.status.in_(WORK_STATUSES), _t.c.assignee.in_(members))
                .group_by(_t.c.assignee)
            ).all():
                work[str(a)] = int(n)
        return work

    def open_by_ids(self, ids: Sequence[int]) -> list[Ticket]:
        return self._rows(
            sa.select(_t)
            .where(_t.c.id.in_(ids), _t.c.status.in_(OPEN_STATUSES))
            .order_by(_t.c.id)
            .with_for_update()
        )

    def dispatched(self, alarm_id: int, crew: str, since_ms: int) -> bool:
        """Whether ``crew`` got a ticket for the alarm since it became active."""
        n = self.conn.execute(
            sa.select(sa.func.count())
            .select_from(_t)
            .where(
                _t.c.alarm_id == alarm_id,
                _t.c.crew == crew,
                _t.c.created_at_ms >= since_ms,
            )
        ).scalar()
        return bool(n)
