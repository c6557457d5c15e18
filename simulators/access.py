"""Access-controlled doors: passages by time of day, and the forced/held/tamper scenarios.

A door reports on every change and on its heartbeat; its traffic and the sales centre's
opening hours are timed actions on its heap. Its lifecycle is
:class:`simulators.model.DeviceModel`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.wire import Value

from .environment import STAFF_FROM, Environment
from .model import DOOR_FORCED_CLOSE_S, DOOR_HELD_S, TELEMETRY, DeviceModel, Emission


@dataclass(slots=True, eq=False)
class Door(DeviceModel):
    """An access-controlled door: reports on every change plus a periodic heartbeat.

    A free-access door (a main entrance) is unlocked, and not secure, while the sales
    centre is open; other doors open on a valid badge and lock again when they close.
    """

    free_access: bool = False
    traffic_per_h: float = 3.0
    door_open: bool = False
    locked: bool = True
    secure: bool = True
    free_now: bool = False
    override: str = ""  # "forced" / "held" while a scenario owns the door
    opening: int = 0  # counts openings so a stale close is ignored

    @property
    def max_rate(self) -> float:
        return 46.0 if self.free_access else max(self.traffic_per_h, 0.05)

    def rate_at(self, hour: float, open_: bool, weekend: bool) -> float:
        """Passages per hour at this time of day."""
        staffed = STAFF_FROM <= hour < 19.0
        if self.free_access:
            if open_:
                base = 40.0 if weekend else 20.0
                return base * (1.15 if (10.0 <= hour < 12.0 or 14.0 <= hour < 17.0) else 1.0)
            return 4.0 if staffed else 0.05
        return self.traffic_per_h if staffed else min(0.05, self.traffic_per_h)

    def start(self, t: float, env: Environment) -> None:
        m = env.at(t)
        self.free_now = self.free_access and m.open
        self.door_open = False
        self.locked = self.secure = not self.free_now
        if self.free_access:
            self.schedule(env.next_boundary(t, (9.0, 18.0)), "schedule")
        self.schedule(t + self.rng.expovariate(self.max_rate / 3600.0), "traffic")

    def _state(self) -> dict[str, Value]:
        return {"door_open": self.door_open, "locked": self.locked, "secure": self.secure}

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        return self._state()

    def on_action(
        self, t: float, name: str, args: tuple[str, ...], env: Environment, out: list[Emission]
    ) -> None:
        rng = self.rng
        if self.run_scenario(t, name, out):
            return
        if name == "schedule":
            self.free_now = env.at(t).open
            if not self.override and not self.door_open:
                self.locked = self.secure = not self.free_now
                out.append(Emission(TELEMETRY, t, self._state()))
            self.schedule(env.next_boundary(t, (9.0, 18.0)), "schedule")
        elif name == "traffic":
            self.schedule(t + rng.expovariate(self.max_rate / 3600.0), "traffic")
            if self.override or self.door_open:
                return
            m = env.at(t)
            if rng.random() * self.max_rate >= self.rate_at(m.hour, m.open, m.weekend):
                return
            if not self.free_now and rng.random() < 0.03:
                out.append(self.event(t, "badge_denied"))
                return
            self._open(t, rng.uniform(4.0, 10.0), out)
        elif name == "close":
            if int(args[0]) != self.opening:
                return  # a later opening owns the door now
            self.door_open = False
            self.override = ""
            self.locked = self.secure = not self.free_now
            out.append(Emission(TELEMETRY, t, self._state()))
        else:
            DeviceModel.on_action(self, t, name, args, env, out)

    def _open(self, t: float, hold_s: float, out: list[Emission]) -> None:
        self.opening += 1
        self.door_open = True
        if self.override != "forced":
            self.locked = False
        out.append(Emission(TELEMETRY, t, self._state()))
        self.schedule(t + hold_s, "close", str(self.opening))

    def apply(self, scenario: str, t: float, env: Environment) -> None:
        if scenario == "door_tamper":
            self.schedule(t, "tamper")
            return
        self.schedule(t, scenario)

    def clear(self, scenario: str, t: float) -> bool:
        if self.override and scenario in ("door_forced", "door_held"):
            self.schedule(t, "close", str(self.opening))
            return True
        return False

    def run_scenario(self, t: float, name: str, out: list[Emission]) -> bool:
        if name == "door_forced":
            self.override = "forced"
            self.locked = self.secure = True
            out.append(self.event(t, "door_forced"))
            self._open(t, DOOR_FORCED_CLOSE_S, out)
        elif name == "door_held":
            self.override = "held"
            self.secure = True  # held open while the door is meant to be secure
            self._open(t, DOOR_HELD_S, out)
        elif name == "tamper":
            out.append(self.event(t, "tamper"))
        else:
            return False
        return True
