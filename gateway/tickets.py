"""Maintenance tickets: from rules and from people, dispatched, timed and measured.

:class:`TicketService` keeps tickets in the state store (``tickets`` table, migration
0002), journals every move into the shared ``journal`` table (with ``ticket_id``) and
queues a notification for each new or changed ticket in the durable outbox
(``gateway.outbox``) in the same transaction. Every method is synchronous and short; the
gateway calls them from its event loop (HTTP handlers too). Time comes from the gateway
clock only (``ManualClock`` in tests).

**Tickets from rules** (:meth:`TicketService.on_hit`, :meth:`TicketService.tick`). A rule
with crews (``RuleSpec.crews_for(system)``) sends a ticket to each crew: at once for a
crew with ``after_s == 0``; for a delayed crew once the rule's alarm has been active
``after_s`` seconds (a dispatch that never happens if the alarm clears or closes first).
Delays are judged at each tick from the open alarms (their ``activated_at``), so they
survive a restart. A ticket-only rule (``raises: ticket``, e.g. ``hvac.filter_clogged``)
has no alarm: its hits open tickets directly. One open ticket per (rule, device, crew)
(the database enforces it): a hit while one is open links the alarm to it. When the
rule's condition clears (the clearing ``RuleHit``) the ticket records that its condition
is back to normal; a ``resolved`` rule ticket then closes (*verified back to normal*),
and a rule ticket resolved once its condition is already normal closes at once. The same
fault (rule, device, crew) within ``repeat_window_days`` (30) of its last ticket closing
opens a new ticket with ``repeat_of`` = that ticket.

**Tickets from people** (:meth:`TicketService.create`): categories route to crews
(``repair`` by the device's system: hvac → ``hvac``, lighting → ``electrical``, access →
``security``, fire → ``fire-safety``; ``cleaning`` → ``cleaning``; ``security`` →
``security``; ``complaint`` and ``enquiry`` → ``customer-service``). A repair request
must name a device of the site (else :class:`Invalid`).

**Life cycle** (:data:`TRANSITIONS`)::

    open ──> assigned ──> in_progress <──> on_hold
               │ ^(re-assign)   │
               │                v
               │            resolved ──> closed
               │                └──> in_progress (reopened)
    any of open, assigned, in_progress, on_hold ──> cancelled

A move the life does not allow raises :class:`IllegalTransition` (HTTP 409, with the
allowed moves). Closed-loop check: a rule's ticket cannot be ``resolved`` while its
condition is still active (the alarm is active) unless a note says why
(:class:`ClosedLoop`, 409); nor closed by hand while active (it closes itself once back
to normal). A person's ticket is ``closed`` by the follow-up call with ``satisfaction``
1–10 (required). While a rule's ticket is ``in_progress`` (or ``on_hold`` in between)
its device's alarms of that rule are out of service (``AlarmService.set_out_of_service``);
they return to service when it is resolved or cancelled. ``critical`` alarms never go
out of service (journaled as such).

**Dispatch** (``gateway.dispatch``): a new ticket is assigned at once to the member of
its crew on duty with the least open work; a ticket no one could take stays ``open`` and
is offered again at each tick.

**Service levels**: ``assign_by``, ``respond_by`` (in progress by) and ``resolve_by``
run from ``created_at``; ``callback_by`` (tickets raised by people) from ``resolved_at``.
Clocks do not pause on hold. A clock is *breached* when its due time passes before it
is met: :meth:`tick` adds it to ``breached`` (journaled, published) when that happens,
and a late move adds it at once. **Escalation**: when a running clock reaches
``escalate_at`` (80 %) of its time, the ticket escalates to the crew lead (level 1);
when it runs out, to the site manager (level 2). Each step is journaled and published.

**Figures** (:meth:`kpis`), over tickets created in the last ``days`` (30), overall, per
crew and per technician (assignee):

- ``mtta_s``: mean time to acknowledge = ``created_at`` → ``started_at`` (the technician
  takes it up: ``in_progress``); assignment is automatic, so its own mean
  (``created_at`` → ``assigned_at``) is given apart as ``mean_time_to_assign_s``;
- ``mttr_s``: mean time to resolve = ``created_at`` → ``resolved_at``;
- ``sla``: per clock, tickets whose clock is decided (met, or breached), how many were
  met, and ``compliance_pct`` = met / decided;
- ``first_time_fix_pct``: of the tickets resolved, those never reopened and with no
  repeat ticket (``repeat_of`` them) within 30 days;
- ``repeat_fault_pct``: of the tickets raised by rules, those that are repeats;
- ``satisfaction``: mean score of the closed tickets that have one, and how many;
- ``backlog``: tickets not yet resolved (any creation date), by age:
  ``<1h``, ``1-4h``, ``4-24h``, ``1-3d``, ``3-7d``, ``>7d``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.alarms import AlarmService, Conflict, Invalid, NotFound, parse_id, split_values
from gateway.clock import Clock, iso_ms, parse_iso_ms
from gateway.dispatch import HOUR_MS, Roster, ServiceLevels
from gateway.outbox import Outbox
from gateway.site import Site
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.db import reader
from rules.model import PRIORITIES, RuleHit, RuleSpec

log = logging.getLogger(__name__)

__all__ = [
    "CATEGORIES", "ClosedLoop", "Conflict", "IllegalTransition", "Invalid", "NotFound",
    "STATUSES", "TRANSITIONS", "TicketService",
]

OPEN, ASSIGNED, IN_PROGRESS, ON_HOLD = "open", "assigned", "in_progress", "on_hold"
RESOLVED, CLOSED, CANCELLED = "resolved", "closed", "cancelled"
STATUSES: tuple[str, ...] = (OPEN, ASSIGNED, IN_PROGRESS, ON_HOLD, RESOLVED, CLOSED, CANCELLED)
#: not finished: counts for "one open ticket per (rule, device, crew)"
OPEN_STATUSES: tuple[str, ...] = (OPEN, ASSIGNED, IN_PROGRESS, ON_HOLD, RESOLVED)
#: a member's open work (least-open-work dispatch)
WORK_STATUSES: tuple[str, ...] = (ASSIGNED, IN_PROGRESS, ON_HOLD)
#: being worked on: the rule's alarms are out of service
WORKING: tuple[str, ...] = (IN_PROGRESS, ON_HOLD)
#: the backlog: not yet resolved
BACKLOG: tuple[str, ...] = (OPEN, ASSIGNED, IN_PROGRESS, ON_HOLD)

TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    OPEN: (ASSIGNED, CANCELLED),
    ASSIGNED: (ASSIGNED, IN_PROGRESS, CANCELLED),
    IN_PROGRESS: (ON_HOLD, RESOLVED, CANCELLED),
    ON_HOLD: (IN_PROGRESS, CANCELLED),
    RESOLVED: (CLOSED, IN_PROGRESS),
    CLOSED: (),
    CANCELLED: (),
}

CATEGORIES: tuple[str, ...] = ("repair", "cleaning", "security", "complaint", "enquiry")
CATEGORY_CREW: Mapping[str, str] = {
    "cleaning": "cleaning",
    "security": "security",
    "complaint": "customer-service",
    "enquiry": "customer-service",
}
SYSTEM_CREW: Mapping[str, str] = {
    "hvac": "hvac",
    "lighting": "electrical",
    "access": "security",
    "fire": "fire-safety",
}
DISPATCH_ACTOR = "dispatch"
SYSTEM_ACTOR = jr.SYSTEM_ACTOR
DAY_MS = 24 * HOUR_MS
AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1h", HOUR_MS),
    ("1-4h", 4 * HOUR_MS),
    ("4-24h", DAY_MS),
    ("1-3d", 3 * DAY_MS),
    ("3-7d", 7 * DAY_MS),
    (">7d", None),
)

Ticket = dict[str, Any]
Listener = Callable[[str, Ticket], None]
_Tickets = list[Ticket]


class IllegalTransition(Conflict):
    """The ticket's life does not allow this move (409); ``allowed`` lists the moves."""

    def __init__(self, ticket_id: int, status: str, to: str, allowed: Sequence[str]) -> None:
        self.ticket_id = ticket_id
        self.status = status
        self.to = to
        self.allowed = list(allowed)
        moves = ", ".join(self.allowed) or "none (the ticket is finished)"
        super().__init__(
            f"ticket {ticket_id} is {status}: cannot move to {to}; allowed: {moves}"
        )

    def detail(self) -> dict[str, Any]:
        return {"message": str(self), "ticket": self.ticket_id, "status": self.status,
                "to": self.to, "allowed": self.allowed}


