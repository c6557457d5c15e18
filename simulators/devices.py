"""Device models: the state and behaviour of one simulated device each.

A model knows nothing about MQTT. The engine asks it to :meth:`DeviceModel.advance` to a
simulated time and collects :class:`Emission` objects (a telemetry reading or an event);
the engine turns them into topics and payloads. A model has a periodic heartbeat (its
reading every ``period`` seconds) and a small heap of timed actions (a door closing, a
panel reset, a reading reported on change), so it can publish between heartbeats.

All values use the contract's standard fields and units (°C, Pa, %/m, kW, W, hours).
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field

from simulators.wire import Value

from .ahu import AhuPlant, fcu_water
from .environment import CAR_PARK, FLAT, MEETING, OFFICE, PLANT, PUBLIC, STAFF_FROM, Environment

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

#: a fan-coil filter's loading, Pa per 24 h of fan running (225 Pa in 2,000 h)
FCU_FILTER_DRIFT = 2.7


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


# -- lighting ------------------------------------------------------------------------------
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


# -- hvac ----------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class HvacUnit(DeviceModel):
    """An air handler (``ahu``) or a fan-coil unit (``fcu``)."""

    is_ahu: bool = False
    zone_temp: float = 22.0
    supply_temp: float = 20.0
    filter_dp: float = 100.0
    fault_code: int = 0
    overheat_until: float = -math.inf
    plant: AhuPlant | None = None  # AHU-1's physical model (the contract's section 13)
    water: bool = False  # a fan-coil that reports its water temperatures

    def start(self, t: float, env: Environment) -> None:
        if self.is_ahu:
            self.filter_dp = self.rng.uniform(110.0, 170.0)
        else:
            self.filter_dp = self.rng.uniform(25.0, 60.0)
        self.last_t = t - 6 * 3600.0  # the first reading settles the zone near equilibrium

    @staticmethod
    def setpoints(daily_mean: float) -> tuple[float, float, str]:
        """(occupied setpoint, setback setpoint, mode) for the day's weather."""
        if daily_mean >= 18.0:
            return 24.0, 28.0, "cool"
        if daily_mean < 14.0:
            return 21.0, 16.0, "heat"
        return 23.0, 26.0, "vent"

    def reading(self, t: float, env: Environment) -> dict[str, Value]:
        rng = self.rng
        dt = min(max(t - self.last_t, 0.0), 6 * 3600.0)
        self.last_t = max(self.last_t, t)
        m = env.at(t)
        kind = PUBLIC if self.is_ahu else self.kind
        occ_p = env.occupancy_p(kind, m)
        occupied_sp, setback_sp, mode = self.setpoints(m.daily_mean)
        overheat = t < self.overheat_until
        scheduled = STAFF_FROM <= m.hour < 19.0 or overheat
        if "ahu_fault" in self.scenarios:
            self.fault_code = AHU_FAULT_CODE if self.is_ahu else FCU_FAULT_CODE
        else:
            self.fault_code = 0
        fan = scheduled and self.fault_code == 0
        sp = occupied_sp if scheduled else setback_sp
        h = m.hour
        solar = 1.5 * math.sin(math.pi * (h - 6.0) / 12.0) if 6.0 <= h < 18.0 else 0.0
        t_free = 24.0 + 0.55 * (m.outdoor - 24.0) + 2.5 * occ_p + solar
        if fan:
            t_eq, tau = sp + 0.08 * (t_free - sp), 1200.0
        else:
            t_eq, tau = t_free, 7200.0
        self.zone_temp = t_eq + (self.zone_temp - t_eq) * math.exp(-dt / tau)
        self.zone_temp += rng.gauss(0.0, 0.04)
        if overheat:
            self.zone_temp = sp + max(3.2, 3.6 + rng.gauss(0.0, 0.2))
        if fan:
            s_target = {"cool": 13.0, "heat": 35.0, "vent": 19.0}[mode]
            s_target += 0.05 * (t_free - sp)
            s_tau = 300.0
        else:
            s_target, s_tau = self.zone_temp, 1800.0
        self.supply_temp = s_target + (self.supply_temp - s_target) * math.exp(-dt / s_tau)
        # filter loading grows with running hours; a clogged filter drifts to ~300 Pa
        if "filter_clog" in self.scenarios:
            target = CLOGGED_DP * (1.0 if self.is_ahu else 0.95)
            self.filter_dp = target + (self.filter_dp - target) * math.exp(-dt / 900.0)
        elif fan:
            # Pa per 24 h of running; a fan-coil's clean filter (25 Pa) reaches 250 Pa at
            # about 2,000 fan hours, so its filter plan and its trend plan have work to do
            self.filter_dp += (1.2 if self.is_ahu else FCU_FILTER_DRIFT) * dt / 86_400.0
        load = min(1.0, abs(t_free - sp) / 10.0 + 0.2 * occ_p)
        if fan:
            power = (3.5 + 4.0 * load) if self.is_ahu else (0.04 + 0.09 * load)
            power *= 1.0 + rng.gauss(0.0, 0.02)
        else:
            power = 0.02 if self.is_ahu else 0.0
        out: dict[str, Value] = {
            "zone_temp": round(self.zone_temp, 2),
            "setpoint": sp,
            "supply_temp": round(self.supply_temp + rng.gauss(0.0, 0.05), 2),
            "fan": fan,
            "filter_dp": round(max(0.0, self.filter_dp * (1.0 + rng.gauss(0.0, 0.01))), 1),
            "fault_code": self.fault_code,
            "power_kw": round(max(0.0, power), 3),
        }
        if self.plant is not None:
            pts = self.plant.step(t, m.outdoor, self.zone_temp + 0.5, fan, load)
            out.update(pts)
            out["supply_temp"] = pts["sat"]
        elif self.water:
            out.update(fcu_water(rng, mode, fan, load))
        return out

    def apply(self, scenario: str, t: float, env: Environment) -> None:
        if scenario.startswith("ahu_") and scenario != "ahu_fault" and self.plant is not None:
            self.plant.inject(scenario[4:], t)
            self.schedule(t, "report")
            return
        if scenario == "zone_overheat":
            self.overheat_until = t + ZONE_OVERHEAT_S
            self.schedule(t, "report")
            return
        DeviceModel.apply(self, scenario, t, env)

    def clear(self, scenario: str, t: float) -> bool:
        if scenario.startswith("ahu_") and scenario != "ahu_fault" and self.plant is not None:
            return self.plant.clear(scenario[4:])
        if scenario == "zone_overheat" and self.overheat_until > t:
            self.overheat_until = t
            return True
        if scenario == "filter_clog" and scenario in self.scenarios:
            # cleared = the filter was replaced: back to a clean filter's pressure drop
            self.filter_dp = self.rng.uniform(90.0, 110.0) if self.is_ahu else 25.0
        return DeviceModel.clear(self, scenario, t)


# -- access --------------------------------------------------------------------------------
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


# -- fire ----------------------------------------------------------------------------------
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
