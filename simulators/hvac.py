"""HVAC units: air handlers and fan-coils, with their zone's temperature and filter.

A unit's zone settles towards its setpoint (fan on) or the free-running temperature (fan
off) between readings; its filter loads with running hours. AHU-1 may carry the physical
model of :mod:`simulators.ahu`. Its lifecycle is :class:`simulators.model.DeviceModel`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.wire import Value

from .ahu import AhuPlant, fcu_water
from .environment import PUBLIC, STAFF_FROM, Environment
from .model import (
    AHU_FAULT_CODE,
    CLOGGED_DP,
    FCU_FAULT_CODE,
    ZONE_OVERHEAT_S,
    DeviceModel,
)

#: a fan-coil filter's loading, Pa per 24 h of fan running (225 Pa in 2,000 h)
FCU_FILTER_DRIFT = 2.7


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
