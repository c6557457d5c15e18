"""How a ticket moves along its life (:data:`~gateway.tickets.model.TRANSITIONS`).

A move the life does not allow raises :class:`IllegalTransition` (HTTP 409, with the
allowed moves). A ticket with a checklist is not ``resolved`` while a required item
is unanswered (``ChecklistIncomplete``, 409, naming them). Closed-loop check: a rule's
ticket cannot be ``resolved`` while its condition is still active (the alarm is active)
unless a note says why
(:class:`ClosedLoop`, 409); nor closed by hand while active (it closes itself once back
to normal). A person's ticket is ``closed`` by the follow-up call with ``satisfaction``
1–10 (required; a survey's ``overall`` answer stands for it); a complaint is not
``closed`` before its written reply is recorded (:class:`Conflict`, 409). While a
rule's ticket is ``in_progress`` (or ``on_hold`` in between)
its device's alarms of that rule are out of service (``AlarmLink.set_out_of_service``,
after commit); they return to service when it is resolved or cancelled. ``critical``
alarms never go out of service (journaled as such).

:meth:`Lifecycle.transition` is a sequence of steps: check the move, apply the target
status's own step (assign, start, resolve, close, cancel), plan the alarms' return to
service, journal, close a verified rule ticket, breach late clocks, save. A move made
for a person (``Move.principal``) is first checked against their rights
(``gateway.tickets.rights``: 403 before anything changes) and journals who made it
(``Move.audit``: ``by``, ``by_name``, ``via``, ``via_id``; a satisfaction score too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.dispatch import Roster
from gateway.errors import Conflict, Invalid
from gateway.people.audit import Audit, audit_detail
from gateway.people.principal import Principal
from gateway.tickets.assign import Assigner
from gateway.tickets.checklist import ChecklistIncomplete, unanswered
from gateway.tickets.errors import ClosedLoop, IllegalTransition
from gateway.tickets.links import AlarmLink
from gateway.tickets.model import PEOPLE_SOURCES, STATUSES, TRANSITIONS, WORKING, Ticket
from gateway.tickets.rights import check_rights
from gateway.tickets.sla import Sla
from gateway.tickets.store import TicketTx
from rules.model import RuleSpec
from rules.vocab import Priority, TicketCategory, TicketSource, TicketStatus

S = TicketStatus


@dataclass(slots=True)
class Move:
    """One requested move of ticket ``tid`` to ``to`` by ``user``, while it is applied."""

    tid: int
    to: str
    user: str
    note: str | None = None
    assignee: str | None = None
    satisfaction: int | None = None
    #: who asks (``None``: the gateway itself or a caller that checked already)
    principal: Principal | None = None
    #: ``Principal.audit()``: journaled with the move
    audit: Audit | None = None
    old: Ticket | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def check_move(to: str, user: str, satisfaction: int | None, note: str | None) -> str | None:
    """Refuse a malformed request (:class:`Invalid`); the note, stripped (or ``None``)."""
    if to not in STATUSES:
        raise Invalid(f"unknown status {to!r} (statuses: {', '.join(STATUSES)})")
    if not user or not user.strip():
        raise Invalid("user is required")
    if satisfaction is not None and (
        isinstance(satisfaction, bool) or not 1 <= int(satisfaction) <= 10
    ):
        raise Invalid("satisfaction is a whole number from 1 to 10")
    return note.strip() if note and note.strip() else None


class Lifecycle:
    """Moves of tickets; ``alarms`` answers whether a rule's condition is active."""

    def __init__(
        self,
        specs: Mapping[str, RuleSpec],
        roster: Roster,
        sla: Sla,
        assigner: Assigner,
        alarms: AlarmLink | None,
    ) -> None:
        self._specs = specs
        self._roster = roster
        self._sla = sla
        self._assigner = assigner
        self.alarms = alarms
        self._steps: dict[str, Callable[[TicketTx, Move, Ticket], None]] = {
            S.ASSIGNED: self._assign,
            S.IN_PROGRESS: self._start,
            S.RESOLVED: self._resolve,
            S.CLOSED: self._close,
            S.CANCELLED: self._cancel,
        }

    # ------------------------------------------------------------------ opening
    def new(self, ttx: TicketTx, *, priority: str, category: str, **fields: Any) -> Ticket:
        """A new ticket at ``ttx.now`` (status ``open``, its clocks running)."""
        assign_by, respond_by, resolve_by = self._sla.clocks(priority, category, ttx.now)
        if category == TicketCategory.COMPLAINT and "reply_by_ms" not in fields:
            fields["reply_by_ms"] = ttx.now + self._sla.reply_ms
        return Ticket(
            priority=priority,
            category=category,
            created_at_ms=ttx.now,
            updated_at_ms=ttx.now,
            assign_by_ms=assign_by,
            respond_by_ms=respond_by,
            resolve_by_ms=resolve_by,
            **fields,
        )

    def open(
        self,
        ttx: TicketTx,
        t: Ticket,
        *,
        actor: str,
        reason: str | None,
        detail: Mapping[str, Any] | None = None,
    ) -> Ticket:
        """Store the new ticket ``t``, journal and dispatch it."""
        ttx.insert(t)
        ttx.log(
            t,
            "create",
            actor=actor,
            reason=reason,
            detail={
                "crew": t.crew,
                "priority": t.priority,
                "category": t.category,
                "source": t.source,
                **(detail or {}),
            },
        )
        self._assigner.assign(ttx, t, new=True)
        ttx.changed(t, "create")
        return t

    # ------------------------------------------------------------------- moving
    def transition(self, ttx: TicketTx, move: Move) -> Ticket:
        old = ttx.load(move.tid)
        if move.principal is not None:
            move.assignee = check_rights(
                move.principal, old, move.to, move.assignee, self._roster.members()
            )
        allowed = TRANSITIONS[old.status]
        if move.to not in allowed:
            raise IllegalTransition(move.tid, old.status, move.to, allowed)
        move.old = old
        move.detail = audit_detail(move.audit, {"from": old.status, "to": move.to})
        new = ttx.edit(old)
        new.status = move.to
        step = self._steps.get(move.to)
        if step is not None:
            step(ttx, move, new)
        if old.status in WORKING and move.to not in WORKING:
            self.out_of_service(ttx, new, False, move.user)
        ttx.log(new, "transition", actor=move.user, reason=move.note, detail=move.detail)
        if move.to == S.RESOLVED and new.source == TicketSource.RULE and not self.is_active(new):
            self.close_verified(ttx, new)
        self._sla.late(ttx, new)
        ttx.save(old, new, f"transition:{new.status}")
        return new

    def _member(self, who: str) -> None:
        if who not in self._roster.members():
            raise Invalid(f"{who!r} is not a member of any crew of the site")

    def _assign(self, ttx: TicketTx, move: Move, new: Ticket) -> None:
        assert move.old is not None
        who = move.assignee or self._assigner.pick(ttx, new.crew)[0]
        if who is None:
            raise Conflict(f"nobody of crew {new.crew} is on duty: name an assignee")
        if move.assignee:
            self._member(move.assignee)
        if move.old.status == S.ASSIGNED and who == move.old.assignee:
            raise Conflict(f"ticket {move.tid} is already assigned to {who}")
        move.detail["assignee"] = who
        move.detail["previous"] = move.old.assignee
        new.assignee = who
        if new.assigned_at_ms is None:
            new.assigned_at_ms = ttx.now

    def _start(self, ttx: TicketTx, move: Move, new: Ticket) -> None:
        assert move.old is not None
        if move.assignee:
            self._member(move.assignee)
            new.assignee = move.assignee
        if move.old.status == S.RESOLVED:
            new.reopened = move.old.reopened + 1
            new.resolved_at_ms = None
            new.callback_by_ms = None
            move.detail["reopened"] = True
        if new.started_at_ms is None:
            new.started_at_ms = ttx.now
        self.out_of_service(ttx, new, True, move.user)

    def _resolve(self, ttx: TicketTx, move: Move, new: Ticket) -> None:
        assert move.old is not None
        missing = unanswered(new.checklist, new.answers)
        if missing:
            raise ChecklistIncomplete(move.tid, missing)
        active = self.is_active(new)
        if active and new.source == TicketSource.RULE and move.note is None:
            raise ClosedLoop(
                move.tid,
                move.old.status,
                move.to,
                f"ticket {move.tid}: the alarm of {new.rule} on {new.device} is "
                "still active; resolve it once the condition is back to normal, or "
                "give a note saying why it is resolved anyway",
                TRANSITIONS[move.old.status],
            )
        move.detail["condition_active"] = active
        new.resolved_at_ms = ttx.now
        if new.source in PEOPLE_SOURCES:
            self._sla.start_callback(new, ttx.now)

    def _close(self, ttx: TicketTx, move: Move, new: Ticket) -> None:
        assert move.old is not None
        if new.category == TicketCategory.COMPLAINT and not new.reply:
            raise Conflict(
                f"ticket {move.tid}: a complaint is closed once the written reply to the "
                "complainant is recorded (POST /api/v1/tickets/{id}/reply)"
            )
        if new.source in PEOPLE_SOURCES:
            if move.satisfaction is None and new.survey:
                move.satisfaction = int(new.survey["overall"])  # the person's own answer
            if move.satisfaction is None:
                raise Invalid(
                    "closing a ticket raised by a person needs the "
                    "satisfaction (1-10) from the follow-up call"
                )
            new.satisfaction = int(move.satisfaction)
            move.detail["satisfaction"] = int(move.satisfaction)
        elif self.is_active(new):
            raise ClosedLoop(
                move.tid,
                move.old.status,
                move.to,
                f"ticket {move.tid}: a rule's ticket closes once its condition is verified "
                f"back to normal; {new.rule} on {new.device} is still active",
                TRANSITIONS[move.old.status],
            )
        new.closed_at_ms = ttx.now

    @staticmethod
    def _cancel(ttx: TicketTx, move: Move, new: Ticket) -> None:
        new.cancelled_at_ms = ttx.now

    # ----------------------------------------------------- the rule's condition
    def is_active(self, t: Ticket) -> bool:
        """Whether a rule ticket's condition (its alarm) is still active."""
        if t.source != TicketSource.RULE:
            return False
        return t.condition_active or self.alarm_active(t.rule, t.device)

    def alarm_active(self, rule: str | None, device: str | None) -> bool:
        if self.alarms is None or rule is None or device is None:
            return False
        return self.alarms.is_active(rule, device)

    @staticmethod
    def close_verified(ttx: TicketTx, t: Ticket) -> None:
        """A resolved rule ticket whose condition is back to normal closes."""
        t.status = S.CLOSED
        t.closed_at_ms = ttx.now
        ttx.log(
            t,
            "transition",
            reason="condition verified back to normal",
            detail={"from": S.RESOLVED, "to": S.CLOSED},
        )

    def out_of_service(self, ttx: TicketTx, t: Ticket, on: bool, user: str) -> None:
        """Plan taking the rule's alarms on the device out of (back to) service."""
        if t.source != TicketSource.RULE or self.alarms is None or t.rule is None:
            return
        spec = self._specs.get(t.rule)
        if spec is None or spec.raises == "ticket":
            return
        if spec.priority_for(t.system) == Priority.CRITICAL:
            if on:
                ttx.log(t, "stays_in_service", reason="critical alarms are never out of service")
            return
        if not on and ttx.others_working(t):
            return
        reason = f"ticket {t.id} in progress" if on else f"ticket {t.id} {t.status}"
        ttx.oos.append((t.rule, t.device or "", on, user, reason))
        ttx.log(t, "out_of_service" if on else "in_service", actor=user, reason=reason)
