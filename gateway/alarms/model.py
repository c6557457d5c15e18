"""The alarm as stored and as shown: the :class:`Alarm` record and its public JSON form.

Life of an alarm (``state``, :class:`~rules.vocab.AlarmState`)::

    raise ──> active_unacked ──ack──> active_acked ──clear──> closed
                    │  ^                                        ^
               clear│  │raise again                             │
                    v  │                                        │
               cleared_unacked ───────────────ack───────────────┘

One open (not ``closed``) alarm per (rule, device, point) (:attr:`Alarm.key`); its
``point`` is ``''`` when it has none. Times are epoch milliseconds; :meth:`Alarm.public`
turns them into the contract's RFC 3339 strings. Every change bumps ``version``, which
guards the update in the database (see ``gateway.alarms.store``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from gateway.clock import iso_ms
from gateway.store import journal as jr
from rules.vocab import AlarmState

STATES: tuple[str, ...] = tuple(AlarmState)
OPEN_STATES: tuple[str, ...] = tuple(s for s in AlarmState if s != AlarmState.CLOSED)
ACTIVE_STATES: tuple[str, ...] = (AlarmState.ACTIVE_UNACKED, AlarmState.ACTIVE_ACKED)
UNACKED_STATES: tuple[str, ...] = (AlarmState.ACTIVE_UNACKED, AlarmState.CLEARED_UNACKED)

SYSTEM_USER = jr.SYSTEM_ACTOR
#: journal actions that are activations (a transition into alarm)
ACTIVATIONS: tuple[str, ...] = ("raise", "reactivate")

Key = tuple[str, str, str]
AlarmDict = dict[str, Any]
Change = tuple[int, AlarmDict]


@dataclass(slots=True)
class Alarm:
    """One alarm as stored (field names are the ``alarms`` table's columns; times are
    epoch ms). :meth:`public` gives the contract's JSON object."""

    rule: str
    site: str
    system: str | None
    device: str
    point: str  # '' when the alarm has no point
    zone: str | None
    priority: str
    state: str
    raised_at_ms: int
    activated_at_ms: int
    source_ts_ms: int
    last_hit_ms: int  # gateway time of the last activation (raise or return)
    last_announced_ms: int
    updated_at_ms: int
    id: int | None = None
    shelved: bool = False
    shelved_until_ms: int | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    suppressed: bool = False
    suppressed_reason: str | None = None
    out_of_service: bool = False
    chattering: bool = False
    cleared_at_ms: int | None = None
    acked_at_ms: int | None = None
    acked_by: str | None = None
    closed_at_ms: int | None = None
    value: Any = None
    message: str = ""
    action: str = ""
    cause: str = ""
    consequence: str = ""
    message_zh: str = ""
    action_zh: str = ""
    cause_zh: str = ""
    consequence_zh: str = ""
    mode: str | None = None  # fault detection: the air handler's operating mode
    waste_kw: float | None = None  # fault detection: estimated wasted power
    count: int = 1
    ticket_ids: list[Any] = field(default_factory=list)
    escalations: int = 0
    version: int = 1

    @property
    def key(self) -> Key:
        return (self.rule, self.device, self.point)

    @property
    def is_open(self) -> bool:
        return self.state != AlarmState.CLOSED

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def masked(self) -> bool:
        """Kept from the operator: shelved, suppressed, out of service or chattering."""
        return self.shelved or self.suppressed or self.out_of_service or self.chattering

    def copy(self) -> Alarm:
        """A copy a caller may keep (the service's own copy changes under it)."""
        return replace(self, ticket_ids=list(self.ticket_ids))

    def row(self) -> dict[str, Any]:
        """The ``alarms`` row's values (without ``id``)."""
        d = {name: getattr(self, name) for name in ALARM_FIELDS if name != "id"}
        d["value"] = jr.json_safe(self.value)
        d["ticket_ids"] = list(self.ticket_ids)
        return d

    def public(self) -> AlarmDict:
        """The alarm object of the contract (section 4), plus a few extras."""
        return {
            "id": self.id,
            "rule": self.rule,
            "site": self.site,
            "system": self.system,
            "device": self.device,
            "point": self.point or None,
            "zone": self.zone,
            "priority": self.priority,
            "state": self.state,
            "shelved": self.shelved,
            "suppressed": self.suppressed,
            "out_of_service": self.out_of_service,
            "chattering": self.chattering,
            "raised_at": iso_ms(self.raised_at_ms),
            "source_ts": iso_ms(self.source_ts_ms),
            "cleared_at": iso_ms(self.cleared_at_ms),
            "acked_at": iso_ms(self.acked_at_ms),
            "acked_by": self.acked_by,
            "value": self.value,
            "message": self.message,
            "action": self.action,
            "ticket_ids": list(self.ticket_ids),
            # extras
            "shelved_until": iso_ms(self.shelved_until_ms),
            "shelved_by": self.shelved_by,
            "shelve_reason": self.shelve_reason,
            "suppressed_reason": self.suppressed_reason,
            "cause": self.cause,
            "consequence": self.consequence,
            "message_zh": self.message_zh,
            "action_zh": self.action_zh,
            "cause_zh": self.cause_zh,
            "consequence_zh": self.consequence_zh,
            "mode": self.mode,
            "waste_kw": self.waste_kw,
            "count": self.count,
            "activated_at": iso_ms(self.activated_at_ms),
            "closed_at": iso_ms(self.closed_at_ms),
            "escalations": self.escalations,
            "updated_at": iso_ms(self.updated_at_ms),
        }


ALARM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Alarm))


def unshelve(a: Alarm) -> None:
    """End ``a``'s shelve (on a copy being edited)."""
    a.shelved = False
    a.shelved_until_ms = None
    a.shelved_by = None
    a.shelve_reason = None
