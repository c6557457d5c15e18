"""Maintenance tickets: from rules and from people, dispatched, timed and measured.

:class:`TicketService` keeps tickets in the state store (``tickets`` table, migration
0002), journals every move into the shared ``journal`` table (with ``ticket_id``) and
queues a notification for each new or changed ticket in the durable outbox
(``gateway.outbox``) in the same transaction (the unit of work of
``gateway.store.work``). Time comes from the gateway clock only (``ManualClock`` in
tests).

Concurrency: every method is synchronous and short and runs on the gateway's asyncio
event loop (HTTP handlers too); none awaits, so each runs to its end before the next
starts: there is no lock, and a service must not be called from another thread. A
racing writer on the same database (another process) is caught by the unique index on
the open (rule, device, crew) and the operation is run again.

Open tickets are also kept in memory (:class:`~gateway.tickets.index.OpenTickets`,
loaded on first use, kept after each commit of this service from the tickets it changed):
a rule hit with nothing to write (a ``device.offline`` whose crew comes only after 30
minutes, a clear with no open ticket) costs no transaction, :meth:`TicketService.on_hits`
writes a flood's hits in one transaction per batch, and the tick finds the due clocks
from a heap of due times instead of reading every open ticket each second.

After each commit, in order: the index takes the changed tickets, the outbox is woken,
listeners hear each changed ticket,
and the alarm work is done through the narrow :class:`~gateway.tickets.links.AlarmLink`
(links of tickets to alarms, alarms out of / back to service); a failure there is logged
and the ticket stands.

Where the rest lives: the record, statuses and routes ``gateway.tickets.model``; where
tickets come from ``gateway.tickets.intake``; moves ``gateway.tickets.lifecycle``; who
takes a ticket ``gateway.tickets.assign``; clocks, breaches, escalation
``gateway.tickets.sla``; figures ``gateway.tickets.kpis``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock, iso_ms
from gateway.dispatch import HOUR_MS, Roster, ServiceLevels
from gateway.outbox import Outbox
from gateway.people.audit import Audit
from gateway.people.principal import Principal
from gateway.store.db import reader
from gateway.store.filters import parse_id
from gateway.store.work import Listeners, Tx, UnitOfWork
from gateway.tickets.assign import Assigner
from gateway.tickets.feedback import record_reply, record_survey
from gateway.tickets.index import OpenTickets
from gateway.tickets.intake import Intake
from gateway.tickets.kpis import ticket_kpis
from gateway.tickets.lifecycle import Lifecycle, Move, check_move
from gateway.tickets.links import AlarmLink
from gateway.tickets.model import DAY_MS, Ticket, TicketDict
from gateway.tickets.preventive import Preventive
from gateway.tickets.queries import TicketQueries
from gateway.tickets.rights import check_rights
from gateway.tickets.sla import Sla
from gateway.tickets.store import TicketTx
from rules.model import RuleHit, RuleSpec
from rules.site import Site

log = logging.getLogger(__name__)

Listener = Callable[[str, TicketDict], None]


class TicketNotifier(Protocol):
    """Told of each changed ticket inside the change's transaction (``conn``), so what
    it queues (``gateway.notify``: the durable outbox) is stored if and only if the
    change is."""

    def on_ticket(
        self, conn: Connection, t: Ticket, changes: Sequence[str], now_ms: int
    ) -> None: ...


R = TypeVar("R")
_Tickets = list[TicketDict]
#: open tickets the tick looks at, at most, each time (the rest at the next ticks)
TICK_MAX = 200


class TicketService:
    """Tickets of one gateway (see the module doc).

    ``specs``: the rule pack's rules by id; ``site``: crews, members, shifts, devices;
    ``alarms``: the alarm side (:class:`~gateway.tickets.links.AlarmLink`, e.g. the
    ``AlarmService``) or ``None``; ``outbox``: where notifications go (``None``:
    listeners only)."""

    def __init__(
        self,
        engine: Engine,
        specs: Mapping[str, RuleSpec],
        clock: Clock,
        site: Site,
        *,
        site_id: str | None = None,
        alarms: AlarmLink | None = None,
        outbox: Outbox | None = None,
        levels: ServiceLevels | None = None,
        escalate_at: float = 0.8,
        repeat_window_days: float = 30.0,
        complaint_reply_h: float = 24.0,
    ) -> None:
        self._specs = dict(specs)
        self._clock = clock
        self.site = site
        self.site_id = site_id or site.site
        self.roster = Roster(site)
        self.outbox = outbox
        self.levels = levels or ServiceLevels()
        self._sla = Sla(
            self.levels, self.roster, escalate_at, reply_ms=round(complaint_reply_h * HOUR_MS)
        )
        #: told of every change inside its transaction (``gateway.notify``), or ``None``
        self.notifier: TicketNotifier | None = None
        self.escalate_at = escalate_at
        self.repeat_window_ms = int(repeat_window_days * DAY_MS)
        self._uow = UnitOfWork(engine, clock, name="tickets", retries=3)
        self._queries = TicketQueries(reader(engine))
        self._listeners: Listeners[[str, TicketDict]] = Listeners("ticket")
        self._assigner = Assigner(self.roster, self._sla)
        self._life = Lifecycle(self._specs, self.roster, self._sla, self._assigner, alarms)
        #: the open tickets in memory (``gateway.tickets.index``), kept in :meth:`_after`
        self.index = OpenTickets(self._queries.open_tickets, self._sla.next_due)
        self._intake = Intake(
            self._specs,
            site,
            self._life,
            self._run,
            self.index,
            repeat_window_ms=self.repeat_window_ms,
        )
        self._pm = Preventive(self._life, self._run)

    @property
    def alarms(self) -> AlarmLink | None:
        """The alarm side (``None``: tickets alone)."""
        return self._life.alarms

    @alarms.setter
    def alarms(self, alarms: AlarmLink | None) -> None:
        self._life.alarms = alarms

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """``callback(change, ticket)`` after each committed change (``change``: the
        last of ``create``, ``assign``, ``transition:<status>``, ``escalate``, ``breach``,
        ``condition_active``, ``condition_normal``, ``alarm_linked``, ``close``)."""
        return self._listeners.subscribe(callback)

    # ------------------------------------------------------------ what comes in
    def on_hit(self, hit: RuleHit, alarm_id: int | None = None) -> _Tickets:
        """A rule became active or cleared (after the alarm service handled it; its
        alarm's id, if any). Returns the tickets created or changed."""
        return self._intake.on_hit(hit, alarm_id, self._clock.now_ms())

    def on_hits(self, hits: Sequence[tuple[RuleHit, int | None]]) -> _Tickets:
        """:meth:`on_hit` of each (hit, its alarm's id) in order, in transactions of at
        most ``INTAKE_BATCH`` hits that have something to write (a flood's hits: one
        transaction per batch, not per hit); hits with nothing to write cost no
        transaction. Returns the tickets created or changed."""
        return self._intake.on_hits(hits, self._clock.now_ms())

    def create(
        self,
        *,
        title: str,
        category: str,
        priority: str,
        user: str,
        device: str | None = None,
        description: str | None = None,
        audit: Audit | None = None,
        **origin: Any,
    ) -> TicketDict:
        """A request or complaint raised by a person (see ``gateway.tickets.intake``);
        ``user`` is their id, ``audit`` (``Principal.audit()``) is journaled; ``origin``:
        ``source``, ``channel``, ``zone``, ``repair_crew``, ``then`` (the request page)."""
        return self._intake.create(
            title=title,
            category=category,
            priority=priority,
            user=user,
            device=device,
            description=description,
            audit=audit,
            **origin,
        )

    def reply(
        self, ticket_id: int | str, text: str, user: str, *, principal: Principal | None = None
    ) -> TicketDict:
        """Record the written reply to a complaint (``gateway.tickets.feedback``); a
        technician replies on their crew's or their own tickets only (403)."""
        tid = parse_id(ticket_id, "ticket")
        audit = None if principal is None else principal.audit()

        def op(ttx: TicketTx) -> TicketDict:
            if principal is not None:
                old = ttx.load(tid)
                check_rights(principal, old, old.status, None, self.roster.members())
            return record_reply(ttx, tid, text, user, audit).public()

        return self._run(op)

    def record_survey(self, ticket_id: int | str, answers: Mapping[str, Any]) -> TicketDict:
        """The person's survey on their resolved request, once (409 after)."""
        tid = parse_id(ticket_id, "ticket")
        return self._run(lambda ttx: record_survey(ttx, tid, answers, "requester").public())

    def transition(
        self,
        ticket_id: int | str,
        to: str,
        user: str,
        *,
        note: str | None = None,
        assignee: str | None = None,
        satisfaction: int | None = None,
        principal: Principal | None = None,
    ) -> TicketDict:
        """Move a ticket along its life (see ``gateway.tickets.lifecycle``) as ``user``
        (id); with ``principal`` (the person asking) their rights are checked first
        (``gateway.tickets.rights``: :class:`Forbidden`) and who they are is journaled.
        Raises :class:`NotFound`, :class:`IllegalTransition`, :class:`ClosedLoop`,
        :class:`Conflict`, :class:`Invalid` or :class:`Forbidden`."""
        tid = parse_id(ticket_id, "ticket")
        note = check_move(to, user, satisfaction, note)
        move = Move(
            tid=tid,
            to=to,
            user=user,
            note=note,
            assignee=assignee,
            satisfaction=satisfaction,
            principal=principal,
            audit=None if principal is None else principal.audit(),
        )
        return self._run(lambda ttx: self._life.transition(ttx, move).public())

    # ------------------------------------------------- preventive maintenance
    def open_preventive(self, **occurrence: Any) -> TicketDict | None:
        """Open one occurrence of a plan on an asset (``gateway.tickets.preventive``);
        ``None`` when that occurrence has its ticket already."""
        return self._pm.open(**occurrence)

    def answer_checklist(
        self,
        ticket_id: int | str,
        answers: Mapping[str, Any],
        user: str,
        *,
        principal: Principal | None = None,
    ) -> TicketDict:
        """Record checklist answers (an item out of limits opens a corrective ticket)."""
        audit = None if principal is None else principal.audit()
        tid = parse_id(ticket_id, "ticket")
        return self._pm.answer(tid, answers, user, principal=principal, audit=audit)

    def add_cost(
        self,
        ticket_id: int | str,
        user: str,
        *,
        labour_min: float | None = None,
        parts: Sequence[Mapping[str, Any]] = (),
        principal: Principal | None = None,
    ) -> TicketDict:
        """Record labour minutes and parts (``name``, ``qty``, ``unit_cost``) on a ticket."""
        audit = None if principal is None else principal.audit()
        tid = parse_id(ticket_id, "ticket")
        return self._pm.add_cost(
            tid, user, labour_min=labour_min, parts=parts, principal=principal, audit=audit
        )

    # -------------------------------------------------------------------- time
    def tick(self, now_ms: int | None = None) -> _Tickets:
        """Time-driven work (call every second or so): delayed dispatches that are due,
        open tickets offered again, clocks breached and escalations. Returns the tickets
        changed."""
        now = self._clock.now_ms() if now_ms is None else int(now_ms)
        out = self._intake.due_dispatches(now)
        # from the index's due times, not a read of every open ticket each second
        due = self.index.due(now, lambda crew: bool(self.roster.on_duty(crew, now)), TICK_MAX)
        if due:
            try:
                out += self._run(lambda ttx: self._tick(ttx, due))
            finally:
                self.index.requeue(due)
        return out

    def _due(self, t: Ticket, now: int) -> bool:
        return self._assigner.waiting(t, now) or self._sla.due(t, now)

    def _tick(self, ttx: TicketTx, ids: Sequence[int]) -> _Tickets:
        out = []
        for old in ttx.open_by_ids(ids):
            if not self._due(old, ttx.now):
                continue
            new = ttx.edit(old)
            changes: list[str] = []
            if self._assigner.waiting(new, ttx.now) and self._assigner.assign(ttx, new):
                changes.append("assign")
            changes += self._sla.breach_and_escalate(ttx, new)
            if changes:
                ttx.save(old, new, changes[-1])
                out.append(new.public())
        return out

    # ----------------------------------------------------------------- queries
    def get(self, ticket_id: int | str) -> TicketDict:
        """One ticket with its ``journal`` (oldest first). :class:`NotFound` if none."""
        return self._queries.get(ticket_id)

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
    ) -> tuple[_Tickets, int]:
        """See :meth:`gateway.tickets.queries.TicketQueries.list`."""
        return self._queries.list(
            status, crew, assignee=assignee, device=device, rule=rule, limit=limit, offset=offset
        )

    def open_work(self) -> dict[str, int]:
        """Open work (assigned, in progress, on hold) per member."""
        return self._queries.open_work()

    def kpis(self, now: float | None = None, days: float = 30.0) -> dict[str, Any]:
        """Maintenance figures (see ``gateway.tickets.kpis``): ``overall``, ``by_crew``,
        ``by_technician``, over tickets created in the ``days`` to ``now`` (epoch
        seconds; default the clock); the backlog counts every ticket not yet resolved."""
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        return ticket_kpis(self._queries.reader, now_ms, days, self.repeat_window_ms)

    # ------------------------------------------------------------- machinery
    def _run(self, op: Callable[[TicketTx], R]) -> R:
        """Run ``op`` in one transaction of the unit of work, with the outbox's
        notifications written last; after commit, tell (see the module doc)."""

        def attempt(tx: Tx) -> R:
            ttx = TicketTx(tx)
            result = op(ttx)
            tx.on_flush(lambda: self._notify_outbox(ttx))
            tx.on_commit(lambda: self._after(ttx))
            return result

        return self._uow.run(attempt)

    def _notify_outbox(self, ttx: TicketTx) -> None:
        if self.notifier is not None:
            for _tid, (t, changes) in ttx.changes.items():
                self.notifier.on_ticket(ttx.conn, t, changes, ttx.now)
        if self.outbox is None:
            return
        for tid, (t, changes) in ttx.changes.items():
            self.outbox.add(
                ttx.conn,
                crew=t.crew,
                ticket_id=tid,
                now_ms=ttx.now,
                message=self._message(t, changes, ttx.now),
            )

    def _message(self, t: Ticket, changes: Sequence[str], now: int) -> dict[str, Any]:
        return {
            "site": self.site_id,
            "event": "ticket",
            "change": changes[-1],
            "changes": list(changes),
            "at": iso_ms(now),
            "ticket": t.public(),
        }

    def _after(self, ttx: TicketTx) -> None:
        self.index.apply(t for t, _changes in ttx.changes.values())
        if self.outbox is not None and ttx.changes:
            self.outbox.wake()
        for _tid, (t, changes) in ttx.changes.items():
            self._listeners.notify(changes[-1], t.public())
        if self.alarms is None:
            return
        for alarm_id, ticket_id in ttx.links:
            try:
                self.alarms.link_ticket(alarm_id, ticket_id)
            except Exception:  # noqa: BLE001 - the ticket stands; the link is a courtesy
                log.exception("cannot link ticket %s to alarm %s", ticket_id, alarm_id)
        for rule, device, on, user, reason in ttx.oos:
            try:
                self.alarms.set_out_of_service(rule, device, on, user, reason)
            except Exception:  # noqa: BLE001
                log.exception("cannot set %s on %s out of service=%s", rule, device, on)
