"""The fault-detection pack (``rules/packs/fdd.yaml``) on the simulated sales centre.

Every run replays AHU-1's simulated readings through an engine running ``default,fdd``
on the readings' own timestamps (``bench.fdd``): no wall-clock waits.
"""

from __future__ import annotations

import pytest

from bench.fdd import CASES, CLEAN_STARTS, run_case
from rules import RuleEngine
from rules.model import Telemetry
from rules.pack import load_packs
from rules.site import Site
from rules.vocab import Priority
from tests.rules.helpers import MIN, NOON_SH

MODES = {"heating", "economizer", "economizer_mech_cooling", "mech_cooling"}
DELAY_MS = 30 * MIN  # every fdd rule's `for:`


def test_the_pack_names_follow_the_contract() -> None:
    pack = load_packs("fdd")
    for r in pack.rules:
        assert r.id.startswith(("fdd.ahu.fc", "fdd.ahu.apar")) and len(r.id) in (12, 14)
        assert r.spec.priority in (Priority.LOW, Priority.MEDIUM)
        assert r.spec.raises == "both" and [c.crew for c in r.spec.crews] == ["hvac"]
        assert r.spec.cause and r.spec.consequence and r.spec.action
        assert r.delay_ms == DELAY_MS
        assert {n for n, _ in r.context_fns} == {"mode", "waste_kw"}


def test_a_fault_free_week_raises_no_fdd_alarm() -> None:
    r = run_case(None, CLEAN_STARTS[1], hours=7 * 24)  # April: every operating state
    assert r.messages >= 7 * 24 * 120 * 0.95
    assert r.raised == {}


@pytest.mark.parametrize("fault", sorted(CASES))
def test_each_injected_fault_raises_its_condition(fault: str) -> None:
    r = run_case(fault)
    expected = CASES[fault][1]
    for rid in expected:
        assert rid in r.raised, (fault, sorted(r.raised))
        h = r.raised[rid]
        after_ms = h.ts_ms - r.injected_at * 1000
        # the condition holds once the fault shows (sat_drift: after ~3 h of drift), then
        # the on-delay; never sooner than the delay
        bound = 4 * 3600_000 if fault == "sat_drift" else DELAY_MS + 20 * MIN
        assert DELAY_MS <= after_ms <= bound, (fault, after_ms / MIN)
        assert h.context["mode"] in MODES
        assert isinstance(h.context["waste_kw"], int | float) and h.context["waste_kw"] >= 0
        assert isinstance(h.value, float)


def test_simultaneous_heating_and_cooling_estimates_both_coil_loads() -> None:
    h = run_case("heat_cool").raised["fdd.ahu.apar22"]
    # heating forced to 60 % of 90 kW while cooling saturates (58 kW): 2 × min(54, 58)
    assert h.context["waste_kw"] == pytest.approx(108.0)
    assert "waste 108.0 kW" in h.message


def _ahu(ts: int, **v: float | bool) -> Telemetry:
    return Telemetry("sc01", "hvac", "ahu-1", ts, dict(v), ts)


def test_fc07_uses_guideline_36s_full_heating_not_open_fdds(site: Site) -> None:
    """open-fdd's FC7 flags SAT < SATSP − εSAT with the heating signal above 90 %; the
    Guideline (and this pack) ask for full heating, 99 %. At 95 % the two disagree: the
    pack stays quiet, where open-fdd's example would raise."""
    eng = RuleEngine(site, load_packs("default,fdd"))
    base = dict(
        fan=True,
        sat_sp=18.0,
        sat=15.0,
        mat=14.0,
        oat=5.0,
        rat=21.0,
        cool_valve=0.0,
        oa_damper=30.0,
        fan_speed=70.0,
    )
    hits = []
    for i in range(50):
        hits += eng.on_telemetry(_ahu(NOON_SH + i * MIN, heat_valve=95.0, **base))
    assert not [h for h in hits if h.rule == "fdd.ahu.fc07"]
    for i in range(50, 100):
        hits += eng.on_telemetry(_ahu(NOON_SH + i * MIN, heat_valve=100.0, **base))
    fc7 = [h for h in hits if h.rule == "fdd.ahu.fc07" and h.active]
    assert fc7 and fc7[0].ts_ms == NOON_SH + 80 * MIN  # 30 min after full heating began
    assert fc7[0].context["mode"] == "heating"


def test_a_mode_change_restarts_the_on_delay(site: Site) -> None:
    eng = RuleEngine(site, load_packs("default,fdd"))
    base = dict(
        fan=True,
        sat_sp=18.0,
        sat=15.0,
        mat=14.0,
        oat=5.0,
        rat=21.0,
        cool_valve=0.0,
        oa_damper=30.0,
        fan_speed=70.0,
    )
    hits = []
    for i in range(100):
        heat = 0.0 if i == 25 else 100.0  # one reading out of heating at minute 25
        hits += eng.on_telemetry(_ahu(NOON_SH + i * MIN, heat_valve=heat, **base))
    fc7 = [h for h in hits if h.rule == "fdd.ahu.fc07" and h.active]
    assert fc7 and fc7[0].ts_ms == NOON_SH + 56 * MIN
