"""Maintenance tickets: from rules and from people, dispatched, timed and measured.

The package, by the part of a ticket's life each module holds:

- ``model``: the :class:`Ticket` record, its statuses, transitions and crew routes;
- ``intake``: tickets from rule hits (at once, or after a crew's delay) and from people;
- ``lifecycle``: moves along the life, the closed-loop check, alarms out of service;
- ``assign``: who of a crew takes a ticket; ``sla``: clocks, breaches, escalation;
- ``store``: a ticket operation's transaction; ``queries``, ``kpis``: reading back;
- ``index``: the open tickets in memory (by rule and device; by due time for the tick);
- ``links``: :class:`AlarmLink`, all that tickets ask of alarms;
- ``preventive``: a plan's occurrences opened as tickets, checklists answered, costs;
  ``checklist``: the checklist items' kinds, answers and what resolving needs;
- ``service``: :class:`TicketService`, which runs it all on the event loop.

The names callers import are re-exported here.
"""

from __future__ import annotations

from gateway.errors import Conflict, Invalid, NotFound
from gateway.store.filters import parse_id, split_values
from gateway.tickets.errors import ClosedLoop, IllegalTransition
from gateway.tickets.kpis import AGE_BUCKETS
from gateway.tickets.links import AlarmLink, AlarmView
from gateway.tickets.model import (
    BACKLOG,
    CATEGORIES,
    CATEGORY_CREW,
    DISPATCH_ACTOR,
    OPEN_STATUSES,
    STATUSES,
    SYSTEM_ACTOR,
    SYSTEM_CREW,
    TRANSITIONS,
    WORK_STATUSES,
    WORKING,
    Ticket,
    TicketDict,
)
from gateway.tickets.service import Listener, TicketService

__all__ = [
    "AGE_BUCKETS",
    "BACKLOG",
    "CATEGORIES",
    "CATEGORY_CREW",
    "DISPATCH_ACTOR",
    "OPEN_STATUSES",
    "STATUSES",
    "SYSTEM_ACTOR",
    "SYSTEM_CREW",
    "TRANSITIONS",
    "WORK_STATUSES",
    "WORKING",
    "AlarmLink",
    "AlarmView",
    "ClosedLoop",
    "Conflict",
    "IllegalTransition",
    "Invalid",
    "Listener",
    "NotFound",
    "Ticket",
    "TicketDict",
    "TicketService",
    "parse_id",
    "split_values",
]
