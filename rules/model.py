"""What the rule engine gives the rest of the gateway (pure data, no I/O).

The engine (``rules.engine``) turns readings, events and status changes into
:class:`RuleHit` values: "rule R is now active (or cleared) for device D / point P, as of
the device's time T". The alarm service (``gateway.alarms``) turns hits into alarms and
tickets; it never evaluates conditions itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Priority = Literal["critical", "high", "medium", "low"]
PRIORITIES: tuple[Priority, ...] = ("critical", "high", "medium", "low")
Raises = Literal["alarm", "ticket", "both"]


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
