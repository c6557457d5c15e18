"""Lighting circuits: on, dimmed and off by zone schedule and presence.

A circuit's lamp hours run while it is on; ``lamp_failure`` drops its power,
``lights_left_on`` keeps it on with nobody there. Its lifecycle is
:class:`simulators.model.DeviceModel`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.wire import Value

from .environment import CAR_PARK, FLAT, MEETING, OFFICE, PUBLIC, Environment
from .model import DeviceModel


@dataclass(slots=True, eq=False)
class LightingCircuit(DeviceModel):
    rated_w: float = 800.0
    lamp_hours: float = 0.0
    on: bool = False
    level: float = 0.0
    occupancy: bool = False

    def start(self, t: float, env: Environment) -> None:
        self.rated_w = round(self.rng.uniform(300.0, 1500.0), -1)
        self.lamp_hours = round(self.rng.uniform(800.0, 9000.0), 1)
        self.last_t = t

    def _schedule(self, hour: float, open_: bool, occ: bool) -> tuple[bool, float]:
        kind = self.kind
        if kind == PUBLIC:
            if 8.5 <= hour < 18.5:
                return True, 100.0 if open_ else 60.0
            return False, 0.0
        if kind == FLAT:
            if 8.5 <= hour < 18.5:
                return True, 100.0 if occ else 40.0  # presence dimming in the show flats
            return False, 0.0
        if kind == CAR_PARK:
            if 8.0 <= hour < 20.0:
                return True, 100.0 if occ else 50.0
            return (True, 100.0) if occ else (False, 0.0)
        # offices, meeting room, plant room: presence-controlled
        if occ:
            return True, 90.0 if kind in (OFFICE, MEETING) else 100.0
        return False, 0.0

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        dt = t - self.last_t
        if self.on and dt > 0:
            self.lamp_hours += dt / 3600.0
        self.last_t = max(self.last_t, t)
        m = env.at(t)
        occ = env.occupied(self.zone, self.kind, t)
        on, level = self._schedule(m.hour, m.open, occ)
        if "lights_left_on" in self.scenarios:
            on, level, occ = True, 80.0, False
        fault = "lamp_failure" in self.scenarios
        self.on, self.level, self.occupancy = on, level, occ
        power = 0.0
        if on:
            power = self.rated_w * level / 100.0 * (0.7 if fault else 1.0)
            power *= 1.0 + self.rng.gauss(0.0, 0.01)
        return {
            "on": on,
            "level": level,
            "power_w": round(power, 1),
            "lamp_fault": fault,
            "occupancy": occ,
            "lamp_hours": round(self.lamp_hours, 3),
        }
