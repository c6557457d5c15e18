"""The rule-language additions the fault-detection pack needs: windowed averages, counts
of changes and reversals, min/max/sqrt, named params, derived values, value expressions
and context figures on the hit; and packs merged (``default,fdd``)."""

from __future__ import annotations

import pytest

from rules import RuleEngine
from rules.lang import RuleError, compile_condition, compile_expression
from rules.model import Telemetry
from rules.pack import check_text, load_pack, load_packs, merge_packs
from rules.site import Site
from tests.rules.helpers import MIN, NOON_SH

PACK = """
version: 1
params: {eps: 1.0, big: 10}
derive:
  - name: mode
    system: hvac
    device_types: [ahu]
    cases:
      - {when: "heat_valve > 2", value: heating}
      - {when: "cool_valve > 2", value: cooling}
    else: idle
  - name: os
    system: hvac
    device_types: [ahu]
    cases:
      - {when: "mode == 'heating'", value: 1}
      - {when: "mode == 'cooling'", value: 4}
    else: 2
rules:
  - id: t.avg
    system: hvac
    device_types: [ahu]
    priority: low
    when: mode == "heating" and avg(sat, 10m) < sat_sp - eps
    for: 5m
    value: "sat_sp - avg(sat, 10m)"
    context: {mode: mode, waste_kw: "2 * min(heat_valve, 50)"}
    message: "{device} low by {value:.1f} in {mode}, {waste_kw:.0f} kW"
    action: check
  - id: t.hunt
    system: hvac
    device_types: [ahu]
    priority: low
    when: changes(os, 60m) > 3
    value: "changes(os, 60m)"
    message: "{device} hunting"
    action: check
"""


def tm(ts: int, **values: float | bool | str) -> Telemetry:
    return Telemetry("sc01", "hvac", "ahu-1", ts, dict(values), ts)


class Dev:
    """A device stand-in with history, for closures that ask it."""

    def __init__(self, samples: list[tuple[int, float]]):
        from rules.devices import Kind
        from rules.engine_device import EngineDevice, Profile

        prof = Profile(Kind("sc01", "hvac", "ahu"), {}, {"f": 3_600_000}, {}, (), ())
        self.d = EngineDevice("x", prof, None)
        for ts, v in samples:
            self.d.update({"f": v}, ts)
            self.d.add_history("f", ts, v)


def test_avg_changes_and_reversals_over_a_window() -> None:
    dev = Dev([(0, 1.0), (MIN, 3.0), (2 * MIN, 2.0), (3 * MIN, 2.0), (4 * MIN, 5.0)]).d
    values = dev.values
    assert compile_expression("avg(f, 150s)").fn(values, dev) == pytest.approx(3.0)  # 2,2,5
    assert compile_expression("changes(f, 10m)").fn(values, dev) == 3.0
    assert compile_expression("changes(f, 90s)").fn(values, dev) == 1.0  # 2 -> 5 only
    assert compile_expression("reversals(f, 10m)").fn(values, dev) == 2.0  # up, down, up
    assert compile_expression("avg(f, 10m)").fn(values, None) is None  # no device: unknown


def test_min_max_sqrt_params_and_refusals() -> None:
    e = compile_expression("sqrt(a * a + b * b) + max(c, 1, d)", params={"a": 3, "b": 4})
    assert e.fn({"c": 2, "d": -1}, None) == pytest.approx(7.0)
    assert e.fn({"c": 2}, None) is None  # unknown stays unknown
    c = compile_condition("min(x, y) > eps", params={"eps": 1.5})
    assert c({"x": 2, "y": 3}) is True and c({"x": 1, "y": 3}) is False
    for bad in ("avg(x)", "min(x)", "sqrt(-1) > x", "changes(x, 0s) > 1", "min(x, 10m) > 1"):
        with pytest.raises(RuleError):
            compile_condition(bad)


def test_pack_errors_name_the_line() -> None:
    errs = check_text(PACK.replace("else: idle", "else: [1]").replace("eps: 1.0", "eps: x"))
    assert any("params: eps" in e for e in errs) and any("else:" in e for e in errs)
    errs = check_text(PACK.replace("sat_sp - eps", "nope - eps"))
    assert any("unknown field 'nope'" in e for e in errs)


def test_derived_mode_value_and_context_reach_the_hit(site: Site) -> None:
    eng = RuleEngine(site, load_pack(PACK))
    t0 = NOON_SH
    hits = []
    for i in range(12):
        hits += eng.on_telemetry(tm(t0 + i * MIN, sat=15.0, sat_sp=18.0, heat_valve=100.0))
    raised = [h for h in hits if h.rule == "t.avg" and h.active]
    assert len(raised) == 1
    h = raised[0]
    assert h.ts_ms == t0 + 5 * MIN  # the on-delay, on the readings' own time
    assert h.value == pytest.approx(3.0) and h.context["mode"] == "heating"
    assert h.context["waste_kw"] == 100 and "in heating, 100 kW" in h.message
    assert eng.devices["ahu-1"].values["mode"] == "heating"


def test_changes_count_a_hunting_operating_state(site: Site) -> None:
    eng = RuleEngine(site, load_pack(PACK))
    hits = []
    for i in range(12):
        heat = 50.0 if i % 2 else 0.0
        hits += eng.on_telemetry(tm(NOON_SH + i * 4 * MIN, heat_valve=heat, cool_valve=0.0))
    hunt = [h for h in hits if h.rule == "t.hunt" and h.active]
    assert hunt and hunt[0].value == 4.0  # the 4th change in the hour raises it


def test_packs_merge_and_refuse_duplicates() -> None:
    merged = load_packs("default,fdd")
    ids = [r.id for r in merged.rules]
    assert ids[0] == "hvac.zone_temp_high" and "fdd.ahu.fc13" in ids
    assert [r.index for r in merged.rules] == list(range(len(ids)))
    assert {d.name for d in merged.derived} == {"mode", "os"}
    with pytest.raises(RuleError, match="both"):
        merge_packs([load_packs("default"), load_packs("default")])
    with pytest.raises(RuleError, match="no rule pack named"):
        load_packs("default,nope")
