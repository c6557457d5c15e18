"""Engine mechanics: late readings, device clocks, offline, link grace, restart, off-delays,
rate windows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rules.engine import RuleEngine
from rules.model import RuleHit, Telemetry
from rules.pack import RulePack, load_pack
from rules.site import Site
from tests.rules.helpers import MIN, NOON_SH, S, ev, status, tel

T = NOON_SH
R = "hvac.zone_temp_high"
OFF = "device.offline"


def only(hits: list[RuleHit], rule: str) -> list[RuleHit]:
    return [h for h in hits if h.rule == rule]


# ---------------------------------------------------------------- out of order


def test_late_reading_does_not_raise(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, zone_temp=22.0))
    engine.on_telemetry(tel("fcu-1", T + 600 * S, zone_temp=22.0))
    # hot readings from before the latest one arrive late: no pending, no raise
    for s in range(0, 600, 60):
        assert engine.on_telemetry(tel("fcu-1", T + s * S, zone_temp=30.0)) == []
    assert engine.pending() == []
    assert only(engine.tick(T + 3600 * S), R) == []


def test_late_reading_does_not_clear_or_cancel(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, zone_temp=26.0))
    engine.on_telemetry(tel("fcu-1", T + 100 * S, zone_temp=26.0))
    # a cool reading from before: the pending delay stays
    assert engine.on_telemetry(tel("fcu-1", T + 50 * S, zone_temp=20.0)) == []
    assert [p["since_ms"] for p in engine.pending()] == [T]
    [h] = only(engine.on_telemetry(tel("fcu-1", T + 300 * S, zone_temp=26.0)), R)
    assert h.active and h.ts_ms == T + 300 * S
    # late cool reading does not clear the active alarm
    assert engine.on_telemetry(tel("fcu-1", T + 200 * S, zone_temp=20.0)) == []
    assert engine.active() == [(R, "fcu-1", None)]
    [c] = only(engine.on_telemetry(tel("fcu-1", T + 400 * S, zone_temp=20.0)), R)
    assert not c.active


def test_partly_fresh_reading_uses_only_fresh_fields(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T + 100 * S, zone_temp=22.0))
    # zone_temp is late (T < T+100) but setpoint is new: the stale 30.0 is not used
    engine.on_telemetry(tel("fcu-1", T, zone_temp=30.0, setpoint=22.0))
    assert engine.pending() == []
    assert engine.snapshot()["devices"]["fcu-1"]["values"]["zone_temp"] == [22.0, T + 100 * S]


def test_duplicate_reading_is_harmless(engine: RuleEngine) -> None:
    m = tel("fcu-1", T, fault_code=3)
    assert len(only(engine.on_telemetry(m), "hvac.fault")) == 1
    assert engine.on_telemetry(m) == []


def test_each_device_on_its_own_clock(engine: RuleEngine) -> None:
    # ahu-1's clock is a day behind fcu-1's: its readings are not late
    engine.on_telemetry(tel("fcu-1", T, fault_code=0))
    day = 86_400 * S
    hits = []
    for s in range(0, 601, 60):
        hits += engine.on_telemetry(tel("ahu-1", T - day + s * S, filter_dp=300.0))
    [h] = only(hits, "hvac.filter_clogged")
    assert h.ts_ms == T - day + 600 * S


def test_event_older_than_raise_clears_nothing(engine: RuleEngine) -> None:
    engine.on_event(ev("door-1", T, "door_forced"))
    assert engine.on_telemetry(tel("door-1", T - 10 * S, door_open=False)) == []
    assert engine.active() == [("access.door_forced", "door-1", None)]


# ---------------------------------------------------------------- offline


def test_offline_by_silence(engine: RuleEngine) -> None:
    engine.tick(T)  # site devices never heard count from here
    engine.on_telemetry(tel("door-1", T, door_open=False))  # interval 30 s -> 90 s
    engine.on_telemetry(tel("fcu-1", T, zone_temp=21.0))  # 60 s -> 180 s
    engine.on_telemetry(tel("ahu-1", T, zone_temp=21.0))  # 300 s -> 900 s
    assert only(engine.tick(T + 89 * S), OFF) == []
    [d] = only(engine.tick(T + 90 * S), OFF)
    assert (d.device, d.active, d.ts_ms, d.value) == ("door-1", True, T + 90 * S, "offline")
    assert d.message == "door-1 offline (no message for 90 s)"
    assert only(engine.tick(T + 100 * S), OFF) == []  # no repeat
    hits = engine.tick(T + 180 * S)
    assert sorted(h.device for h in only(hits, OFF)) == ["fcu-1", "fp-1", "lc-1", "sd-1", "sd-2"]
    assert "ahu-1" not in [h.device for h in only(engine.tick(T + 899 * S), OFF)]
    assert [h.device for h in only(engine.tick(T + 900 * S), OFF)] == ["ahu-1"]
    # the next message clears it
    [c] = only(engine.on_telemetry(tel("door-1", T + 950 * S, door_open=False)), OFF)
    assert not c.active and c.ts_ms == T + 950 * S
    # silence counts again from that message
    assert only(engine.tick(T + 1039 * S), OFF) == []
    assert [h.device for h in only(engine.tick(T + 1040 * S), OFF)] == ["door-1"]


def test_offline_minimum_60s(site: Site) -> None:
    pack = load_pack(_offline_pack(factor=1))
    assert pack.rules[0].id == "off"
    e = RuleEngine(site, pack)
    e.on_telemetry(tel("door-1", T, recv=T, door_open=False))  # 1 x 30 s < 60 s
    e.tick(T)
    assert [h.device for h in e.tick(T + 59 * S) if h.device == "door-1"] == []
    assert [h.device for h in e.tick(T + 60 * S) if h.device == "door-1"] == ["door-1"]


def test_offline_silence_uses_gateway_time(engine: RuleEngine) -> None:
    # a backfilled reading (device time a day old) received now is proof of life
    engine.tick(T)
    engine.on_telemetry(tel("door-1", T - 86_400 * S, recv=T + 60 * S, door_open=False))
    assert "door-1" not in [h.device for h in engine.tick(T + 149 * S)]
    assert "door-1" in [h.device for h in engine.tick(T + 150 * S)]


def test_offline_by_status(engine: RuleEngine) -> None:
    [h] = engine.on_status(status("sd-1", False, T), T)
    assert (h.rule, h.active, h.system, h.ts_ms) == (OFF, True, "fire", T)
    assert h.message == "sd-1 offline (status offline)"
    assert engine.spec(OFF).priority_for("fire") == "high"
    assert [c.crew for c in engine.spec(OFF).crews_for("fire")] == ["fire-safety"]
    assert engine.on_status(status("sd-1", False, T + S), T + S) == []
    engine.tick(T)
    hits = only(engine.tick(T + 3600 * S), OFF)
    assert hits and "sd-1" not in [x.device for x in hits]  # already offline: no repeat
    [c] = engine.on_status(status("sd-1", True, T + 7300 * S), T + 7300 * S)
    assert not c.active and c.ts_ms == T + 7300 * S


def test_offline_status_cleared_by_data(engine: RuleEngine) -> None:
    engine.on_status(status("door-1", False, T), T)
    [c] = only(engine.on_event(ev("door-1", T + S, "badge_denied")), OFF)
    assert not c.active


def test_online_status_does_not_clear_silence(engine: RuleEngine) -> None:
    engine.tick(T)
    [h] = [x for x in engine.tick(T + 90 * S) if x.device == "door-1"]
    assert h.active
    assert engine.on_status(status("door-1", True, T + 100 * S), T + 100 * S) == []
    assert [
        x.device
        for x in only(engine.on_telemetry(tel("door-1", T + 101 * S, door_open=False)), OFF)
    ] == ["door-1"]


def test_unknown_device_registered_on_first_message(engine: RuleEngine) -> None:
    t = Telemetry("sc01", "hvac", "fcu-99", T, {"fault_code": 4}, T, zone="L9")
    [h] = only(engine.on_telemetry(t), "hvac.fault")
    assert h.zone == "L9"
    engine.tick(T)
    # one reading: no known interval, so silence raises nothing (issue 10)
    assert "fcu-99" not in [x.device for x in engine.tick(T + 3600 * S)]
    # readings 60 s apart: the interval is learned (the median gap), silence is judged
    for k in range(3):
        at = T + (4000 + 60 * k) * S
        engine.on_telemetry(Telemetry("sc01", "hvac", "fcu-98", at, {"x": 1}, at))
    last = T + 4120 * S
    assert "fcu-98" not in [x.device for x in engine.tick(last + 179 * S)]
    assert "fcu-98" in [x.device for x in engine.tick(last + 180 * S)]  # 3 x 60 s
    assert "fcu-99" not in [x.device for x in engine.tick(last + 3600 * S)]


def test_grace_after_link_restored(engine: RuleEngine) -> None:
    engine.tick(T)
    for d in ("fcu-1", "lc-1", "door-1", "sd-1", "sd-2", "fp-1", "ahu-1"):
        engine.on_telemetry(tel(d, T, x=1))
    engine.link_lost(T + 10 * S)
    assert only(engine.tick(T + 3600 * S), OFF) == []  # link down: silence means nothing
    engine.link_restored(T + 3600 * S, grace_s=120)
    assert only(engine.tick(T + 3600 * S + 119 * S), OFF) == []
    engine.on_telemetry(tel("fcu-1", T + 3650 * S, x=1))  # reports during grace
    hits = only(engine.tick(T + 3600 * S + 120 * S), OFF)
    assert sorted(h.device for h in hits) == ["ahu-1", "door-1", "fp-1", "lc-1", "sd-1", "sd-2"]
    assert all(h.ts_ms == T + 3720 * S for h in hits)
    assert only(engine.tick(T + 3650 * S + 179 * S), OFF) == []
    assert [h.device for h in only(engine.tick(T + 3650 * S + 180 * S), OFF)] == ["fcu-1"]


# ---------------------------------------------------------------- restart


def test_restore_pending_timers(site: Site, pack: RulePack) -> None:
    e1 = RuleEngine(site, pack)
    e1.on_telemetry(tel("fcu-1", T, setpoint=22.0, zone_temp=26.0))
    e1.on_telemetry(tel("door-1", T + 10 * S, door_open=True))
    state = json.loads(json.dumps(e1.snapshot()))  # survives JSON
    assert sorted(p["rule"] for p in state["pending"]) == ["access.door_held", R]
    e2 = RuleEngine(site, pack)
    e2.restore(state)
    assert sorted(map(str, e2.pending())) == sorted(map(str, e1.pending()))
    assert [h.rule for h in e2.tick(T + 69 * S) if h.active] == []
    [h] = [x for x in e2.tick(T + 70 * S) if x.rule == "access.door_held"]
    assert h.ts_ms == T + 70 * S
    [h2] = only(e2.tick(T + 300 * S), R)
    assert h2.ts_ms == T + 300 * S and h2.value == 26.0
    # values were restored too: a cool reading clears it (and only once)
    [c] = only(e2.on_telemetry(tel("fcu-1", T + 400 * S, zone_temp=23.0)), R)
    assert not c.active


def test_restore_pending_list_only(site: Site, pack: RulePack) -> None:
    e1 = RuleEngine(site, pack)
    e1.on_telemetry(tel("ahu-1", T, filter_dp=300.0))
    e2 = RuleEngine(site, pack)
    e2.restore(e1.pending())
    [h] = only(e2.tick(T + 600 * S), "hvac.filter_clogged")
    assert h.ts_ms == T + 600 * S


def test_restore_active_prevents_duplicate_raise(site: Site, pack: RulePack) -> None:
    e1 = RuleEngine(site, pack)
    e1.on_event(ev("fp-1", T, "fire_alarm", point="sd-1"))
    e1.on_telemetry(tel("lc-1", T, lamp_fault=True))
    e2 = RuleEngine(site, pack)
    e2.restore({"active": json.loads(json.dumps(e1.snapshot()["active"]))})
    assert e2.on_event(ev("fp-1", T + S, "fire_alarm", point="sd-1")) == []
    assert e2.on_telemetry(tel("lc-1", T + S, lamp_fault=True)) == []
    # the restored fire alarm still guards smoke_high in its zone
    assert only(e2.on_telemetry(tel("sd-1", T + S, smoke=9.0)), "fire.smoke_high") == []
    [c] = e2.on_event(ev("fp-1", T + 5 * S, "reset"))
    assert (c.rule, c.point, c.active) == ("fire.alarm", "sd-1", False)
    assert c.message == "cleared: FIRE ALARM fp-1 sd-1 in L2"


def test_restore_skips_unknown_rules(engine: RuleEngine) -> None:
    engine.restore(
        {
            "pending": [{"rule": "gone", "device": "fcu-1", "since_ms": T}],
            "active": [{"rule": "gone", "device": "fcu-1"}],
        }
    )
    assert engine.pending() == [] and engine.active() == []


# ---------------------------------------------------------------- custom packs


def _offline_pack(factor: float) -> str:
    return f"""
