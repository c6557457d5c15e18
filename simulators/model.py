"""The device model: what every simulated device is, before its kind.

A model knows nothing about MQTT. The engine asks it to :meth:`DeviceModel.advance` to a
simulated time and collects :class:`Emission` objects (a telemetry reading or an event);
the engine turns them into topics and payloads. A model has a periodic heartbeat (its
reading every ``period`` seconds) and a small heap of timed actions (a door closing, a
panel reset, a reading reported on change), so it can publish between heartbeats.

Lifecycle: the engine (:mod:`simulators.engine`) makes one model per device, calls
:meth:`DeviceModel.start` once at the simulation's start, then :meth:`DeviceModel.advance`
whenever :meth:`DeviceModel.next_time` is due; scenarios come and go through
:meth:`DeviceModel.apply` and :meth:`DeviceModel.clear`. The kinds, one module a system,
are gathered in :mod:`simulators.devices`.

All values use the contract's standard fields and units (°C, Pa, %/m, kW, W, hours).
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from simulators.wire import Value

from .environment import Environment

# how long scenarios last, simulated seconds
DOOR_FORCED_CLOSE_S = 30.0
DOOR_HELD_S = 120.0
ZONE_OVERHEAT_S = 600.0
FIRE_SMOKE_S = 240.0
FIRE_PANEL_CONFIRM_S = 2.0
FIRE_RESET_S = 600.0
PRE_ALARM_RESET_S = 180.0
FAULT_RESET_S = 900.0
SUPERVISORY_RESET_S = 600.0
DISABLEMENT_RESET_S = 1800.0
CLOGGED_DP = 300.0  # Pa, where a clogged filter settles
AHU_FAULT_CODE = 21  # supply fan VFD trip
FCU_FAULT_CODE = 4  # condensate pump alarm

TELEMETRY = "telemetry"
EVENT = "event"


@dataclass(slots=True)
class Emission:
    """One thing a device says at simulated time ``t``: a reading or an event."""

    kind: str  # TELEMETRY or EVENT
    t: float
    body: dict[str, Value]  # telemetry: the values; event: type, point?, zone?, ...


Action = tuple[float, int, str, tuple[str, ...]]


@dataclass(slots=True, eq=False)
class DeviceModel:
    id: str
    zone: str
    kind: str  # zone kind (see simulators.environment.zone_kind)
    period: float  # heartbeat, simulated seconds
    next_beat: float
    rng: random.Random
    last_t: float
    actions: list[Action] = field(default_factory=list)
    scenarios: set[str] = field(default_factory=set)  # persistent scenarios in force
    seq: int = 0

    # -- scheduling ---------------------------------------------------------------------
    def next_time(self) -> float:
        if self.actions:
            return min(self.next_beat, self.actions[0][0])
        return self.next_beat

    def schedule(self, t: float, action: str, *args: str) -> None:
        self.seq += 1
        heapq.heappush(self.actions, (t, self.seq, action, args))

    def advance(self, t: float, env: Environment, out: list[Emission]) -> None:
        """Do everything due at or before ``t`` (actions first, then the heartbeat)."""
        actions = self.actions
        while actions and actions[0][0] <= t:
            at, _, name, args = heapq.heappop(actions)
            self.on_action(at, name, args, env, out)
        if self.next_beat <= t:
            out.append(Emission(TELEMETRY, t, self.reading(t, env)))
            self.next_beat += self.period
            if self.next_beat <= t:  # fell far behind (a silent spell): skip, do not backfill
                self.next_beat = t + self.period

    def start(self, t: float, env: Environment) -> None:
        """Set the initial state at simulated time ``t`` and schedule the first actions."""

    def on_action(
        self, t: float, name: str, args: tuple[str, ...], env: Environment, out: list[Emission]
    ) -> None:
        if name == "report":
            out.append(Emission(TELEMETRY, t, self.reading(t, env)))

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        raise NotImplementedError

    def event(
        self, t: float, etype: str, point: str | None = None, zone: str | None = None
    ) -> Emission:
        body: dict[str, Value] = {"type": etype}
        if point:
            body["point"] = point
        body["zone"] = zone or self.zone
        return Emission(EVENT, t, body)

    # -- scenarios ------------------------------------------------------------------------
    def apply(self, scenario: str, t: float, env: Environment) -> None:
        """Start a scenario on this device at ``t`` (the engine checks the type)."""
        self.scenarios.add(scenario)
        self.schedule(t, "report")

    def clear(self, scenario: str, t: float) -> bool:
        if scenario in self.scenarios:
            self.scenarios.discard(scenario)
            self.schedule(t, "report")
            return True
        return False
