"""Preventive work on tickets: a plan's occurrence opened, its checklist answered, costs.

Life of a preventive ticket (category ``preventive``, source ``plan``):

1. :meth:`Preventive.open`: the maintenance scheduler (``gateway.maintenance``) opens one
   ticket per occurrence of a plan on an asset, with the plan's crew, priority and
   checklist and the occurrence's ``due_at``; it is dispatched like every ticket. Its
   ``resolve_by`` *is* ``due_at`` (an occurrence not resolved by then is breached), and so
   is ``respond_by``. The scheduler's own bookkeeping (``also``) is written in the same
   transaction; the unique index on ``(plan_id, asset, due_at_ms)`` refuses a second
   ticket for one occurrence, and an occurrence already opened is not opened again.
2. :meth:`Preventive.answer`: the technician answers checklist items
   (``gateway.tickets.checklist``); a number outside its limits opens a corrective
   ``repair`` ticket with ``parent_id`` = the first (once per item going out of limits).
3. :meth:`Preventive.add_cost`: labour minutes and parts recorded on any ticket (an
   asset's cost to date sums them).
4. Resolving it needs every required item answered (``gateway.tickets.lifecycle``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from gateway.clock import iso_ms
from gateway.errors import Conflict
from gateway.people.audit import Audit, audit_detail
from gateway.people.principal import Principal, Via, check_move
from gateway.store import models as m
from gateway.tickets.checklist import check_answers, check_costs, out_of_limits
from gateway.tickets.lifecycle import Lifecycle
from gateway.tickets.model import BACKLOG, SYSTEM_ACTOR, Ticket, TicketDict
from gateway.tickets.store import TicketTx
from rules import vocab
from rules.vocab import Priority, TicketCategory

#: the category of a plan's occurrence (contract section 7)
PREVENTIVE = vocab.PREVENTIVE
#: the source of tickets a plan opens (and of their corrective tickets)
PLAN_SOURCE = vocab.TicketSource.PLAN

Runner = Callable[[Callable[[TicketTx], Any]], Any]


class Preventive:
    """Preventive tickets of one ticket service; ``run`` runs an operation in one of its
    transactions."""

    def __init__(self, life: Lifecycle, run: Runner) -> None:
        self._life = life
        self._run = run

    # ----------------------------------------------------------------- opening
    def open(
        self,
        *,
        plan_id: str,
        asset: str,
        due_at_ms: int,
        title: str,
        crew: str,
        priority: str,
        checklist: Sequence[Mapping[str, Any]],
        device: str | None = None,
        system: str | None = None,
        zone: str | None = None,
        description: str | None = None,
        reason: str | None = None,
        also: Callable[[TicketTx], None] | None = None,
    ) -> TicketDict | None:
        """Open the occurrence's ticket (``None`` if it exists already); ``also(ttx)``
        runs in the same transaction either way."""

        def op(ttx: TicketTx) -> TicketDict | None:
            t = m.tickets
            exists = ttx.conn.execute(
                sa.select(t.c.id).where(
                    t.c.plan_id == plan_id, t.c.asset == asset, t.c.due_at_ms == due_at_ms
                )
            ).scalar()
            if also is not None:
                also(ttx)
            if exists is not None:
                return None
            new = self._life.new(
                ttx,
                title=title,
                description=description,
                category=PREVENTIVE,
                priority=priority,
                source=PLAN_SOURCE,
                crew=crew,
                device=device,
                system=system,
                zone=zone,
                created_by=SYSTEM_ACTOR,
                plan_id=plan_id,
                asset=asset,
                due_at_ms=due_at_ms,
                checklist=[dict(i) for i in checklist],
                answers={} if checklist else None,
            )
            new.resolve_by_ms = max(due_at_ms, ttx.now)
            new.respond_by_ms = new.resolve_by_ms
            new.assign_by_ms = min(new.assign_by_ms, new.resolve_by_ms)
            self._life.open(
                ttx,
                new,
                actor=SYSTEM_ACTOR,
                reason=reason or f"plan {plan_id} on {asset}, due {iso_ms(due_at_ms)}",
                detail={"plan_id": plan_id, "asset": asset, "due_at_ms": due_at_ms},
            )
            return new.public()

        result: TicketDict | None = self._run(op)
        return result

    # ----------------------------------------------------------- the checklist
    def answer(
        self,
        tid: int,
        answers: Mapping[str, Any],
        user: str,
        *,
        principal: Principal | None = None,
        audit: Audit | None = None,
    ) -> TicketDict:
        """Record checklist answers on ticket ``tid`` (see the module doc)."""

        def op(ttx: TicketTx) -> TicketDict:
            old = self._editable(ttx, tid, principal)
            clean, outside = check_answers(old.checklist, answers)
            new = ttx.edit(old)
            before = dict(old.answers or {})
            new.answers = {**before, **clean}
            ttx.log(new, "checklist", actor=user, detail=audit_detail(audit, {"answers": clean}))
            for item in outside:
                if out_of_limits(item, before.get(str(item["id"]))):
                    continue  # already out of limits: its corrective ticket is open
                self._corrective(ttx, new, item, clean[str(item["id"])], user)
            ttx.save(old, new, "checklist")
            return new.public()

        result: TicketDict = self._run(op)
        return result

    def _corrective(
        self, ttx: TicketTx, first: Ticket, item: Mapping[str, Any], value: Any, user: str
    ) -> None:
        limits = f"[{item.get('min', '-inf')}, {item.get('max', 'inf')}]"
        t = self._life.new(
            ttx,
            title=f"{item['text']}: {value:g} outside {limits} ({first.asset or first.device})",
            description=f"corrective work found by ticket {first.tid}",
            category=TicketCategory.REPAIR,
            priority=Priority.MEDIUM,
            source=PLAN_SOURCE,
            crew=first.crew,
            device=first.device,
            system=first.system,
            zone=first.zone,
            created_by=user,
            plan_id=first.plan_id,
            asset=first.asset,
            parent_id=first.tid,
        )
        self._life.open(
            ttx,
            t,
            actor=user,
            reason=f"checklist item {item['id']} of ticket {first.tid} out of limits",
            detail={"parent_id": first.tid, "item": item["id"], "value": value},
        )
        ttx.log(first, "corrective", actor=user, detail={"ticket": t.tid, "item": item["id"]})

    # ------------------------------------------------------------------- costs
    def add_cost(
        self,
        tid: int,
        user: str,
        *,
        labour_min: float | None = None,
        parts: Sequence[Mapping[str, Any]] = (),
        principal: Principal | None = None,
        audit: Audit | None = None,
    ) -> TicketDict:
        """Record labour minutes and parts on ticket ``tid``."""
        entry = check_costs(labour_min, parts)

        def op(ttx: TicketTx) -> TicketDict:
            old = self._editable(ttx, tid, principal, finished_ok=True)
            new = ttx.edit(old)
            new.costs = [*(old.costs or []), {**entry, "at": iso_ms(ttx.now), "by": user}]
            ttx.log(new, "cost", actor=user, detail=audit_detail(audit, entry))
            ttx.save(old, new, "cost")
            return new.public()

        result: TicketDict = self._run(op)
        return result

    @staticmethod
    def _editable(
        ttx: TicketTx, tid: int, principal: Principal | None, *, finished_ok: bool = False
    ) -> Ticket:
        old = ttx.load(tid)
        if principal is not None and principal.via is not Via.TOKEN:
            check_move(principal, tid, old.crew, old.assignee)
        if not finished_ok and old.status not in BACKLOG:
            raise Conflict(f"ticket {tid} is {old.status}: its checklist is closed")
        return old
