"""Reading tickets back: one with its journal, lists, open work per member, the open
tickets the tick looks at. Every query reads the database through the engine's reader.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.errors import Invalid, NotFound
from gateway.people.audit import with_by
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.filters import parse_id, split_values
from gateway.tickets.model import (
    OPEN_STATUSES,
    STATUSES,
    WORK_STATUSES,
    Ticket,
    TicketDict,
    from_row,
)

_t = m.tickets
_TicketList = list[Ticket]  # (``list`` is a method in the class body)


class TicketQueries:
    """Queries on the ``tickets`` table read through ``reader``."""

    def __init__(self, reader: Engine) -> None:
        self.reader = reader

    def get(self, ticket_id: int | str) -> TicketDict:
        """One ticket with its ``journal`` (oldest first). :class:`NotFound` if none."""
        tid = parse_id(ticket_id, "ticket")
        with self.reader.connect() as conn:
            row = conn.execute(sa.select(_t).where(_t.c.id == tid)).mappings().first()
            if row is None:
                raise NotFound(f"no ticket {ticket_id}")
            out = from_row(row).public()
            out["journal"] = with_by(jr.entries(conn, ticket_id=tid))
        return out

    def list(
        self,
        status: str | Sequence[str] | None = None,
        crew: str | None = None,
        *,
        assignee: str | None = None,
        device: str | None = None,
        rule: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[TicketDict], int]:
        """Tickets, newest first, and how many match. ``status`` takes one value, a
        comma-separated string or a list; ``open_any`` means not closed or cancelled."""
        conds: list[sa.ColumnElement[bool]] = []
        wanted: set[str] = set()
        for s in split_values(status):
            if s == "open_any":
                wanted.update(OPEN_STATUSES)
            elif s in STATUSES:
                wanted.add(s)
            else:
                raise Invalid(f"unknown status {s!r}")
        if wanted:
            conds.append(_t.c.status.in_(sorted(wanted)))
        for col, value in (
            ("crew", crew),
            ("assignee", assignee),
            ("device", device),
            ("rule", rule),
        ):
            if value:
                conds.append(_t.c[col] == value)
        if limit < 0 or offset < 0:
            raise Invalid("limit and offset are not negative")
        with self.reader.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(_t).where(*conds)).scalar()
            rows = conn.execute(
                sa.select(_t).where(*conds).order_by(_t.c.id.desc()).limit(limit).offset(offset)
            ).mappings()
            items = [from_row(r).public() for r in rows]
        return items, int(total or 0)

    def open_work(self) -> dict[str, int]:
        """Open work (assigned, in progress, on hold) per member."""
        with self.reader.connect() as conn:
            rows = conn.execute(
                sa.select(_t.c.assignee, sa.func.count())
                .where(_t.c.status.in_(WORK_STATUSES), _t.c.assignee.is_not(None))
                .group_by(_t.c.assignee)
            ).all()
        return {str(a): int(n) for a, n in rows}

    def open_tickets(self) -> _TicketList:
        """Every ticket not closed or cancelled, oldest first."""
        with self.reader.connect() as conn:
            q = sa.select(_t).where(_t.c.status.in_(OPEN_STATUSES)).order_by(_t.c.id)
            return [from_row(r) for r in conn.execute(q).mappings()]
