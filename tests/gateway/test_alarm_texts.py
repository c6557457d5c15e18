"""An alarm carries the pack's Chinese texts and a fault-detection rule's mode and waste."""

from __future__ import annotations

from pathlib import Path

from gateway.alarms import AlarmService
from gateway.clock import ManualClock
from gateway.store import make_engine, migrate
from rules.model import RuleHit, RuleSpec
from rules.vocab import Priority
from tests.gateway.test_alarms import SITE

SPECS = {
    "fdd.ahu.apar22": RuleSpec(
        "fdd.ahu.apar22",
        "hvac",
        Priority.LOW,
        "alarm",
        "heating and cooling at once",
        "check the valves",
        message_zh="同时加热和制冷",
        action_zh="检查阀门",
        cause_zh="阀门泄漏",
        consequence_zh="浪费能源",
    ),
}


def test_texts_in_both_languages_and_the_fault_figures_reach_the_public_alarm(
    tmp_path: Path,
) -> None:
    eng = make_engine(f"sqlite:///{tmp_path}/a.db")
    migrate(eng)
    clock = ManualClock(1_767_225_600.0)
    svc = AlarmService(eng, SPECS, clock, SITE)
    hit = RuleHit(
        "fdd.ahu.apar22",
        "sc01",
        "hvac",
        "ahu1",
        None,
        True,
        clock.now_ms(),
        12.5,
        message="AHU heats and cools",
        message_zh="空调箱同时加热和制冷",
        context={"mode": "heating", "waste_kw": 108.04},
    )
    a = svc.apply(hit)
    assert a is not None and a.id is not None
    pub = svc.get(a.id)
    assert pub["message_zh"] == "空调箱同时加热和制冷" and pub["action_zh"] == "检查阀门"
    assert pub["cause_zh"] == "阀门泄漏" and pub["consequence_zh"] == "浪费能源"
    assert pub["mode"] == "heating" and pub["waste_kw"] == 108.04
    # kept in the store: a new service reads the same
    again = AlarmService(eng, SPECS, clock, SITE).get(a.id)
    assert again["mode"] == "heating" and again["message_zh"] == "空调箱同时加热和制冷"
