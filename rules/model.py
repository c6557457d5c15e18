"""The types every layer shares: messages in, rule hits out (pure data, no I/O).

A leaf module: it imports nothing of sitewatch's but the vocabulary (``rules.vocab``), so
the gateway, the API and the rule engine all build on it (as Telegraf's plugins all build
on its root package's ``Metric``).

* Messages: :class:`Telemetry`, :class:`Event`, :class:`Status` (and :class:`Rejected`) are
  what a decoder makes of an MQTT message. They are slotted dataclasses on purpose: one is
  made per message, so they must be cheap. Validation happens once, at the edge (the
  decoder); everything downstream trusts these objects.
* Rules: the engine (``rules.engine``) turns messages into :class:`RuleHit` values: "rule R
  is now active (or cleared) for device D / point P, as of the device's time T". The alarm
  service (``gateway.alarms``) turns hits into alarms and tickets; it never evaluates
  conditions itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rules.vocab import PRIORITIES as PRIORITIES  # re-exported for older imports
from rules.vocab import Priority

Raises = Literal["alarm", "ticket", "both"]

Value = float | bool | str

#: the float of each whole number 0 <= n < len(FLOATS), one object each: a reading's
#: integers are decoded to these (``gateway.decode``) and meters keep them
#: (``gateway.maintenance.meter_record``), so a setpoint, code or count that many devices
#: send is one float, not one kept per device (24 bytes each)
FLOATS = tuple(float(n) for n in range(1024))


@dataclass(slots=True)
class Telemetry:
    """One reading: several fields of one device at one device timestamp."""

    site: str
    system: str
    device: str
    ts_ms: int
    values: dict[str, Value]
    received_ms: int
    zone: str | None = None


@dataclass(slots=True)
class Event:
    """A discrete event (``door_forced``, ``fire_alarm``, ...)."""

    site: str
    system: str
    device: str
    ts_ms: int
    type: str
    received_ms: int
    point: str | None = None
    zone: str | None = None
    attrs: dict[str, Value] = field(default_factory=dict)


@dataclass(slots=True)
class Status:
    """A device's retained ``online``/``offline`` status (its MQTT will)."""

    site: str
    system: str
    device: str
    online: bool
    received_ms: int


@dataclass(slots=True)
class Rejected:
    """A message that broke the contract, with the reason it was refused."""

    topic: str
    payload: bytes
    reason: str
    detail: str
    received_ms: int


Message = Telemetry | Event | Status


@dataclass(slots=True, frozen=True)
class CrewDispatch:
    """Send a ticket to ``crew`` once the alarm has been active ``after_s`` seconds."""

    crew: str
    after_s: float = 0.0


@dataclass(slots=True, frozen=True)
class RuleSpec:
    """A rule's metadata, compiled from the rule pack."""

    id: str
    system: str | None
    priority: Priority
    raises: Raises
    message: str
    action: str
    cause: str = ""
    consequence: str = ""
    crews: tuple[CrewDispatch, ...] = ()
    clears_on_ack: bool = False  # event alarm with no clearing condition
    priority_by_system: tuple[tuple[str, Priority], ...] = ()
    # per-system crew override, e.g. device.offline: the device's own system crew
    crew_by_system: tuple[tuple[str, tuple[CrewDispatch, ...]], ...] = ()
    # the texts in Chinese when the pack gives them ({en: ..., zh: ...}); "" when it does not
    # (then the pages show the texts above in either language)
    message_zh: str = ""  # the template's text, like ``message``
    action_zh: str = ""
    cause_zh: str = ""
    consequence_zh: str = ""

    def priority_for(self, system: str | None) -> Priority:
        for s, p in self.priority_by_system:
            if s == system:
                return p
        return self.priority

    def crews_for(self, system: str | None) -> tuple[CrewDispatch, ...]:
        for s, c in self.crew_by_system:
            if s == system:
                return c
        return self.crews


@dataclass(slots=True, frozen=True)
class RuleHit:
    """A rule became active (``active=True``) or cleared for one (device, point)."""

    rule: str
    site: str
    system: str
    device: str
    point: str | None
    active: bool
    ts_ms: int  # the triggering reading's own (device) time
    value: float | bool | str | None = None
    zone: str | None = None
    message: str = ""
    context: dict[str, float | bool | str] = field(default_factory=dict)
    message_zh: str = ""  # the rule's Chinese template rendered like ``message``, if it has one