class ClosedLoop(Conflict):
    """A rule's ticket cannot be resolved (closed) while its alarm is still active."""

    def __init__(self, ticket_id: int, status: str, to: str, message: str,
                 allowed: Sequence[str]) -> None:
        self.ticket_id = ticket_id
        self.status = status
        self.to = to
        self.allowed = list(allowed)
        super().__init__(message)

    def detail(self) -> dict[str, Any]:
        return {"message": str(self), "ticket": self.ticket_id, "status": self.status,
                "to": self.to, "allowed": self.allowed, "closed_loop": True}


@dataclass
class _Ctx:
    """What one operation did: changes to publish, work to do on alarms after commit."""

    now: int
    changes: dict[int, tuple[Ticket, list[str]]] = field(default_factory=dict)
    links: list[tuple[int, int]] = field(default_factory=list)  # (alarm id, ticket id)
    oos: list[tuple[str, str, bool, str, str]] = field(default_factory=list)

    def changed(self, row: Ticket, change: str) -> None:
        tid = int(row["id"])
        before = self.changes.get(tid)
        self.changes[tid] = (row, [*(before[1] if before else []), change])


_COLUMNS: tuple[str, ...] = tuple(c.name for c in m.tickets.columns)


def public(row: Mapping[str, Any] | sa.RowMapping) -> Ticket:
    """The ticket object of the contract (section 4), plus extras."""
    esc = dict(row.get("escalations") or {})
    return {
        "id": row["id"],
        "title": row["title"],
        "category": row["category"],
        "priority": row["priority"],
        "status": row["status"],
        "source": row["source"],
        "rule": row["rule"],
        "crew": row["crew"],
        "assignee": row["assignee"],
        "device": row["device"],
        "alarm_id": row["alarm_id"],
        "created_at": iso_ms(row["created_at_ms"]),
        "assigned_at": iso_ms(row["assigned_at_ms"]),
        "started_at": iso_ms(row["started_at_ms"]),
        "resolved_at": iso_ms(row["resolved_at_ms"]),
        "closed_at": iso_ms(row["closed_at_ms"]),
        "assign_by": iso_ms(row["assign_by_ms"]),
        "respond_by": iso_ms(row["respond_by_ms"]),
        "resolve_by": iso_ms(row["resolve_by_ms"]),
        "callback_by": iso_ms(row["callback_by_ms"]),
        "breached": list(row.get("breached") or []),
        "repeat_of": row["repeat_of"],
        "satisfaction": row["satisfaction"],
        # extras
        "description": row["description"],
        "system": row["system"],
        "zone": row["zone"],
        "created_by": row["created_by"],
        "cancelled_at": iso_ms(row["cancelled_at_ms"]),
        "escalation": max(esc.values(), default=0),
        "escalations": esc,
        "escalated_to": row["escalated_to"],
        "reopened": row["reopened"],
        "condition_active": bool(row["condition_active"]),
        "condition_cleared_at": iso_ms(row["condition_cleared_at_ms"]),
        "allowed": list(TRANSITIONS.get(row["status"], ())),
        "updated_at": iso_ms(row["updated_at_ms"]),
        "version": row["version"],
    }


