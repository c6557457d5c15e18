"""A physical model of the sales centre's air handler (AHU-1) and its fan-coils' water side.

Lifecycle: the simulation (``simulators.engine``) makes one :class:`AhuPlant` for AHU-1
when the site's air-handler points are on (``Simulation(ahu_points=True)``, or
``SITEWATCH_RULE_PACKS`` naming ``fdd``); the AHU's device model calls
:meth:`AhuPlant.step` for every reading, which integrates the plant from the last reading
to now in 10 s steps and returns the contract's points (section 13). Faults are injected
with :meth:`AhuPlant.inject` and removed with :meth:`AhuPlant.clear` (the scenarios
``ahu_*`` in ``simulators.engine.SCENARIOS``). Pure: time and weather come in as arguments.

The model (SI units; the fault-detection pack reads the same quantities):

* **Mixing box**, mass and energy balance with the outdoor-air fraction equal to the
  actual damper position: ``MAT = f·OAT + (1 - f)·RAT``.
* **Coils** in series, linear valves: heating adds up to ``HEAT_DT`` K, cooling removes up
  to ``COOL_DT`` K; the supply fan adds ``FAN_DT`` K (Guideline 36's ΔTSF, 1.1 K); the
  supply air follows with a first-order lag (``SAT_TAU`` s).
* **One PI loop** on the supply-air temperature drives a split-range sequence (Guideline
  36 style): heating valve, then the outdoor-air damper from its minimum to fully open
  (when the economizer is enabled: OAT below the return air), then the cooling valve.
* **Supply fan** on the occupancy schedule; its speed holds the duct static setpoint.

Faults: ``heat_valve_stuck`` (stuck closed), ``cool_valve_stuck`` (stuck closed),
``heat_valve_leak`` (passes ``LEAK`` of full flow while commanded shut), ``damper_stuck``
(outdoor-air damper stuck closed), ``mat_bias`` (mixed-air sensor reads +``BIAS`` K),
``sat_drift`` (supply-air sensor drifts ``DRIFT_K_PER_H`` K/h up to ``BIAS`` K),
``fan_failed`` (broken belt: the drive runs, no air moves), ``hunting`` (a loop tuned too
hot: its output swings across the sequence), ``heat_cool`` (heating valve overridden open
while the loop cools: simultaneous heating and cooling).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

HEAT_DT = 25.0  # K, heating coil fully open at design airflow
COOL_DT = 16.0  # K, cooling coil fully open
FAN_DT = 1.1  # K, supply fan heat (G36 ΔTSF = 2 °F)
SAT_TAU = 90.0  # s
MIN_OA = 30.0  # %, minimum outdoor-air damper position
DSP_SP = 250.0  # Pa, duct static setpoint
AIR_KW_PER_K = 3.6  # kW/K at full airflow: 3.0 m³/s · 1.2 kg/m³ · 1.006 kJ/(kg·K)
LEAK = 0.3
BIAS = 5.0
DRIFT_K_PER_H = 1.0
HUNT_PERIOD_S = 480.0
STEP_S = 10.0
KP, KI = 4.0, 0.08  # loop units per K, per K·s (loop output 0..300)

FAULTS = (
    "heat_valve_stuck",
    "cool_valve_stuck",
    "heat_valve_leak",
    "damper_stuck",
    "mat_bias",
    "sat_drift",
    "fan_failed",
    "hunting",
    "heat_cool",
)


def sat_setpoint(oat: float) -> float:
    """Supply-air setpoint reset by outdoor air: 18 °C at 16 °C outdoors and below, 13 °C
    at 21 °C and above."""
    return round(18.0 - 5.0 * min(max((oat - 16.0) / 5.0, 0.0), 1.0), 2)


@dataclass(slots=True)
class AhuPlant:
    rng: random.Random
    loop: float = 100.0  # PI output: 0..100 heating (reversed), 100..200 damper, 200..300 cooling
    sat: float = 18.0  # true supply air, °C
    last_e: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)  # fault -> injected at (s)
    last_t: float | None = None
    heat_kw: float = 0.0
    cool_kw: float = 0.0

    def inject(self, fault: str, t: float) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown AHU fault {fault!r}; faults: {', '.join(FAULTS)}")
        self.faults.setdefault(fault, t)

    def clear(self, fault: str | None = None) -> bool:
        if fault is None:
            had = bool(self.faults)
            self.faults.clear()
            return had
        return self.faults.pop(fault, None) is not None

    def _sequence(self, s: float, econ: bool) -> tuple[float, float, float]:
        """Loop output -> (heating valve, outdoor-air damper, cooling valve) commands, %."""
        heat = max(0.0, 100.0 - s)
        if econ:
            damper = MIN_OA + (100.0 - MIN_OA) * min(max(s - 100.0, 0.0), 100.0) / 100.0
        else:
            damper = MIN_OA
        cool = min(max(s - 200.0, 0.0), 100.0)
        return heat, damper, cool

    def step(
        self, t: float, oat: float, rat: float, running: bool, load: float
    ) -> dict[str, float | bool]:
        """Integrate to ``t`` and return the AHU points at ``t``."""
        f = self.faults
        dt_total = 6 * 3600.0 if self.last_t is None else min(max(t - self.last_t, 0.0), 6 * 3600.0)
        self.last_t = t
        sp = sat_setpoint(oat)
        econ = oat < rat
        n = max(1, int(math.ceil(dt_total / STEP_S)))
        dt = dt_total / n if dt_total > 0 else 0.0
        heat = damper = cool = 0.0
        mat = rat
        for _ in range(n):
            if running:
                heat, damper, cool = self._sequence(self.loop, econ)
            else:
                heat, damper, cool = 0.0, 0.0, 0.0
            if running and "hunting" in f:
                swing = 90.0 * math.copysign(1.0, math.sin(2 * math.pi * t / HUNT_PERIOD_S))
                heat, damper, cool = self._sequence(min(max(self.loop + swing, 0.0), 300.0), econ)
            if running and "heat_cool" in f:
                heat = max(heat, 60.0)
            heat_act = 0.0 if "heat_valve_stuck" in f else heat
            if "heat_valve_leak" in f:
                heat_act = max(heat_act, 100.0 * LEAK)
            cool_act = 0.0 if "cool_valve_stuck" in f else cool
            damper_act = 0.0 if "damper_stuck" in f else damper
            fr = damper_act / 100.0
            mat = fr * oat + (1.0 - fr) * rat
            if running:
                target = mat + FAN_DT + HEAT_DT * heat_act / 100.0 - COOL_DT * cool_act / 100.0
            else:
                target = rat
            self.sat = target + (self.sat - target) * math.exp(-dt / SAT_TAU)
            self.heat_kw = AIR_KW_PER_K * HEAT_DT * heat_act / 100.0 if running else 0.0
            self.cool_kw = AIR_KW_PER_K * COOL_DT * cool_act / 100.0 if running else 0.0
            if running:
                e = self._sat_sensor(t) - sp
                self.loop += KP * (e - self.last_e) + KI * e * dt
                self.loop = min(max(self.loop, 0.0), 300.0)
                self.last_e = e
            else:
                self.loop, self.last_e = 100.0, 0.0
        rng = self.rng
        speed = min(100.0, 55.0 + 30.0 * load) if running else 0.0
        dsp = DSP_SP if running else 0.0
        if running and "fan_failed" in f:
            speed, dsp = 100.0, 12.0
        mat_meas = mat + (BIAS if "mat_bias" in f else 0.0)
        return {
            "oat": round(oat + rng.gauss(0.0, 0.05), 2),
            "rat": round(rat + rng.gauss(0.0, 0.05), 2),
            "mat": round(mat_meas + rng.gauss(0.0, 0.05), 2),
            "sat": round(self._sat_sensor(t) + rng.gauss(0.0, 0.05), 2),
            "sat_sp": sp,
            "heat_valve": round(heat, 1),
            "cool_valve": round(cool, 1),
            "oa_damper": round(damper, 1),
            "fan_speed": round(speed, 1),
            "duct_static": round(max(0.0, dsp + (rng.gauss(0.0, 3.0) if running else 0.0)), 1),
            "duct_static_sp": DSP_SP if running else 0.0,
        }

    def _sat_sensor(self, t: float) -> float:
        at = self.faults.get("sat_drift")
        if at is None:
            return self.sat
        return self.sat + min(BIAS, DRIFT_K_PER_H * max(t - at, 0.0) / 3600.0)


def fcu_water(rng: random.Random, mode: str, running: bool, load: float) -> dict[str, float]:
    """A fan-coil's entering and leaving water temperatures: chilled water 7/12 °C, hot
    water 45/40 °C; the coil's ΔT follows its load (no flow, no ΔT when the fan is off)."""
    if mode == "heat":
        ewt, sign = 45.0, -1.0
    else:
        ewt, sign = 7.0, 1.0
    dt = 5.0 * min(max(load, 0.0), 1.0) if running else 0.0
    return {
        "ewt": round(ewt + rng.gauss(0.0, 0.05), 2),
        "lwt": round(ewt + sign * dt + rng.gauss(0.0, 0.05), 2),
    }
