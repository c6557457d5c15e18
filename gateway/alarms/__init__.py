"""Alarms: rule hits in, alarms out (ISA-18.2 / IEC 62682 / EEMUA 191).

The package, by the part of an alarm's life each module holds:

- ``model``: the :class:`Alarm` record, its states and its public JSON form;
- ``lifecycle``: raise, repeat, clear, acknowledge, shelve, out of service, ticket links
  (and chattering) as steps that say what changes;
- ``masks``: out of service and suppression by design;
- ``timers``: the tick (shelve expiry, re-announcing critical alarms, end of chattering);
- ``changes``, ``cache``, ``store``: what an operation changes, what the service holds in
  memory, how it is written (through ``gateway.store.work``);
- ``queries``, ``kpis``: reading alarms back, and the alarm-management figures;
- ``batch``, ``groups``: floods (EEMUA 191): many hits written in batches with the loop
  served between them, and the group and bounded-snapshot views of the open alarms;
- ``service``: :class:`AlarmService`, which runs it all on the event loop.

The names callers import are re-exported here.
"""

from __future__ import annotations

from gateway.alarms.kpis import PRIORITY_GUIDANCE
from gateway.alarms.masks import DEFAULT_SUPPRESSION
from gateway.alarms.model import (
    ACTIVATIONS,
    ACTIVE_STATES,
    OPEN_STATES,
    STATES,
    SYSTEM_USER,
    UNACKED_STATES,
    Alarm,
    AlarmDict,
    Change,
    Key,
)
from gateway.alarms.service import AlarmService, Listener
from gateway.errors import Conflict, DomainError, Invalid, NotFound
from gateway.store.filters import parse_id, split_values
from rules.vocab import AlarmState

AlarmError = DomainError  # the old name of the base class

# The states by their old module-level names, for callers not yet on AlarmState.
ACTIVE_UNACKED = AlarmState.ACTIVE_UNACKED
ACTIVE_ACKED = AlarmState.ACTIVE_ACKED
CLEARED_UNACKED = AlarmState.CLEARED_UNACKED
CLOSED = AlarmState.CLOSED

__all__ = [
    "ACTIVATIONS",
    "ACTIVE_ACKED",
    "ACTIVE_STATES",
    "ACTIVE_UNACKED",
    "CLEARED_UNACKED",
    "CLOSED",
    "DEFAULT_SUPPRESSION",
    "OPEN_STATES",
    "PRIORITY_GUIDANCE",
    "STATES",
    "SYSTEM_USER",
    "UNACKED_STATES",
    "Alarm",
    "AlarmDict",
    "AlarmError",
    "AlarmService",
    "AlarmState",
    "Change",
    "Conflict",
    "DomainError",
    "Invalid",
    "Key",
    "Listener",
    "NotFound",
    "parse_id",
    "split_values",
]
