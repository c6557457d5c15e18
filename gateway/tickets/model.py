"""The ticket as stored and as shown: the :class:`Ticket` record, its statuses and routes.

**Life cycle** (:data:`TRANSITIONS`)::

    open ──> assigned ──> in_progress <──> on_hold
               │ ^(re-assign)   │
               │                v
               │            resolved ──> closed
               │                └──> in_progress (reopened)
    any of open, assigned, in_progress, on_hold ──> cancelled

**Tickets from people**: categories route to crews (``repair`` by the device's system:
hvac → ``hvac``, lighting → ``electrical``, access → ``security``, fire →
``fire-safety``; ``cleaning`` → ``cleaning``; ``security`` → ``security``; ``complaint``
and ``enquiry`` → ``customer-service``).

Times are epoch milliseconds; :meth:`Ticket.public` gives the contract's object with RFC
3339 strings. Every change bumps ``version``, which guards the update in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import sqlalchemy as sa

from gateway.clock import iso_ms
from gateway.dispatch import HOUR_MS
from gateway.store import journal as jr
from gateway.store import models as m
from rules.vocab import System, TicketCategory, TicketSource, TicketStatus

T = TicketStatus
STATUSES: tuple[str, ...] = tuple(TicketStatus)
#: not finished: counts for "one open ticket per (rule, device, crew)"
OPEN_STATUSES: tuple[str, ...] = tuple(s for s in T if s not in (T.CLOSED, T.CANCELLED))
#: a member's open work (least-open-work dispatch)
WORK_STATUSES: tuple[str, ...] = (T.ASSIGNED, T.IN_PROGRESS, T.ON_HOLD)
#: being worked on: the rule's alarms are out of service
WORKING: tuple[str, ...] = (T.IN_PROGRESS, T.ON_HOLD)
#: the backlog: not yet resolved
BACKLOG: tuple[str, ...] = (T.OPEN, T.ASSIGNED, T.IN_PROGRESS, T.ON_HOLD)

TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    T.OPEN: (T.ASSIGNED, T.CANCELLED),
    T.ASSIGNED: (T.ASSIGNED, T.IN_PROGRESS, T.CANCELLED),
    T.IN_PROGRESS: (T.ON_HOLD, T.RESOLVED, T.CANCELLED),
    T.ON_HOLD: (T.IN_PROGRESS, T.CANCELLED),
    T.RESOLVED: (T.CLOSED, T.IN_PROGRESS),
    T.CLOSED: (),
    T.CANCELLED: (),
}

CATEGORIES: tuple[str, ...] = tuple(TicketCategory)
CATEGORY_CREW: Mapping[str, str] = {
    TicketCategory.CLEANING: "cleaning",
    TicketCategory.SECURITY: "security",
    TicketCategory.COMPLAINT: "customer-service",
    TicketCategory.ENQUIRY: "customer-service",
}
SYSTEM_CREW: Mapping[str, str] = {
    System.HVAC: "hvac",
    System.LIGHTING: "electrical",
    System.ACCESS: "security",
    System.FIRE: "fire-safety",
}
#: a request made on a zone's page (contract section 9)
SOURCE_PORTAL = TicketSource.PORTAL
#: tickets raised by people: the follow-up call, the survey
PEOPLE_SOURCES: tuple[str, ...] = (TicketSource.PERSON, SOURCE_PORTAL)
#: how a person's request came in (``requests by channel``): staff entered it, took it by
#: phone, or the person used the request page
CHANNEL_STAFF = "staff"
CHANNEL_PHONE = "phone"
CHANNELS: tuple[str, ...] = (SOURCE_PORTAL, CHANNEL_STAFF, CHANNEL_PHONE)
DISPATCH_ACTOR = "dispatch"
SYSTEM_ACTOR = jr.SYSTEM_ACTOR
DAY_MS = 24 * HOUR_MS

TicketDict = dict[str, Any]


@dataclass(slots=True)
class Ticket:
    """One ticket as stored (field names are the ``tickets`` table's columns; times are
    epoch ms). :meth:`public` gives the contract's JSON object."""

    title: str
    category: str
    priority: str
    source: str
    crew: str
    created_by: str
    created_at_ms: int
    assign_by_ms: int
    respond_by_ms: int
    resolve_by_ms: int
    updated_at_ms: int
    status: str = T.OPEN
    id: int | None = None
    description: str | None = None
    rule: str | None = None
    assignee: str | None = None
    device: str | None = None
    system: str | None = None
    zone: str | None = None
    alarm_id: int | None = None
    assigned_at_ms: int | None = None
    started_at_ms: int | None = None
    resolved_at_ms: int | None = None
    closed_at_ms: int | None = None
    cancelled_at_ms: int | None = None
    callback_by_ms: int | None = None
    breached: list[str] = field(default_factory=list)
    escalations: dict[str, int] = field(default_factory=dict)
    escalated_to: str | None = None
    repeat_of: int | None = None
    satisfaction: int | None = None
    condition_active: bool = False
    condition_cleared_at_ms: int | None = None
    reopened: int = 0
    version: int = 1
    # preventive maintenance (gateway.maintenance): the occurrence of a plan on an asset,
    # the first ticket of a corrective one, the checklist, its answers, cost entries
    plan_id: str | None = None
    asset: str | None = None
    due_at_ms: int | None = None
    parent_id: int | None = None
    checklist: list[dict[str, Any]] | None = None
    answers: dict[str, Any] | None = None
    costs: list[dict[str, Any]] | None = None
    # requests from people (gateway.requests): the survey, a complaint's written reply
    # and when it is due, the channel a person's request came in by
    survey: dict[str, Any] | None = None
    reply: dict[str, Any] | None = None
    reply_by_ms: int | None = None
    channel: str | None = None
    # inspection rounds (0006): the round whose failed item opened the ticket
    round_id: int | None = None

    @property
    def tid(self) -> int:
        """The id of a stored ticket."""
        if self.id is None:
            raise AssertionError("the ticket is not stored yet")
        return self.id

    def next_version(self, now_ms: int) -> Ticket:
        """A copy to change, one version up."""
        return replace(
            self,
            breached=list(self.breached),
            escalations=dict(self.escalations),
            answers=None if self.answers is None else dict(self.answers),
            costs=None if self.costs is None else list(self.costs),
            updated_at_ms=now_ms,
            version=self.version + 1,
        )

    def row(self) -> dict[str, Any]:
        """The ``tickets`` row's values (without ``id``)."""
        d = {name: getattr(self, name) for name in TICKET_FIELDS if name != "id"}
        d["breached"] = list(self.breached)
        d["escalations"] = dict(self.escalations)
        return d

    def public(self) -> TicketDict:
        """The ticket object of the contract (section 4), plus extras."""
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "priority": self.priority,
            "status": self.status,
            "source": self.source,
            "rule": self.rule,
            "crew": self.crew,
            "assignee": self.assignee,
            "device": self.device,
            "alarm_id": self.alarm_id,
            "created_at": iso_ms(self.created_at_ms),
            "assigned_at": iso_ms(self.assigned_at_ms),
            "started_at": iso_ms(self.started_at_ms),
            "resolved_at": iso_ms(self.resolved_at_ms),
            "closed_at": iso_ms(self.closed_at_ms),
            "assign_by": iso_ms(self.assign_by_ms),
            "respond_by": iso_ms(self.respond_by_ms),
            "resolve_by": iso_ms(self.resolve_by_ms),
            "callback_by": iso_ms(self.callback_by_ms),
            "breached": list(self.breached),
            "repeat_of": self.repeat_of,
            "satisfaction": self.satisfaction,
            # extras
            "description": self.description,
            "system": self.system,
            "zone": self.zone,
            "created_by": self.created_by,
            "cancelled_at": iso_ms(self.cancelled_at_ms),
            "escalation": max(self.escalations.values(), default=0),
            "escalations": dict(self.escalations),
            "escalated_to": self.escalated_to,
            "reopened": self.reopened,
            "condition_active": self.condition_active,
            "condition_cleared_at": iso_ms(self.condition_cleared_at_ms),
            "allowed": list(TRANSITIONS.get(self.status, ())),
            "updated_at": iso_ms(self.updated_at_ms),
            "version": self.version,
            # preventive maintenance (contract section 7)
            "plan_id": self.plan_id,
            "round_id": self.round_id,
            "asset": self.asset,
            "due_at": iso_ms(self.due_at_ms),
            "parent_id": self.parent_id,
            "checklist": self.checklist,
            "answers": self.answers,
            "costs": self.costs,
            # requests from people (contract section 9)
            "survey": self.survey,
            "reply": self.reply,
            "reply_by": iso_ms(self.reply_by_ms),
            "channel": self.channel,
        }


TICKET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Ticket))
assert set(TICKET_FIELDS) == {c.name for c in m.tickets.columns}, (
    "Ticket and the tickets table disagree"
)


def from_row(row: Mapping[str, Any] | sa.RowMapping) -> Ticket:
    t = Ticket(**{name: row[name] for name in TICKET_FIELDS})
    t.breached = list(t.breached or [])
    t.escalations = dict(t.escalations or {})
    t.condition_active = bool(t.condition_active)
    t.reopened = int(t.reopened or 0)
    return t
