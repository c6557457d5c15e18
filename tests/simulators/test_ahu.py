"""AHU-1's physical model (simulators.ahu) and its place in the simulation."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from gateway.clock import ManualClock
from gateway.site import Site, load_site
from simulators import Simulation
from simulators.ahu import COOL_DT, FAN_DT, HEAT_DT, MIN_OA, AhuPlant, sat_setpoint
from simulators.engine import AHU_SCENARIOS
from tests.simulators.test_sim_engine import JAN, WED

AHU_POINTS = {
    "oat",
    "rat",
    "mat",
    "sat",
    "sat_sp",
    "heat_valve",
    "cool_valve",
    "oa_damper",
    "fan_speed",
    "duct_static",
    "duct_static_sp",
}


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site()


def rows(sim: Simulation, until: float, device: str = "ahu-01") -> list[dict[str, Any]]:
    out = []
    for topic, payload, _, _ in sim.generate(until):
        if f"/{device}/telemetry" in topic:
            body = json.loads(payload)
            out.append(body.get("values", body))
    return out


def test_points_are_off_unless_asked(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SITEWATCH_RULE_PACKS", raising=False)
    sim = Simulation(site, clock=ManualClock(WED), start=WED)
    assert AHU_POINTS.isdisjoint(rows(sim, WED + 600)[0])
    with pytest.raises(ValueError, match="needs the AHU points"):
        sim.inject("ahu_fan_failed")
    monkeypatch.setenv("SITEWATCH_RULE_PACKS", "default,fdd")
    sim = Simulation(site, clock=ManualClock(WED), start=WED)
    assert AHU_POINTS <= set(rows(sim, WED + 600)[0])
    assert {"ewt", "lwt"} <= set(rows(sim, WED + 1200, "fcu-lobby-01")[0])


@pytest.mark.parametrize("start", [JAN, WED])
def test_balances_hold_and_the_loop_tracks_its_setpoint(site: Site, start: float) -> None:
    sim = Simulation(site, clock=ManualClock(start), start=start, ahu_points=True)
    day = [v for v in rows(sim, start + 86_400) if v["fan"]]
    assert day
    for v in day:  # mixing box: MAT between outdoor and return air (sensor noise aside)
        assert min(v["oat"], v["rat"]) - 0.3 <= v["mat"] <= max(v["oat"], v["rat"]) + 0.3
        assert not (v["heat_valve"] > 0 and v["cool_valve"] > 0)  # a split-range sequence
        assert MIN_OA <= v["oa_damper"] <= 100
        assert (
            v["sat_sp"] == sat_setpoint(v["oat"]) or abs(v["sat_sp"] - sat_setpoint(v["oat"])) < 0.5
        )
    settled = day[240:]  # two hours after start-up
    assert sum(abs(v["sat"] - v["sat_sp"]) < 0.5 for v in settled) > 0.95 * len(settled)
    for v in settled:  # the coils' energy balance: SAT = MAT + ΔTfan + heating − cooling
        model = (
            v["mat"] + FAN_DT + HEAT_DT * v["heat_valve"] / 100 - COOL_DT * v["cool_valve"] / 100
        )
        assert v["sat"] == pytest.approx(model, abs=0.6)


def plant_run(fault: str | None, oat: float, rat: float, minutes: int = 60) -> dict[str, Any]:
    p = AhuPlant(random.Random(1))
    t = 0.0
    p.step(t, oat, rat, True, 0.5)
    if fault:
        p.inject(fault, t)
    v: dict[str, Any] = {}
    for _ in range(minutes * 2):
        t += 30
        v = p.step(t, oat, rat, True, 0.5)
    return v


def test_injected_faults_show_in_the_points() -> None:
    ok = plant_run(None, 31.0, 25.0)
    assert ok["sat"] == pytest.approx(13.0, abs=0.3) and ok["cool_valve"] < 99
    stuck = plant_run("cool_valve_stuck", 31.0, 25.0)
    assert stuck["cool_valve"] == 100 and stuck["sat"] > 20  # SAT = MAT + fan heat
    both = plant_run("heat_cool", 31.0, 25.0)
    assert both["heat_valve"] >= 60 and both["cool_valve"] == 100
    fan = plant_run("fan_failed", 31.0, 25.0)
    assert fan["fan_speed"] == 100 and fan["duct_static"] < 50
    damper = plant_run("damper_stuck", 19.0, 23.5)
    assert damper["oa_damper"] == 100 and damper["mat"] == pytest.approx(23.5, abs=0.3)
    bias = plant_run("mat_bias", 19.0, 23.5)
    assert bias["mat"] - bias["oat"] == pytest.approx(5.0, abs=0.5)
    heat = plant_run("heat_valve_stuck", 3.0, 20.0)
    assert heat["heat_valve"] == 100  # the loop winds up against a valve that does not move
    assert heat["sat"] == pytest.approx(heat["mat"] + FAN_DT, abs=0.3)
    assert heat["sat"] < heat["sat_sp"] - 1.5
    with pytest.raises(ValueError, match="unknown AHU fault"):
        AhuPlant(random.Random(1)).inject("meteor", 0.0)


def test_hunting_swings_the_sequence_and_clear_ends_faults(site: Site) -> None:
    start = JAN + 11 * 3600
    sim = Simulation(site, clock=ManualClock(start), start=start, ahu_points=True)
    rows(sim, start + 600)
    assert "ahu_hunting" in AHU_SCENARIOS
    assert sim.inject("ahu_hunting") == "ahu-01"
    vals = rows(sim, start + 4200)
    heating = [v["heat_valve"] > 2 for v in vals]
    flips = sum(1 for a, b in zip(heating, heating[1:], strict=False) if a != b)
    assert flips > 7  # more operating-state changes in an hour than G36's ΔOSmax
    assert sim.clear("ahu_hunting") == 1
    assert sim.clear("ahu_hunting") == 0