class TicketService:
    """Tickets of one gateway (see the module doc).

    ``specs``: the rule pack's rules by id; ``site``: crews, members, shifts, devices;
    ``alarms``: the alarm service (links, out of service, active alarms) or ``None``;
    ``outbox``: where notifications go (``None``: listeners only)."""

    def __init__(
        self,
        engine: Engine,
        specs: Mapping[str, RuleSpec],
        clock: Clock,
        site: Site,
        *,
        site_id: str | None = None,
        alarms: AlarmService | None = None,
        outbox: Outbox | None = None,
        levels: ServiceLevels | None = None,
        escalate_at: float = 0.8,
        repeat_window_days: float = 30.0,
    ) -> None:
        if not 0 < escalate_at < 1:
            raise ValueError("escalate_at is a fraction between 0 and 1")
        self._engine = engine
        self._reader = reader(engine)
        self._specs = dict(specs)
        self._clock = clock
        self.site = site
        self.site_id = site_id or site.site
        self.roster = Roster(site)
        self.alarms = alarms
        self.outbox = outbox
        self.levels = levels or ServiceLevels()
        self.escalate_at = escalate_at
        self.repeat_window_ms = int(repeat_window_days * DAY_MS)
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        # ticket-only rules with a delayed crew: (rule, device, crew) -> hit, since
        self._pending: dict[tuple[str, str, str], tuple[RuleHit, int]] = {}
        # alarm activations whose tickets are settled: (alarm id, activated_at, crew)
        self._dispatched: set[tuple[int, int, str]] = set()

    # ---------------------------------------------------------------- listeners
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """``callback(change, ticket)`` after each committed change (``change``: the
        last of ``create``, ``assign``, ``transition:<status>``, ``escalate``, ``breach``,
        ``condition_active``, ``condition_normal``, ``alarm_linked``, ``close``)."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------- rule hits
    def on_hit(self, hit: RuleHit, alarm_id: int | None = None) -> _Tickets:
        """A rule became active or cleared (after the alarm service handled it; its
        alarm's id, if any). Returns the tickets created or changed."""
        spec = self._specs.get(hit.rule)
        if spec is None:
            return []
        crews = spec.crews_for(hit.system)
        if not crews:
            return []
        ticket_only = spec.raises == "ticket"
        if hit.active:
            now_crews = [c.crew for c in crews if c.after_s <= 0]
            if ticket_only:
                now_ms = self._clock.now_ms()
                for c in crews:
                    if c.after_s > 0:
                        self._pending.setdefault((hit.rule, hit.device, c.crew), (hit, now_ms))

            def op(conn: Connection, ctx: _Ctx) -> _Tickets:
                out = self._condition(conn, ctx, hit.rule, hit.device, True)
                for crew in now_crews:
                    t = self._open_for_rule(conn, ctx, spec, hit, crew, alarm_id)
                    if t is not None:
                        out.append(t)
                return out

            return self._tx(op)
        for key in [k for k in self._pending if k[0] == hit.rule and k[1] == hit.device]:
            del self._pending[key]
        if not ticket_only and self._alarm_active(hit.rule, hit.device):
            return []  # another point of the rule is still active on the device
        return self._tx(lambda conn, ctx: self._condition(conn, ctx, hit.rule, hit.device,
                                                           False))

    def _condition(
        self, conn: Connection, ctx: _Ctx, rule: str, device: str, active: bool
    ) -> _Tickets:
        """Record on the open tickets of (rule, device) that the condition is active or
        back to normal; a resolved ticket whose condition is back to normal closes."""
        t = m.tickets
        rows = conn.execute(
            sa.select(t)
            .where(t.c.rule == rule, t.c.device == device, t.c.status.in_(OPEN_STATUSES))
            .with_for_update()
        ).mappings().all()
        out = []
        for r in rows:
            row = dict(r)
            if bool(row["condition_active"]) == active:
                continue
            new = self._edit(row, ctx)
            new["condition_active"] = active
            new["condition_cleared_at_ms"] = None if active else ctx.now
            action = "condition_active" if active else "condition_normal"
            self._log(conn, ctx, new, action,
                      reason="the rule's condition is active again" if active
                      else "the rule's condition is back to normal")
            if not active and new["status"] == RESOLVED:
                self._close_verified(conn, ctx, new)
            self._save(conn, ctx, row, new, action)
            out.append(public(new))
        return out

    def _close_verified(self, conn: Connection, ctx: _Ctx, row: Ticket) -> None:
        row["status"] = CLOSED
        row["closed_at_ms"] = ctx.now
        self._log(conn, ctx, row, "transition", reason="condition verified back to normal",
                  detail={"from": RESOLVED, "to": CLOSED})

    def _open_for_rule(
        self,
        conn: Connection,
        ctx: _Ctx,
        spec: RuleSpec,
        hit: RuleHit,
        crew: str,
        alarm_id: int | None,
    ) -> Ticket | None:
        """The open ticket of (rule, device, crew), created (and dispatched) if none."""
        t = m.tickets
        existing = conn.execute(
            sa.select(t)
            .where(t.c.rule == hit.rule, t.c.device == hit.device, t.c.crew == crew,
                   t.c.status.in_(OPEN_STATUSES))
            .with_for_update()
        ).mappings().first()
        if existing is not None:
            row = dict(existing)
            if alarm_id is not None and row["alarm_id"] != alarm_id:
                new = self._edit(row, ctx)
                new["alarm_id"] = alarm_id
                self._log(conn, ctx, new, "alarm_linked", detail={"alarm_id": alarm_id})
                self._save(conn, ctx, row, new, "alarm_linked")
                ctx.links.append((alarm_id, int(row["id"])))
                return public(new)
            return None
        prev = conn.execute(
            sa.select(t.c.id)
            .where(t.c.rule == hit.rule, t.c.device == hit.device, t.c.crew == crew,
                   t.c.status == CLOSED, t.c.closed_at_ms >= ctx.now - self.repeat_window_ms)
            .order_by(t.c.closed_at_ms.desc(), t.c.id.desc())
            .limit(1)
        ).scalar()
        system = hit.system or spec.system
        priority = spec.priority_for(system)
        category = "security" if crew == "security" else "repair"
        dev = self.site.device(hit.device)
        row = self._new_row(
            ctx,
            title=hit.message or spec.message or f"{spec.id} on {hit.device}",
            description=spec.action or None,
            category=category,
            priority=priority,
            source="rule",
            rule=hit.rule,
            crew=crew,
            device=hit.device,
            system=system,
            zone=hit.zone or (dev.zone if dev else None),
            alarm_id=alarm_id,
            created_by=SYSTEM_ACTOR,
            repeat_of=int(prev) if prev is not None else None,
            condition_active=True,
        )
        row = self._insert(conn, ctx, row, reason=f"rule {hit.rule} on {hit.device}",
                           detail={"value": jr.json_safe(hit.value), "source_ts_ms": hit.ts_ms,
                                   "point": hit.point, "repeat_of": row["repeat_of"]})
        if alarm_id is not None:
            ctx.links.append((alarm_id, int(row["id"])))
        return public(row)

    def _alarm_active(self, rule: str, device: str) -> bool:
        if self.alarms is None:
            return False
        return any(
            a["rule"] == rule and a["device"] == device
            and a["state"] in ("active_unacked", "active_acked")
            for a in self.alarms.open_alarms()
        )

    # ------------------------------------------------------------ from people
    def create(
        self,
        *,
        title: str,
        category: str,
        priority: str,
        user: str,
        device: str | None = None,
        description: str | None = None,
    ) -> Ticket:
        """A request or complaint raised by a person, routed by category and dispatched.
        :class:`Invalid` for an empty title, unknown category, priority or device, or a
        repair with no device."""
        if not title or not title.strip():
            raise Invalid("title is required")
        if category not in CATEGORIES:
            raise Invalid(f"unknown category {category!r} (categories: {', '.join(CATEGORIES)})")
        if priority not in PRIORITIES:
            raise Invalid(f"unknown priority {priority!r} (priorities: {', '.join(PRIORITIES)})")
        if not user or not user.strip():
            raise Invalid("user is required")
        dev = None
        if device:
            dev = self.site.device(device)
            if dev is None:
                raise Invalid(f"no device {device!r} at this site")
        if category == "repair":
            if dev is None:
                raise Invalid("a repair request names its device (the device's system picks "
                              "the crew)")
            crew = SYSTEM_CREW[dev.system]
        else:
            crew = CATEGORY_CREW[category]

        def op(conn: Connection, ctx: _Ctx) -> Ticket:
            row = self._new_row(
                ctx,
                title=title.strip(),
                description=description,
                category=category,
                priority=priority,
                source="person",
                rule=None,
                crew=crew,
                device=device or None,
                system=dev.system if dev else None,
                zone=dev.zone if dev else None,
                alarm_id=None,
                created_by=user,
                repeat_of=None,
                condition_active=False,
            )
            return public(self._insert(conn, ctx, row, actor=user, reason=description))

        result: Ticket = self._tx(op)
        return result

    # ------------------------------------------------------------- life cycle
    def transition(
        self,
        ticket_id: int | str,
        to: str,
        user: str,
        *,
        note: str | None = None,
        assignee: str | None = None,
        satisfaction: int | None = None,
    ) -> Ticket:
        """Move a ticket along its life (see the module doc). Raises :class:`NotFound`,
        :class:`IllegalTransition`, :class:`ClosedLoop`, :class:`Conflict` or
        :class:`Invalid`."""
        tid = _ticket_id(ticket_id)
        if to not in STATUSES:
            raise Invalid(f"unknown status {to!r} (statuses: {', '.join(STATUSES)})")
        if not user or not user.strip():
            raise Invalid("user is required")
        if satisfaction is not None and (
            isinstance(satisfaction, bool) or not 1 <= int(satisfaction) <= 10
        ):
            raise Invalid("satisfaction is a whole number from 1 to 10")
        note = note.strip() if note and note.strip() else None

        def op(conn: Connection, ctx: _Ctx) -> Ticket:
            row = self._load(conn, tid)
            cur = row["status"]
            allowed = TRANSITIONS[cur]
            if to not in allowed:
                raise IllegalTransition(tid, cur, to, allowed)
            new = self._edit(row, ctx)
            new["status"] = to
            detail: dict[str, Any] = {"from": cur, "to": to}
            if to == ASSIGNED:
                who = assignee or self._pick(conn, new["crew"], ctx.now)[0]
                if who is None:
                    raise Conflict(f"nobody of crew {new['crew']} is on duty: name an assignee")
                if assignee and assignee not in self.roster.members():
                    raise Invalid(f"{assignee!r} is not a member of any crew of the site")
                if cur == ASSIGNED and who == row["assignee"]:
                    raise Conflict(f"ticket {tid} is already assigned to {who}")
                detail["assignee"] = who
                detail["previous"] = row["assignee"]
                new["assignee"] = who
                if new["assigned_at_ms"] is None:
                    new["assigned_at_ms"] = ctx.now
            elif to == IN_PROGRESS:
                if assignee:
                    if assignee not in self.roster.members():
                        raise Invalid(f"{assignee!r} is not a member of any crew of the site")
                    new["assignee"] = assignee
                if cur == RESOLVED:
                    new["reopened"] = int(row["reopened"] or 0) + 1
                    new["resolved_at_ms"] = None
                    new["callback_by_ms"] = None
                    detail["reopened"] = True
                if new["started_at_ms"] is None:
                    new["started_at_ms"] = ctx.now
                self._out_of_service(conn, ctx, new, True, user)
            elif to == RESOLVED:
                active = self._is_active(new)
                if active and new["source"] == "rule" and note is None:
                    raise ClosedLoop(
                        tid, cur, to,
                        f"ticket {tid}: the alarm of {new['rule']} on {new['device']} is "
                        "still active; resolve it once the condition is back to normal, or "
                        "give a note saying why it is resolved anyway",
                        allowed,
                    )
                detail["condition_active"] = active
                new["resolved_at_ms"] = ctx.now
                if new["source"] == "person":
                    lv = self.levels.levels(new["priority"], new["category"])
                    new["callback_by_ms"] = ctx.now + lv.callback_ms
            elif to == CLOSED:
                if new["source"] == "person":
                    if satisfaction is None:
                        raise Invalid("closing a ticket raised by a person needs the "
                                      "satisfaction (1-10) from the follow-up call")
                    new["satisfaction"] = int(satisfaction)
                    detail["satisfaction"] = int(satisfaction)
                elif self._is_active(new):
                    raise ClosedLoop(
                        tid, cur, to,
                        f"ticket {tid}: a rule's ticket closes once its condition is verified "
                        f"back to normal; {new['rule']} on {new['device']} is still active",
                        allowed,
                    )
                new["closed_at_ms"] = ctx.now
            elif to == CANCELLED:
                new["cancelled_at_ms"] = ctx.now
            if cur in WORKING and to not in WORKING:
                self._out_of_service(conn, ctx, new, False, user)
            self._log(conn, ctx, new, "transition", actor=user, reason=note, detail=detail)
            if to == RESOLVED and new["source"] == "rule" and not self._is_active(new):
                self._close_verified(conn, ctx, new)
            self._late(conn, ctx, new)
            self._save(conn, ctx, row, new, f"transition:{new['status']}")
            return public(new)

        result: Ticket = self._tx(op)
        return result

    def _is_active(self, row: Ticket) -> bool:
        """Whether a rule ticket's condition (its alarm) is still active."""
        if row["source"] != "rule":
            return False
        return bool(row["condition_active"]) or self._alarm_active(row["rule"], row["device"])

    def _out_of_service(
        self, conn: Connection, ctx: _Ctx, row: Ticket, on: bool, user: str
    ) -> None:
        """Plan taking the rule's alarms on the device out of (back to) service."""
        if row["source"] != "rule" or self.alarms is None:
            return
        spec = self._specs.get(row["rule"])
        if spec is None or spec.raises == "ticket":
            return
        if spec.priority_for(row["system"]) == "critical":
            if on:
                self._log(conn, ctx, row, "stays_in_service",
                          reason="critical alarms are never out of service")
            return
        if not on:
            t = m.tickets
            others = conn.execute(
                sa.select(sa.func.count()).select_from(t).where(
                    t.c.rule == row["rule"], t.c.device == row["device"],
                    t.c.status.in_(WORKING), t.c.id != row["id"],
                )
            ).scalar()
            if others:
                return
        reason = (f"ticket {row['id']} in progress" if on
                  else f"ticket {row['id']} {row['status']}")
        ctx.oos.append((row["rule"], row["device"], on, user, reason))
        self._log(conn, ctx, row, "out_of_service" if on else "in_service", actor=user,
                  reason=reason)

    # ------------------------------------------------------------------- time
    def tick(self, now_ms: int | None = None) -> _Tickets:
        """Time-driven work (call every second or so): delayed dispatches that are due,
        open tickets offered again, clocks breached and escalations. Returns the tickets
        changed."""
        now = self._clock.now_ms() if now_ms is None else int(now_ms)
        out: _Tickets = []
        with self._lock:
            out += self._due_dispatches(now)
            rows = self._open_rows()
            due = [r for r in rows if self._tick_due(r, now)]
            if due:
                ids = [int(r["id"]) for r in due]
                out += self._tx(lambda conn, ctx: self._tick_rows(conn, ctx, ids))
        return out

    def _open_rows(self) -> list[Ticket]:
        t = m.tickets
        with self._reader.connect() as conn:
            q = sa.select(t).where(t.c.status.in_(OPEN_STATUSES)).order_by(t.c.id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def _running(self, row: Ticket) -> list[tuple[str, int, int]]:
        """Clocks still running: (clock, start, due)."""
        st = row["status"]
        out = []
        if st in BACKLOG:
            created = int(row["created_at_ms"])
            if row["assigned_at_ms"] is None:
                out.append(("assign", created, int(row["assign_by_ms"])))
            if row["started_at_ms"] is None:
                out.append(("respond", created, int(row["respond_by_ms"])))
            out.append(("resolve", created, int(row["resolve_by_ms"])))
        elif (st == RESOLVED and row["source"] == "person" and row["callback_by_ms"]
              and row["resolved_at_ms"]):
            out.append(("callback", int(row["resolved_at_ms"]), int(row["callback_by_ms"])))
        return out

    def _target_level(self, start: int, due: int, now: int) -> int:
        if now > due:
            return 2
        if now >= start + self.escalate_at * (due - start):
            return 1
        return 0

    def _tick_due(self, row: Ticket, now: int) -> bool:
        if row["status"] == OPEN and row["assignee"] is None and self.roster.on_duty(
            row["crew"], now
        ):
            return True
        esc = row.get("escalations") or {}
        breached = row.get("breached") or []
        for clock, start, due in self._running(row):
            if now > due and clock not in breached:
                return True
            if self._target_level(start, due, now) > int(esc.get(clock, 0)):
                return True
        return False

    def _tick_rows(self, conn: Connection, ctx: _Ctx, ids: list[int]) -> _Tickets:
        t = m.tickets
        out = []
        rows = conn.execute(
            sa.select(t).where(t.c.id.in_(ids), t.c.status.in_(OPEN_STATUSES))
            .order_by(t.c.id).with_for_update()
        ).mappings().all()
        for r in rows:
            row = dict(r)
            if not self._tick_due(row, ctx.now):
                continue
            new = self._edit(row, ctx)
            changes: list[str] = []
            if new["status"] == OPEN and new["assignee"] is None and self._dispatch(
                conn, ctx, new
            ):
                changes.append("assign")
            for clock, start, due in self._running(new):
                level = int((new["escalations"] or {}).get(clock, 0))
                target = self._target_level(start, due, ctx.now)
                if ctx.now > due and clock not in new["breached"]:
                    new["breached"] = [*new["breached"], clock]
                    self._log(conn, ctx, new, "breach",
                              reason=f"{clock} clock missed (due {iso_ms(due)})",
                              detail={"clock": clock, "due": iso_ms(due)})
                    changes.append("breach")
                for lvl in range(level + 1, target + 1):
                    self._escalate(conn, ctx, new, clock, lvl, start, due)
                    changes.append("escalate")
            if changes:
                self._save(conn, ctx, row, new, changes[-1])
                out.append(public(new))
        return out

    def _escalate(
        self, conn: Connection, ctx: _Ctx, row: Ticket, clock: str, level: int,
        start: int, due: int,
    ) -> None:
        chain = self.roster.escalation_chain(row["crew"])
        to = chain[level - 1] if len(chain) >= level else (chain[-1] if chain else None)
        esc = dict(row["escalations"] or {})
        esc[clock] = level
        row["escalations"] = esc
        row["escalated_to"] = to
        pct = round(100.0 * (ctx.now - start) / (due - start), 1) if due > start else 100.0
        who = "crew lead" if level == 1 else "site manager"
        self._log(
            conn, ctx, row, "escalate",
            reason=f"{clock} clock at {pct}% (due {iso_ms(due)}): escalated to the {who}"
            + (f" {to}" if to else " (none configured)"),
            detail={"clock": clock, "level": level, "to": to, "due": iso_ms(due),
                    "elapsed_pct": pct},
        )

    def _due_dispatches(self, now: int) -> _Tickets:
        """Delayed crews whose delay has run out on an alarm still active (and ticket-only
        rules' pending crews)."""
        out: _Tickets = []
        todo: list[tuple[RuleSpec, RuleHit, str, int | None, tuple[int, int, str] | None]] = []
        if self.alarms is not None:
            alarms = self.alarms.open_alarms()
            live = {int(a["id"]) for a in alarms}
            self._dispatched = {k for k in self._dispatched if k[0] in live}
            for a in alarms:
                if a["state"] not in ("active_unacked", "active_acked"):
                    continue
                spec = self._specs.get(a["rule"])
                if spec is None:
                    continue
                since = parse_iso_ms(a.get("activated_at")) or parse_iso_ms(a["raised_at"]) or now
                for c in spec.crews_for(a["system"]):
                    key = (int(a["id"]), since, c.crew)
                    if key in self._dispatched or now < since + c.after_s * 1000:
                        continue
                    hit = RuleHit(
                        rule=a["rule"], site=a["site"], system=a["system"] or "",
                        device=a["device"], point=a["point"], active=True,
                        ts_ms=parse_iso_ms(a["source_ts"]) or now, value=a["value"],
                        zone=a["zone"], message=a["message"],
                    )
                    todo.append((spec, hit, c.crew, int(a["id"]), key))
        for (rule, device, crew), (hit, since) in list(self._pending.items()):
            spec = self._specs.get(rule)
            after = next((c.after_s for c in spec.crews_for(hit.system) if c.crew == crew),
                         0.0) if spec else 0.0
            if spec is not None and now >= since + after * 1000:
                del self._pending[(rule, device, crew)]
                todo.append((spec, hit, crew, None, None))
        if not todo:
            return out

        def op(conn: Connection, ctx: _Ctx) -> _Tickets:
            got: _Tickets = []
            t = m.tickets
            for spec, hit, crew, alarm_id, key in todo:
                if key is not None:
                    done = conn.execute(
                        sa.select(sa.func.count()).select_from(t).where(
                            t.c.alarm_id == key[0], t.c.crew == crew,
                            t.c.created_at_ms >= key[1],
                        )
                    ).scalar()
                    if done:
                        continue
                ticket = self._open_for_rule(conn, ctx, spec, hit, crew, alarm_id)
                if ticket is not None:
                    got.append(ticket)
            return got

        out = self._tx(op)
        for item in todo:
            if item[4] is not None:
                self._dispatched.add(item[4])
        return out

    # -------------------------------------------------------------- queries
    def get(self, ticket_id: int | str) -> Ticket:
        """One ticket with its ``journal`` (oldest first). :class:`NotFound` if none."""
        tid = _ticket_id(ticket_id)
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(m.tickets).where(m.tickets.c.id == tid)).mappings().first()
            if row is None:
                raise NotFound(f"no ticket {ticket_id}")
            out = public(row)
            out["journal"] = jr.entries(conn, ticket_id=tid)
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
    ) -> tuple[_Tickets, int]:
        """Tickets, newest first, and how many match. ``status`` takes one value, a
        comma-separated string or a list; ``open`` means not closed or cancelled."""
        t = m.tickets
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
            conds.append(t.c.status.in_(sorted(wanted)))
        for col, value in (("crew", crew), ("assignee", assignee), ("device", device),
                           ("rule", rule)):
            if value:
                conds.append(t.c[col] == value)
        if limit < 0 or offset < 0:
            raise Invalid("limit and offset are not negative")
        with self._reader.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(t).where(*conds)).scalar()
            rows = conn.execute(
                sa.select(t).where(*conds).order_by(t.c.id.desc()).limit(limit).offset(offset)
            ).mappings()
            items = [public(r) for r in rows]
        return items, int(total or 0)

    def open_work(self) -> dict[str, int]:
        """Open work (assigned, in progress, on hold) per member."""
        t = m.tickets
        with self._reader.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.assignee, sa.func.count())
                .where(t.c.status.in_(WORK_STATUSES), t.c.assignee.is_not(None))
                .group_by(t.c.assignee)
            ).all()
        return {str(a): int(n) for a, n in rows}

    # ------------------------------------------------------------------ KPIs
    def kpis(self, now: float | None = None, days: float = 30.0) -> dict[str, Any]:
        """Maintenance figures (see the module doc): ``overall``, ``by_crew``,
        ``by_technician``, over tickets created in the ``days`` to ``now`` (epoch
        seconds; default the clock); the backlog counts every ticket not yet resolved."""
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        start = now_ms - int(days * DAY_MS)
        t = m.tickets
        with self._reader.connect() as conn:
            period = [dict(r) for r in conn.execute(
                sa.select(t).where(t.c.created_at_ms > start, t.c.created_at_ms <= now_ms)
                .order_by(t.c.id)
            ).mappings()]
            backlog = [dict(r) for r in conn.execute(
                sa.select(t).where(t.c.status.in_(BACKLOG), t.c.created_at_ms <= now_ms)
            ).mappings()]
            repeats = conn.execute(
                sa.select(t.c.repeat_of, t.c.created_at_ms).where(t.c.repeat_of.is_not(None))
            ).all()
        repeated: dict[int, list[int]] = {}
        for of, at in repeats:
            repeated.setdefault(int(of), []).append(int(at))

        def figures(rows: list[Ticket], open_rows: list[Ticket]) -> dict[str, Any]:
            return _figures(rows, open_rows, repeated, now_ms, self.repeat_window_ms)

        crews = sorted({r["crew"] for r in period} | {r["crew"] for r in backlog})
        techs = sorted({r["assignee"] for r in period if r["assignee"]}
                       | {r["assignee"] for r in backlog if r["assignee"]})
        return {
            "at": iso_ms(now_ms),
            "period": {"start": iso_ms(start), "end": iso_ms(now_ms), "days": days},
            "definitions": {
                "mtta_s": "mean of created_at -> started_at (in progress), seconds",
                "mean_time_to_assign_s": "mean of created_at -> assigned_at, seconds",
                "mttr_s": "mean of created_at -> resolved_at, seconds",
                "sla": "per clock: decided = met or breached; compliance_pct = met / decided",
                "first_time_fix_pct": "resolved tickets never reopened and not repeated "
                                      "within 30 days of closing / resolved tickets",
                "repeat_fault_pct": "rule tickets that repeat a fault closed within 30 days "
                                    "/ rule tickets",
                "satisfaction": "mean follow-up score (1-10) of closed tickets with one",
                "backlog": "tickets not yet resolved, by age (now - created_at)",
            },
            "overall": figures(period, backlog),
            "by_crew": {
                c: figures([r for r in period if r["crew"] == c],
                           [r for r in backlog if r["crew"] == c])
                for c in crews
            },
            "by_technician": {
                a: figures([r for r in period if r["assignee"] == a],
                           [r for r in backlog if r["assignee"] == a])
                for a in techs
            },
        }

    # ------------------------------------------------------------- machinery
    def _tx(self, op: Callable[[Connection, _Ctx], Any]) -> Any:
        """Run ``op`` in one write transaction (retried when a racing writer on the same
        database got a unique key first); after commit, notify listeners, wake the
        outbox and carry out the alarm work."""
        with self._lock:
            for attempt in range(3):
                ctx = _Ctx(self._clock.now_ms())
                try:
                    with self._engine.begin() as conn:
                        result = op(conn, ctx)
                        if self.outbox is not None:
                            for tid, (row, changes) in ctx.changes.items():
                                self.outbox.add(
                                    conn, crew=row["crew"], ticket_id=tid, now_ms=ctx.now,
                                    message=self._message(row, changes, ctx.now),
                                )
                except IntegrityError:
                    if attempt == 2:
                        raise
                    log.debug("tickets: another writer got there first; retrying")
                    continue
                self._after(ctx)
                return result
        raise AssertionError("unreachable")

    def _message(self, row: Ticket, changes: Sequence[str], now: int) -> dict[str, Any]:
        return {
            "site": self.site_id,
            "event": "ticket",
            "change": changes[-1],
            "changes": list(changes),
            "at": iso_ms(now),
            "ticket": public(row),
        }

    def _after(self, ctx: _Ctx) -> None:
        if self.outbox is not None and ctx.changes:
            self.outbox.wake()
        for _tid, (row, changes) in ctx.changes.items():
            data = public(row)
            for cb in list(self._listeners):
                try:
                    cb(changes[-1], data)
                except Exception:
                    log.exception("ticket listener %r failed", cb)
        if self.alarms is None:
            return
        for alarm_id, ticket_id in ctx.links:
            try:
                self.alarms.link_ticket(alarm_id, ticket_id)
            except Exception:  # noqa: BLE001 - the ticket stands; the link is a courtesy
                log.exception("cannot link ticket %s to alarm %s", ticket_id, alarm_id)
        for rule, device, on, user, reason in ctx.oos:
            try:
                self.alarms.set_out_of_service(rule, device, on, user, reason)
            except Exception:  # noqa: BLE001
                log.exception("cannot set %s on %s out of service=%s", rule, device, on)

    def _load(self, conn: Connection, tid: int) -> Ticket:
        row = conn.execute(
            sa.select(m.tickets).where(m.tickets.c.id == tid).with_for_update()
        ).mappings().first()
        if row is None:
            raise NotFound(f"no ticket {tid}")
        return dict(row)

    @staticmethod
    def _edit(row: Ticket, ctx: _Ctx) -> Ticket:
        new = dict(row)
        new["breached"] = list(row.get("breached") or [])
        new["escalations"] = dict(row.get("escalations") or {})
        new["updated_at_ms"] = ctx.now
        new["version"] = int(row["version"]) + 1
        return new

    def _save(self, conn: Connection, ctx: _Ctx, old: Ticket, new: Ticket, change: str) -> None:
        t = m.tickets
        values = {k: new[k] for k in _COLUMNS if k != "id"}
        res = conn.execute(
            sa.update(t).where(t.c.id == old["id"], t.c.version == old["version"]).values(values)
        )
        if res.rowcount != 1:
            raise Conflict(f"ticket {old['id']} changed meanwhile; try again")
        ctx.changed(new, change)

    def _new_row(self, ctx: _Ctx, **fields_: Any) -> Ticket:
        lv = self.levels.levels(fields_["priority"], fields_["category"])
        now = ctx.now
        row: Ticket = {
            "status": OPEN,
            "assignee": None,
            "created_at_ms": now,
            "assigned_at_ms": None,
            "started_at_ms": None,
            "resolved_at_ms": None,
            "closed_at_ms": None,
            "cancelled_at_ms": None,
            "assign_by_ms": now + lv.assign_ms,
            "respond_by_ms": now + lv.respond_ms,
            "resolve_by_ms": now + lv.resolve_ms,
            "callback_by_ms": None,
            "breached": [],
            "escalations": {},
            "escalated_to": None,
            "satisfaction": None,
            "condition_cleared_at_ms": None,
            "reopened": 0,
            "updated_at_ms": now,
            "version": 1,
        }
        row.update(fields_)
        return row

    def _insert(
        self,
        conn: Connection,
        ctx: _Ctx,
        row: Ticket,
        *,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Ticket:
        values = {k: row[k] for k in _COLUMNS if k != "id"}
        row["id"] = int(conn.execute(sa.insert(m.tickets).values(values)
                                     .returning(m.tickets.c.id)).scalar_one())
        self._log(conn, ctx, row, "create", actor=actor, reason=reason,
                  detail={"crew": row["crew"], "priority": row["priority"],
                          "category": row["category"], "source": row["source"],
                          **(detail or {})})
        self._dispatch(conn, ctx, row, new=True)
        ctx.changed(row, "create")
        return row

    def _pick(self, conn: Connection, crew: str, now: int) -> tuple[str | None, dict[str, int]]:
        t = m.tickets
        members = self.roster.on_duty(crew, now)
        work = {mid: 0 for mid in members}
        if members:
            for a, n in conn.execute(
                sa.select(t.c.assignee, sa.func.count())
                .where(t.c.status.in_(WORK_STATUSES), t.c.assignee.in_(members))
                .group_by(t.c.assignee)
            ).all():
                work[str(a)] = int(n)
        return self.roster.pick(crew, now, work), work

    def _dispatch(self, conn: Connection, ctx: _Ctx, row: Ticket, *, new: bool = False) -> bool:
        """Assign an open ticket to the member on duty with the least open work (the
        caller saves ``row``; a ``new`` one is updated here, and journaled if nobody can
        take it)."""
        who, work = self._pick(conn, row["crew"], ctx.now)
        if who is None:
            if new:
                self._log(conn, ctx, row, "dispatch_failed",
                          reason=f"nobody of crew {row['crew']} is on duty")
            return False
        shift = self.roster.on_shift(row["crew"], ctx.now)
        row["status"] = ASSIGNED
        row["assignee"] = who
        row["assigned_at_ms"] = ctx.now
        how = "on shift" if who in shift else "on call (no one on shift)"
        self._log(
            conn, ctx, row, "assign", actor=DISPATCH_ACTOR,
            reason=f"{who} {how} with the least open work ({work.get(who, 0)})",
            detail={"assignee": who, "on_duty": sorted(work), "open_work": work,
                    "on_shift": shift},
        )
        self._late(conn, ctx, row)
        if new:
            t = m.tickets
            conn.execute(sa.update(t).where(t.c.id == row["id"]).values(
                status=row["status"], assignee=who, assigned_at_ms=ctx.now,
                breached=row["breached"]))
        return True

    def _late(self, conn: Connection, ctx: _Ctx, row: Ticket) -> None:
        """Clocks met late by this move are breached (if the tick did not see it)."""
        checks = (
            ("assign", row["assigned_at_ms"], row["assign_by_ms"]),
            ("respond", row["started_at_ms"], row["respond_by_ms"]),
            ("resolve", row["resolved_at_ms"], row["resolve_by_ms"]),
            ("callback", row["closed_at_ms"] if row["source"] == "person" else None,
             row["callback_by_ms"]),
        )
        for clock, done, due in checks:
            if done is None or due is None or done <= due or clock in row["breached"]:
                continue
            row["breached"] = [*row["breached"], clock]
            self._log(conn, ctx, row, "breach",
                      reason=f"{clock} clock missed (due {iso_ms(due)})",
                      detail={"clock": clock, "due": iso_ms(due), "met_at": iso_ms(done)})

    def _log(
        self,
        conn: Connection,
        ctx: _Ctx,
        row: Ticket,
        action: str,
        *,
        actor: str = SYSTEM_ACTOR,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        if row.get("id") is None:
            raise AssertionError("journal entries need the ticket's id")
        jr.append(conn, [jr.entry(
            at_ms=ctx.now, actor=actor, action=action, reason=reason, ticket_id=row["id"],
            rule=row["rule"], device=row["device"], state=row["status"], detail=detail,
        )])


# ------------------------------------------------------------------ helpers
def _ticket_id(ticket_id: int | str) -> int:
    return parse_id(ticket_id, "ticket")


def _mean_s(values: Iterable[int]) -> float | None:
    vals = list(values)
    return round(sum(vals) / len(vals) / 1000, 3) if vals else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _figures(
    rows: list[Ticket],
    open_rows: list[Ticket],
    repeated: Mapping[int, list[int]],
    now_ms: int,
    window_ms: int,
) -> dict[str, Any]:
    done = {
        "assign": lambda r: r["assigned_at_ms"],
        "respond": lambda r: r["started_at_ms"],
        "resolve": lambda r: r["resolved_at_ms"],
        "callback": lambda r: r["closed_at_ms"] if r["source"] == "person" else None,
    }
    sla: dict[str, Any] = {}
    for clock, when in done.items():
        decided = met = 0
        for r in rows:
            breached = clock in (r["breached"] or [])
            finished = when(r) is not None
            if breached or finished:
                decided += 1
                if finished and not breached:
                    met += 1
        sla[clock] = {"decided": decided, "met": met, "breached": decided - met,
                      "compliance_pct": _pct(met, decided)}
    resolved = [r for r in rows if r["resolved_at_ms"] is not None
                and r["status"] in (RESOLVED, CLOSED)]

    def fixed_first_time(r: Ticket) -> bool:
        if int(r["reopened"] or 0) > 0:
            return False
        closed = r["closed_at_ms"] or r["resolved_at_ms"]
        return not any(at <= closed + window_ms for at in repeated.get(int(r["id"]), []))

    rule_rows = [r for r in rows if r["source"] == "rule"]
    scores = [int(r["satisfaction"]) for r in rows
              if r["satisfaction"] is not None and r["status"] == CLOSED]
    buckets = {name: 0 for name, _ in AGE_BUCKETS}
    for r in open_rows:
        age = now_ms - int(r["created_at_ms"])
        for name, limit in AGE_BUCKETS:
            if limit is None or age < limit:
                buckets[name] += 1
                break
    return {
        "tickets": len(rows),
        "by_status": {s: sum(1 for r in rows if r["status"] == s) for s in STATUSES},
        "mtta_s": _mean_s(r["started_at_ms"] - r["created_at_ms"] for r in rows
                          if r["started_at_ms"] is not None),
        "mean_time_to_assign_s": _mean_s(r["assigned_at_ms"] - r["created_at_ms"] for r in rows
                                         if r["assigned_at_ms"] is not None),
        "mttr_s": _mean_s(r["resolved_at_ms"] - r["created_at_ms"] for r in rows
                          if r["resolved_at_ms"] is not None),
        "sla": sla,
        "first_time_fix_pct": _pct(sum(1 for r in resolved if fixed_first_time(r)),
                                   len(resolved)),
        "repeat_fault_pct": _pct(sum(1 for r in rule_rows if r["repeat_of"] is not None),
                                 len(rule_rows)),
        "satisfaction": {
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            "count": len(scores),
        },
        "backlog": {"total": len(open_rows), "by_age": buckets},
    }
