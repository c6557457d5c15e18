"""Hot-path message types shared by every pipeline stage.

These are slotted dataclasses on purpose: one is made per MQTT message, so they must be
cheap. Validation happens once, at the edge (``gateway.decode``); everything downstream
trusts these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Value = float | bool | str

SYSTEMS: tuple[str, ...] = ("lighting", "hvac", "access", "fire")


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
