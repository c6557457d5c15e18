"""Alarm KPIs on a fixed fixture, every figure computed by hand in the comments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.alarms import AlarmService
from gateway.alarms.kpis import _floods
from gateway.clock import ManualClock, iso_ms
from gateway.site import Site
from gateway.store import make_engine, migrate
from rules.model import RuleHit, RuleSpec
from rules.vocab import Priority as P

START = 1_767_225_600  # 2026-01-01T00:00:00Z, where the clock starts
S = START + 3600  # the start of the 24 h the KPIs look at
NOW = S + 86_400

SITE = Site.model_validate(
    {
        "site": "sc01",
        "name": "Sales centre",
        "timezone": "Asia/Shanghai",
        "zones": [{"id": "z1", "name": "Lobby"}, {"id": "z2", "name": "Office"}],
        "devices": [
            {"id": "ahu1", "system": "hvac", "type": "ahu", "zone": "z1"},
            {"id": "door1", "system": "access", "type": "door", "zone": "z1"},
            {"id": "door2", "system": "access", "type": "door", "zone": "z2"},
            {"id": "panel1", "system": "fire", "type": "fire_panel", "zone": "z1"},
        ],
    }
)
SPECS = {
    s.id: s
    for s in (
        RuleSpec("hvac.fault", "hvac", P.MEDIUM, "alarm", "HVAC fault", "Call HVAC"),
        RuleSpec("lighting.lamp_failure", "lighting", P.LOW, "alarm", "Lamp failed", "Replace"),
        RuleSpec("access.door_forced", "access", P.HIGH, "alarm", "Door forced", "Guard"),
        RuleSpec("access.door_held", "access", P.MEDIUM, "alarm", "Door held", "Close"),
        RuleSpec("fire.alarm", "fire", P.CRITICAL, "alarm", "FIRE", "Evacuate"),
    )
}
SYSTEM = {"hvac": "hvac", "lighting": "lighting", "access": "access", "fire": "fire"}


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[tuple[AlarmService, ManualClock]]:
    engine = make_engine(f"sqlite:///{tmp_path}/kpi.db")
    migrate(engine)
    clock = ManualClock(START)
    yield AlarmService(engine, SPECS, clock, SITE), clock
    engine.dispose()


def at(
    svc: AlarmService,
    clock: ManualClock,
    t: int,
    rule: str,
    device: str,
    active: bool = True,
    point: str | None = None,
) -> None:
    clock.set(t)
    svc.apply(
        RuleHit(
            rule=rule,
            site="sc01",
            system=SYSTEM[rule.split(".")[0]],
            device=device,
            point=point,
            active=active,
            ts_ms=t * 1000,
        )
    )


def build_fixture(svc: AlarmService, clock: ManualClock) -> None:
    lamp = "lighting.lamp_failure"
    at(svc, clock, S - 1000, lamp, "lamp99")  # before the period; active > 24 h: stale
    at(svc, clock, S, lamp, "lamp98")  # on the boundary: outside; active exactly 24 h
    for k in range(12):  # a burst: 12 lamps in 110 s
        at(svc, clock, S + 3600 + 10 * k, lamp, f"lamp{k:02d}")
    for k in range(5):  # ahu1 faults 5 times, 100 s apart (not chattering)
        at(svc, clock, S + 7210 + 100 * k, "hvac.fault", "ahu1")
        if k < 4:
            at(svc, clock, S + 7260 + 100 * k, "hvac.fault", "ahu1", active=False)
    at(svc, clock, S + 10000, "access.door_forced", "door1")
    at(svc, clock, S + 10100, "access.door_forced", "door1", active=False)
    at(svc, clock, S + 10200, "access.door_forced", "door1")
    at(svc, clock, S + 10250, "access.door_forced", "door1")  # repeat: no activation
    at(svc, clock, S + 20000, "fire.alarm", "panel1", point="p1")
    for k in range(3):  # door2 held 3 times in 40 s: chattering
        at(svc, clock, S + 30010 + 20 * k, "access.door_held", "door2")
        if k < 2:
            at(svc, clock, S + 30020 + 20 * k, "access.door_held", "door2", active=False)
    clock.set(NOW)


def test_kpis_on_fixture(svc: tuple[AlarmService, ManualClock]) -> None:
    service, clock = svc
    build_fixture(service, clock)
    k = service.kpis()
    assert k == service.kpis(NOW)
    assert k["period"] == {"start": iso_ms(S * 1000), "end": iso_ms(NOW * 1000), "hours": 24}

    # activations in (S, NOW]: 12 lamps + 5 ahu1 + 2 door1 + 1 fire + 3 door2 = 23
    assert k["activations"] == 23

    # buckets (S + 600 i, S + 600 (i + 1)]: the burst's first lamp (S+3600) ends bucket 5,
    # the other 11 (S+3610..3710) fall in bucket 6; ahu1 S+7210..7610 -> 12;
    # door1 S+10000, 10200 -> 16; fire S+20000 -> 33; door2 S+30010..30050 -> 50
    series = k["rate"]["series"]
    assert len(series) == 144
    assert {i: b["count"] for i, b in enumerate(series) if b["count"]} == {
        5: 1,
        6: 11,
        12: 5,
        16: 2,
        33: 1,
        50: 3,
    }
    assert series[0]["start"] == iso_ms(S * 1000)
    assert series[-1]["end"] == iso_ms(NOW * 1000)
    assert k["rate"]["peak_per_10min"] == 11
    assert k["rate"]["average_per_10min"] == 0.16  # 23 / 144 = 0.1597

    # flood: the 11th lamp (S+3700) makes 11 > 10 in the trailing 10 min; the window
    # drops below 5 when the 8th lamp (S+3670) leaves it at S+4270: 570 s, peak 12
    flood = k["flood"]
    assert flood["episodes"] == 1
    assert flood["periods"] == [
        {"start": iso_ms((S + 3700) * 1000), "end": iso_ms((S + 4270) * 1000), "peak_per_10min": 12}
    ]
    assert flood["time_in_flood_s"] == 570
    assert flood["time_in_flood_pct"] == 0.7  # 570 / 86400 = 0.66 %

    assert k["chattering"] == {"now": 1, "episodes_24h": 1}

    assert k["worst_offenders"] == [
        {"rule": "hvac.fault", "device": "ahu1", "count": 5},
        {"rule": "access.door_held", "device": "door2", "count": 3},
        {"rule": "access.door_forced", "device": "door1", "count": 2},
        {"rule": "fire.alarm", "device": "panel1", "count": 1},
        *(
            {"rule": "lighting.lamp_failure", "device": f"lamp{i:02d}", "count": 1}
            for i in range(6)
        ),
    ]

    mix = k["priority_mix"]
    assert mix["counts"] == {"critical": 1, "high": 2, "medium": 8, "low": 12}
    # 1/23, 2/23, 8/23, 12/23
    assert mix["percent"] == {"critical": 4.3, "high": 8.7, "medium": 34.8, "low": 52.2}
    assert mix["guidance_percent"] == {"low": 80.0, "medium": 15.0, "high": 5.0}
    assert mix["compared_percent"] == {"low": 52.2, "medium": 34.8, "high": 13.0}  # 3/23
    assert mix["deviation_points"] == {"low": -27.8, "medium": 19.8, "high": 8.0}

    # lamp99 active since S-1000: 87 400 s > 24 h; lamp98 exactly 24 h is not stale
    stale = k["stale"]
    assert stale["count"] == 1
    assert stale["alarms"][0]["device"] == "lamp99"
    assert stale["alarms"][0]["active_h"] == 24.28

    # open: lamp99, lamp98, 12 lamps, ahu1, door1, fire, door2; ahu1 (z1) is suppressed
    # by the fire alarm in z1
    assert k["open"] == {
        "total": 18,
        "unacked": 18,
        "shelved": 0,
        "suppressed": 1,
        "out_of_service": 0,
    }


def test_kpis_with_nothing(svc: tuple[AlarmService, ManualClock]) -> None:
    service, _clock = svc
    k: dict[str, Any] = service.kpis()
    assert k["activations"] == 0 and k["rate"]["peak_per_10min"] == 0
    assert k["flood"]["episodes"] == 0 and k["worst_offenders"] == []
    assert k["priority_mix"]["percent"]["low"] == 0.0 and k["stale"]["count"] == 0


def test_flood_detection_edges() -> None:
    m = 60_000
    # exactly 10 in 10 minutes is no flood
    assert _floods([i * 1000 for i in range(10)], 100 * m) == []
    # 11 at once; it ends when they leave the window, 10 min later
    assert _floods([0] * 11, 100 * m) == [(0, 600_000, 11)]
    # still going at `now`
    assert _floods([0] * 11, 5 * m) == [(0, None, 11)]
    # hysteresis: after the start, 5..10 in the window keeps the flood going
    times = [0] * 11 + [9 * m] * 5
    assert _floods(times, 100 * m) == [(0, 19 * m, 16)]


def test_ongoing_flood_is_clipped_to_now(svc: tuple[AlarmService, ManualClock]) -> None:
    service, clock = svc
    for k in range(11):
        at(service, clock, S + 100 + k, "lighting.lamp_failure", f"l{k}")
    clock.set(S + 400)
    f = service.kpis()["flood"]
    assert f["episodes"] == 1 and f["periods"][0]["end"] is None
    assert f["time_in_flood_s"] == 290  # from S+110 to S+400
