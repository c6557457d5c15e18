"""Fire: point detectors (smoke and heat) and the fire alarm control panel.

A detector's readings rise during ``fire_alarm``/``pre_alarm`` and decay after; the panel
raises an event per point and resets after a hold (the engine pairs the two, see
:mod:`simulators.scenarios`). Their lifecycle is :class:`simulators.model.DeviceModel`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulators.wire import Value

from .environment import CAR_PARK, PLANT, Environment
from .model import FIRE_SMOKE_S, PRE_ALARM_RESET_S, DeviceModel, Emission


@dataclass(slots=True, eq=False)
class Detector(DeviceModel):
    """A point detector on the fire panel's loop: smoke (with heat) or heat only."""

    smoke_sensor: bool = True
    baseline: float = 0.25
    excess: float = 0.0  # smoke above the baseline, decaying after an event
    fire_until: float = -math.inf
    pre_until: float = -math.inf
    heat_excess: float = 0.0

    def start(self, t: float, env: Environment) -> None:
        self.baseline = self.rng.uniform(0.12, 0.4)
        self.last_t = t

    def _ambient(self, t: float, env: Environment) -> float:
        m = env.at(t)
        if self.kind == CAR_PARK:
            return 0.6 * m.outdoor + 0.4 * 20.0
        if self.kind == PLANT:
            return 28.0 + 0.2 * (m.outdoor - 20.0)
        return 22.5 + 0.15 * (m.outdoor - 22.0) + env.occupancy_p(self.kind, m)

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        rng = self.rng
        dt = max(t - self.last_t, 0.0)
        self.last_t = max(self.last_t, t)
        self.baseline = min(0.45, max(0.1, self.baseline + rng.gauss(0.0, 0.004)))
        if t < self.fire_until:
            self.excess = max(self.excess, rng.uniform(8.0, 14.0))
            self.heat_excess = 30.0 if not self.smoke_sensor else 8.0
        elif t < self.pre_until:
            self.excess = rng.uniform(2.3, 3.2)  # above normal, below the 4 %/m alarm level
        else:
            decay = math.exp(-dt / 60.0)
            self.excess *= decay
            self.heat_excess *= decay
        heat = self._ambient(t, env) + self.heat_excess + rng.gauss(0.0, 0.15)
        if not self.smoke_sensor:
            return {"heat": round(heat, 1)}
        smoke = max(0.05, self.baseline + self.excess + rng.gauss(0.0, 0.02))
        return {"smoke": round(smoke, 2), "heat": round(heat, 1)}

    def apply(self, scenario: str, t: float, env: Environment) -> None:
        if scenario == "fire_alarm":
            self.fire_until = t + FIRE_SMOKE_S
        elif scenario == "pre_alarm":
            self.pre_until = t + PRE_ALARM_RESET_S * 0.8
        self.schedule(t, "report")

    def clear(self, scenario: str, t: float) -> bool:
        if scenario == "fire_alarm" and self.fire_until > t:
            self.fire_until = t
            return True
        if scenario == "pre_alarm" and self.pre_until > t:
            self.pre_until = t
            return True
        return False


@dataclass(slots=True, eq=False)
class FirePanel(DeviceModel):
    """The fire alarm control panel: events per point, and a heartbeat of its counters."""

    points: tuple[str, ...] = ()
    active: dict[str, int] = field(default_factory=dict)

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        a = self.active
        return {
            "alarms": a.get("fire_alarm", 0),
            "pre_alarms": a.get("pre_alarm", 0),
            "faults": a.get("fault", 0),
            "supervisory": a.get("supervisory", 0),
            "disablements": a.get("disablement", 0),
            "mains_ok": True,
            "battery_v": round(27.3 + self.rng.gauss(0.0, 0.03), 2),
        }

    def on_action(
        self, t: float, name: str, args: tuple[str, ...], env: Environment, out: list[Emission]
    ) -> None:
        if name == "event":
            etype, point, zone = args
            self.active[etype] = self.active.get(etype, 0) + 1
            out.append(self.event(t, etype, point or None, zone or None))
        elif name == "reset":
            if any(self.active.values()):
                self.active.clear()
                out.append(self.event(t, "reset"))
        else:
            DeviceModel.on_action(self, t, name, args, env, out)

    def raise_event(
        self, t: float, etype: str, point: str | None, zone: str | None, hold_s: float
    ) -> None:
        self.schedule(t, "event", etype, point or "", zone or "")
        self.schedule(t + hold_s, "reset")

    def clear(self, scenario: str, t: float) -> bool:
        if any(self.active.values()):
            self.schedule(t, "reset")
            return True
        return False