rules:
  - id: "off"
    priority: low
    offline: {{factor: {factor}, min: 60s}}
    message: "{{device}} offline"
    action: check
"""


CUSTOM = """
rules:
  - id: hot
    system: hvac
    priority: low
    when: zone_temp > 30
    for: 60s
    clear: zone_temp < 25
    clear_for: 120s
    message: "{device} hot {zone_temp}"
    clear_message: "{device} cool again {zone_temp}"
    action: look
  - id: rising
    system: hvac
    priority: low
    when: rate(zone_temp, 10m) > 0.5
    message: "{device} rising {zone_temp}"
    action: look
  - id: crit
    system: fire
    priority: critical
    when: heat > 60
    message: "{device} heat {heat}"
    action: run
  - id: night_door
    system: access
    priority: high
    event: badge_denied
    when: count >= 3
    inside: "22:00-06:00"
    days: [mon, tue, wed, thu, fri]
    message: "{device} {count} badges denied"
    action: look
"""


@pytest.fixture()
def custom(site: Site) -> RuleEngine:
    return RuleEngine(site, load_pack(CUSTOM))


def test_off_delay_via_readings_and_tick(custom: RuleEngine) -> None:
    custom.on_telemetry(tel("fcu-1", T, zone_temp=31.0))
    [h] = only(custom.on_telemetry(tel("fcu-1", T + 60 * S, zone_temp=31.0)), "hot")
    assert h.active
    custom.on_telemetry(tel("fcu-1", T + 100 * S, zone_temp=24.0))
    custom.on_telemetry(tel("fcu-1", T + 150 * S, zone_temp=26.0))  # off-delay interrupted
    custom.on_telemetry(tel("fcu-1", T + 200 * S, zone_temp=24.0))
    assert only(custom.tick(T + 319 * S), "hot") == []
    [c] = only(custom.tick(T + 320 * S), "hot")
    assert not c.active and c.ts_ms == T + 320 * S
    assert c.message == "fcu-1 cool again 24.0"


def test_rate_of_change(custom: RuleEngine) -> None:
    hits: list[RuleHit] = []
    for i in range(11):  # +0.4 °C/min for 10 minutes
        hits += custom.on_telemetry(tel("fcu-1", T + i * MIN, zone_temp=20.0 + 0.4 * i))
    assert only(hits, "rising") == []
    for i in range(11, 16):  # now +1 °C/min
        hits += custom.on_telemetry(tel("fcu-1", T + i * MIN, zone_temp=24.0 + (i - 10)))
    assert [h.active for h in only(hits, "rising")] == [True]
    # a late reading goes into history but changes nothing now
    assert only(custom.on_telemetry(tel("fcu-1", T + 30 * S, zone_temp=0.0)), "rising") == []


def test_critical_rule_is_never_delayed(custom: RuleEngine) -> None:
    [h] = only(custom.on_telemetry(tel("sd-1", T, heat=70.0)), "crit")
    assert h.ts_ms == T


def test_event_rule_with_condition_and_window(custom: RuleEngine) -> None:
    # Monday 12:00 local: outside 22:00-06:00
    assert custom.on_event(ev("door-1", T, "badge_denied", count=5)) == []
    night = T + 11 * 3600 * S  # Monday 23:00 local
    assert custom.on_event(ev("door-1", night, "badge_denied", count=2)) == []
    [h] = custom.on_event(ev("door-1", night + S, "badge_denied", count=3))
    assert h.message == "door-1 3 badges denied" and h.context["count"] == 3
    # Saturday night is not in the days
    sat_night = T + 5 * 86_400 * S + 11 * 3600 * S
    custom.acknowledged("night_door", "door-1", None, night + 2 * S)
    assert custom.on_event(ev("door-1", sat_night, "badge_denied", count=9)) == []


def test_incremental_snapshot_holds_only_changed_devices_and_restores() -> None:
    from gateway.site import load_site
    from rules import RuleEngine, load_default_pack
    from rules.model import Telemetry

    site = load_site()
    eng = RuleEngine(site, load_default_pack())
    t0 = 1_767_225_600_000
    eng.on_telemetry(Telemetry("sc01", "hvac", "fcu-a", t0, {"setpoint": 22.0}, t0))
    eng.on_telemetry(Telemetry("sc01", "hvac", "fcu-b", t0, {"setpoint": 24.0}, t0))
    assert eng.take_dirty() == {"fcu-a", "fcu-b"}
    assert eng.take_dirty() == set()
    eng.on_telemetry(Telemetry("sc01", "hvac", "fcu-b", t0 + 1000, {"zone_temp": 30.0}, t0))
    part = eng.snapshot(devices=eng.take_dirty())
    assert set(part["devices"]) == {"fcu-b"}
    # a fresh engine restored from the parts knows fcu-b's setpoint sent long before
    fresh = RuleEngine(site, load_default_pack())
    fresh.restore(eng.snapshot())
    hits = fresh.on_telemetry(
        Telemetry("sc01", "hvac", "fcu-b", t0 + 400_000, {"zone_temp": 30.0}, t0 + 400_000)
    )
    assert [h.rule for h in hits] == ["hvac.zone_temp_high"]


def test_a_device_first_heard_by_its_status_takes_the_zone_of_its_first_zoned_message() -> None:
    from gateway.site import load_site
    from rules import load_default_pack
    from rules.model import Status

    engine = RuleEngine(load_site(), load_default_pack())
    engine.on_status(Status("sc01", "lighting", "plug-9", False, 1_000), 1_000)
    assert engine.devices["plug-9"].zone is None
    t = Telemetry("sc01", "lighting", "plug-9", 2_000, {"on": True}, 2_000, zone="lobby")
    engine.on_telemetry(t)
    assert engine.devices["plug-9"].zone == "lobby"


def test_incremental_saves_carry_active_keys_by_device(site: Site, pack: RulePack) -> None:
    # the parts an incremental save writes ({device: entry} merged over saves, as the
    # state store keeps them) restore the active keys; the core part names none, so
    # 30,000 active alarms are not written again at every save
    e1 = RuleEngine(site, pack)
    saved: dict[str, dict[str, Any]] = {}

    def save() -> dict[str, Any]:
        snap = json.loads(json.dumps(e1.snapshot(devices=e1.take_dirty())))
        saved.update(snap.pop("devices"))
        assert "active" not in snap
        return snap

    e1.tick(T)  # site devices never heard: silence counted from here
    e1.on_event(ev("fp-1", T, "fire_alarm", point="sd-1"))
    e1.on_telemetry(tel("lc-1", T, lamp_fault=True))
    save()
    assert e1.take_dirty() == set()
    only(e1.tick(T + 10 * MIN), OFF)  # silence raises: the devices are changed
    changed = e1.take_dirty()
    assert {"fcu-1", "door-1", "sd-2"} <= changed
    e1.mark_dirty(changed)
    e1.on_telemetry(tel("lc-1", T + 10 * MIN + S, lamp_fault=False))  # clears
    core = save()
    assert [a["device"] for a in saved["fcu-1"]["active"]] == ["fcu-1"]
    assert all(a["rule"] != "lighting.lamp_fault" for a in saved["lc-1"]["active"])
    e2 = RuleEngine(site, pack)
    e2.restore({**core, "devices": saved})
    assert set(e2.active()) == set(e1.active())
    assert (
        only(e2.on_event(ev("fp-1", T + 11 * MIN, "fire_alarm", point="sd-1")), "fire.alarm") == []
    )
    assert only(e2.tick(T + 11 * MIN), OFF) == []  # not raised twice
