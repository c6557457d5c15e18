"""Every rule of the default pack: raises when its condition holds long enough, not when it
holds less, clears only past its deadband, never raises twice for an active key."""

from __future__ import annotations

import pytest

from rules.engine import RuleEngine
from rules.model import RuleHit
from tests.rules.helpers import MIN, NOON_SH, S, ev, tel

T = NOON_SH


def raised(hits: list[RuleHit], rule: str) -> list[RuleHit]:
    return [h for h in hits if h.rule == rule and h.active]


def cleared(hits: list[RuleHit], rule: str) -> list[RuleHit]:
    return [h for h in hits if h.rule == rule and not h.active]


def only(hits: list[RuleHit], rule: str) -> list[RuleHit]:
    return [h for h in hits if h.rule == rule]


# ---------------------------------------------------------------- hvac.zone_temp_high

R = "hvac.zone_temp_high"


def feed_hot(
    e: RuleEngine, start: int, seconds: int, temp: float = 25.5, step: int = 60
) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for s in range(0, seconds + 1, step):
        hits += e.on_telemetry(tel("fcu-1", start + s * S, zone_temp=temp))
    return hits


def test_zone_temp_high_raises_after_300s(engine: RuleEngine) -> None:
    assert engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, fan=True, zone_temp=22.0)) == []
    hits = feed_hot(engine, T + MIN, 299)
    assert only(hits, R) == []
    hits = engine.on_telemetry(tel("fcu-1", T + MIN + 300 * S, zone_temp=25.4))
    [h] = raised(hits, R)
    assert h.ts_ms == T + MIN + 300 * S
    assert h.value == 25.4
    assert h.device == "fcu-1" and h.system == "hvac" and h.zone == "L1" and h.point is None
    assert h.message == "fcu-1 zone temperature 25.4 °C above setpoint 22.0 °C"
    assert h.context["setpoint"] == 22.0
    # repeats: no second raise
    assert only(feed_hot(engine, T + 7 * MIN, 600), R) == []


def test_zone_temp_high_held_less_does_not_raise(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, fan=True))
    hits = feed_hot(engine, T, 240)
    hits += engine.on_telemetry(tel("fcu-1", T + 290 * S, zone_temp=24.9))  # not above +3
    hits += feed_hot(engine, T + 300 * S, 240)  # starts again: 240 s < 300 s
    assert only(hits, R) == []
    assert only(engine.tick(T + 300 * S + 299 * S), R) == []
    assert raised(engine.tick(T + 300 * S + 300 * S), R)


def test_zone_temp_high_deadband(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0))
    assert raised(feed_hot(engine, T, 300), R)
    t = T + 400 * S
    # between setpoint+2 and setpoint+3: stays active, no hit
    for temp in (24.9, 24.5, 24.0):
        assert only(engine.on_telemetry(tel("fcu-1", t, zone_temp=temp)), R) == []
        t += MIN
    [c] = cleared(engine.on_telemetry(tel("fcu-1", t, zone_temp=23.9)), R)
    assert c.ts_ms == t and c.value == 23.9
    assert c.message.startswith("cleared: fcu-1 zone temperature")
    # clear is not repeated
    assert only(engine.on_telemetry(tel("fcu-1", t + MIN, zone_temp=21.0)), R) == []
    # and it can raise again after a new 300 s
    assert raised(feed_hot(engine, t + 2 * MIN, 300), R)


def test_zone_temp_high_setpoint_sent_once_still_counts(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T - 3600 * S, setpoint=20.0))
    hits = feed_hot(engine, T, 300, temp=23.5)
    assert raised(hits, R)


def test_zone_temp_high_setpoint_change_moves_threshold(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0))
    assert raised(feed_hot(engine, T, 300), R)
    [c] = cleared(engine.on_telemetry(tel("fcu-1", T + 400 * S, setpoint=24.0)), R)
    assert c.ts_ms == T + 400 * S


def test_zone_temp_high_not_while_fan_off(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, fan=False))
    assert only(feed_hot(engine, T, 900), R) == []
    assert only(engine.tick(T + 3600 * S), R) == []
    # fan starts: the delay starts there
    engine.on_telemetry(tel("fcu-1", T + 1000 * S, fan=True))
    assert only(engine.on_telemetry(tel("fcu-1", T + 1200 * S, zone_temp=26.0)), R) == []
    assert raised(engine.on_telemetry(tel("fcu-1", T + 1300 * S, zone_temp=26.0)), R)


def test_zone_temp_high_without_setpoint_never_raises(engine: RuleEngine) -> None:
    assert only(feed_hot(engine, T, 900, temp=40.0), R) == []


def test_zone_temp_high_completes_on_tick(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("fcu-1", T, setpoint=22.0, zone_temp=26.0))
    assert only(engine.tick(T + 299 * S), R) == []
    [h] = raised(engine.tick(T + 305 * S), R)
    assert h.ts_ms == T + 300 * S
    assert only(engine.tick(T + 400 * S), R) == []
    # a reading after the completion is a repeat
    assert only(engine.on_telemetry(tel("fcu-1", T + 420 * S, zone_temp=26.0)), R) == []


# ---------------------------------------------------------------- hvac.filter_clogged


def test_filter_clogged(engine: RuleEngine) -> None:
    F = "hvac.filter_clogged"
    hits: list[RuleHit] = []
    for s in range(0, 541, 60):
        hits += engine.on_telemetry(tel("ahu-1", T + s * S, filter_dp=260.0))
    hits += engine.on_telemetry(tel("ahu-1", T + 590 * S, filter_dp=250.0))  # not > 250
    assert only(hits, F) == []
    for s in range(600, 1201, 60):
        hits += engine.on_telemetry(tel("ahu-1", T + s * S, filter_dp=300.0))
    [h] = raised(hits, F)
    assert h.ts_ms == T + 1200 * S and h.value == 300.0
    assert engine.spec(F).raises == "ticket"
    assert only(engine.on_telemetry(tel("ahu-1", T + 1300 * S, filter_dp=320.0)), F) == []
    [c] = cleared(engine.on_telemetry(tel("ahu-1", T + 1400 * S, filter_dp=100.0)), F)
    assert c.ts_ms == T + 1400 * S


def test_filter_clogged_on_tick(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("ahu-1", T, filter_dp=300.0))
    assert only(engine.tick(T + 599 * S), "hvac.filter_clogged") == []
    [h] = raised(engine.tick(T + 600 * S), "hvac.filter_clogged")
    assert h.ts_ms == T + 600 * S


# ---------------------------------------------------------------- hvac.fault


def test_hvac_fault(engine: RuleEngine) -> None:
    F = "hvac.fault"
    assert only(engine.on_telemetry(tel("fcu-1", T, fault_code=0)), F) == []
    [h] = raised(engine.on_telemetry(tel("fcu-1", T + S, fault_code=12)), F)
    assert h.ts_ms == T + S and h.message == "fcu-1 reports fault code 12" and h.value == 12
    assert only(engine.on_telemetry(tel("fcu-1", T + 2 * S, fault_code=13)), F) == []
    assert only(engine.on_telemetry(tel("fcu-1", T + 3 * S, zone_temp=22.0)), F) == []
    [c] = cleared(engine.on_telemetry(tel("fcu-1", T + 4 * S, fault_code=0)), F)
    assert c.ts_ms == T + 4 * S
    assert only(engine.on_telemetry(tel("fcu-1", T + 5 * S, fault_code=0)), F) == []


# ---------------------------------------------------------------- lighting


def test_lamp_failure(engine: RuleEngine) -> None:
    F = "lighting.lamp_failure"
    assert only(engine.on_telemetry(tel("lc-1", T, lamp_fault=False)), F) == []
    [h] = raised(engine.on_telemetry(tel("lc-1", T + S, lamp_fault=True)), F)
    assert h.message == "lc-1 lamp failure"
    assert only(engine.on_telemetry(tel("lc-1", T + 2 * S, lamp_fault=True)), F) == []
    [c] = cleared(engine.on_telemetry(tel("lc-1", T + 3 * S, lamp_fault=False)), F)
    assert c.ts_ms == T + 3 * S
    assert engine.spec(F).crews[0].crew == "electrical"


W = "lighting.after_hours_waste"
NINE_PM = T + 9 * 3600 * S  # 21:00 Asia/Shanghai (13:00 UTC)


def feed_lights(
    e: RuleEngine, start: int, seconds: int, occupancy: bool = False, on: bool = True
) -> list[RuleHit]:
    hits: list[RuleHit] = []
    for s in range(0, seconds + 1, 60):
        hits += e.on_telemetry(tel("lc-1", start + s * S, on=on, occupancy=occupancy))
    return hits


def test_after_hours_waste_raises_after_1800s_outside_hours(engine: RuleEngine) -> None:
    assert only(feed_lights(engine, NINE_PM, 1740), W) == []
    [h] = raised(feed_lights(engine, NINE_PM + 1800 * S, 120), W)
    assert h.ts_ms == NINE_PM + 1800 * S and h.value is True
    assert h.message == "lc-1 lights on with nobody present after hours"
    assert only(feed_lights(engine, NINE_PM + 2000 * S, 600), W) == []
    [c] = cleared(engine.on_telemetry(tel("lc-1", NINE_PM + 3000 * S, on=False)), W)
    assert c.ts_ms == NINE_PM + 3000 * S


def test_after_hours_waste_not_during_hours(engine: RuleEngine) -> None:
    # 12:00 to 19:59 Shanghai: inside 08:00-20:00
    assert only(feed_lights(engine, T, 7 * 3600), W) == []
    assert only(engine.tick(T + 8 * 3600 * S - S), W) == []


def test_after_hours_waste_not_when_occupied(engine: RuleEngine) -> None:
    assert only(feed_lights(engine, NINE_PM, 3600, occupancy=True), W) == []
    # occupancy ends: delay starts then
    assert only(feed_lights(engine, NINE_PM + 3600 * S, 1740), W) == []
    assert raised(engine.tick(NINE_PM + 3600 * S + 1800 * S), W)


def test_after_hours_waste_window_edges_shanghai(engine: RuleEngine) -> None:
    seven_thirty = T - 4 * 3600 * S - 30 * MIN  # 07:30 Shanghai, 23:30 UTC the day before
    engine.on_telemetry(tel("lc-1", seven_thirty, on=True, occupancy=False))
    # 1800 s later is 08:00: the window has closed; nothing raises and the timer goes
    assert only(engine.tick(seven_thirty + 1800 * S), W) == []
    assert engine.pending() == []
    # evening: raised at 21:30, then the morning clears it at 08:00 local
    engine.on_telemetry(tel("lc-1", NINE_PM, on=True, occupancy=False))
    assert raised(engine.tick(NINE_PM + 1800 * S), W)
    eight_next = T + 20 * 3600 * S  # 08:00 Shanghai next day
    assert only(engine.tick(eight_next - S), W) == []
    [c] = cleared(engine.tick(eight_next), W)
    assert c.ts_ms == eight_next
    assert only(engine.tick(eight_next + MIN), W) == []


def test_after_hours_waste_uses_site_timezone_not_utc(engine: RuleEngine) -> None:
    # 21:00 UTC is 05:00 Shanghai (outside hours) although 21:00 is "evening" in UTC;
    # 10:00 UTC is 18:00 Shanghai (inside hours) although it is 10:00 UTC.
    utc_10 = T + 6 * 3600 * S
    assert only(feed_lights(engine, utc_10, 1800), W) == []
    utc_21 = T + 17 * 3600 * S
    e2 = engine
    e2.on_telemetry(tel("lc-1", utc_21, on=False))
    assert raised(feed_lights(e2, utc_21 + MIN, 1800), W)


# ---------------------------------------------------------------- access


def test_door_forced_event_and_clear_on_close(engine: RuleEngine) -> None:
    F = "access.door_forced"
    [h] = raised(engine.on_event(ev("door-1", T, "door_forced")), F)
    assert h.system == "access" and h.point is None and h.value == "door_forced"
    assert h.message == "door-1 door forced open"
    assert engine.on_event(ev("door-1", T + S, "door_forced")) == []
    # a closed reading older than the event does not clear it
    assert only(engine.on_telemetry(tel("door-1", T - S, door_open=False)), F) == []
    assert only(engine.on_telemetry(tel("door-1", T + 2 * S, door_open=True)), F) == []
    assert engine.acknowledged(F, "door-1", None, T + 3 * S) == []  # not cleared by ack
    [c] = cleared(engine.on_telemetry(tel("door-1", T + 4 * S, door_open=False)), F)
    assert c.ts_ms == T + 4 * S
    assert raised(engine.on_event(ev("door-1", T + 5 * S, "door_forced")), F)


DH = "access.door_held"


def test_door_held_60s(engine: RuleEngine) -> None:
    hits = []
    for s in range(0, 59, 10):
        hits += engine.on_telemetry(tel("door-1", T + s * S, door_open=True, secure=True))
    assert only(hits, DH) == []
    [h] = raised(engine.on_telemetry(tel("door-1", T + 60 * S, door_open=True)), DH)
    assert h.ts_ms == T + 60 * S and h.value is True
    assert engine.on_telemetry(tel("door-1", T + 70 * S, door_open=True)) == []
    [c] = cleared(engine.on_telemetry(tel("door-1", T + 80 * S, door_open=False)), DH)
    assert c.ts_ms == T + 80 * S
    assert engine.spec(DH).crews[0].crew == "security"
    assert engine.spec(DH).crews[0].after_s == 300


def test_door_held_less_than_60s(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("door-1", T, door_open=True))
    engine.on_telemetry(tel("door-1", T + 50 * S, door_open=False))
    engine.on_telemetry(tel("door-1", T + 55 * S, door_open=True))
    assert only(engine.tick(T + 114 * S), DH) == []
    [h] = raised(engine.tick(T + 115 * S), DH)
    assert h.ts_ms == T + 115 * S


def test_door_held_not_on_free_access_schedule(engine: RuleEngine) -> None:
    engine.on_telemetry(tel("door-1", T, door_open=True, secure=False))
    assert only(engine.tick(T + 600 * S), DH) == []
    # schedule ends while the door stands open: 60 s from then
    engine.on_telemetry(tel("door-1", T + 700 * S, secure=True))
    assert only(engine.tick(T + 759 * S), DH) == []
    assert raised(engine.tick(T + 760 * S), DH)


def test_tamper_clears_on_ack(engine: RuleEngine) -> None:
    F = "access.tamper"
    [h] = raised(engine.on_event(ev("door-1", T, "tamper")), F)
    assert h.message == "door-1 tamper"
    assert engine.on_event(ev("door-1", T + S, "tamper")) == []
    assert engine.spec(F).clears_on_ack
    assert engine.acknowledged(F, "door-1", "other-point", T + 2 * S) == []
    [c] = engine.acknowledged(F, "door-1", None, T + 2 * S)
    assert (c.rule, c.active, c.ts_ms) == (F, False, T + 2 * S)
    assert engine.acknowledged(F, "door-1", None, T + 3 * S) == []
    assert raised(engine.on_event(ev("door-1", T + 4 * S, "tamper")), F)


# ---------------------------------------------------------------- fire events


def test_fire_alarm_keyed_by_point_and_reset(engine: RuleEngine) -> None:
    F = "fire.alarm"
    [a] = raised(engine.on_event(ev("fp-1", T, "fire_alarm", point="sd-1")), F)
    assert a.point == "sd-1" and a.zone == "L2"  # the zone of the detector it names
    assert engine.spec(F).priority == "critical"
    assert [c.crew for c in engine.spec(F).crews] == ["security", "fire-safety"]
    [b] = raised(engine.on_event(ev("fp-1", T + S, "fire_alarm", point="mcp-7", zone="L3")), F)
    assert b.point == "mcp-7" and b.zone == "L3"
    assert engine.on_event(ev("fp-1", T + 2 * S, "fire_alarm", point="sd-1")) == []
    # a reset older than the alarms does not clear them
    assert engine.on_event(ev("fp-1", T - S, "reset")) == []
    hits = engine.on_event(ev("fp-1", T + 10 * S, "reset"))
    assert sorted(h.point or "" for h in cleared(hits, F)) == ["mcp-7", "sd-1"]
    assert all(h.ts_ms == T + 10 * S for h in hits)
    # the fire_alarm replayed late (older than the reset) does not raise again
    assert engine.on_event(ev("fp-1", T + 5 * S, "fire_alarm", point="sd-1")) == []
    assert raised(engine.on_event(ev("fp-1", T + 20 * S, "fire_alarm", point="sd-1")), F)


def test_fire_alarm_reset_from_another_device_does_not_clear(engine: RuleEngine) -> None:
    engine.on_event(ev("fp-1", T, "fire_alarm", point="sd-1"))
    assert engine.on_event(ev("sd-1", T + S, "reset")) == []


@pytest.mark.parametrize(
    ("rule", "etype", "prio"),
    [
        ("fire.pre_alarm", "pre_alarm", "high"),
        ("fire.fault", "fault", "medium"),
        ("fire.supervisory", "supervisory", "medium"),
        ("fire.disablement", "disablement", "medium"),
    ],
)
def test_fire_event_rules(engine: RuleEngine, rule: str, etype: str, prio: str) -> None:
    assert engine.spec(rule).priority == prio
    assert [c.crew for c in engine.spec(rule).crews] == ["fire-safety"]
    [a] = raised(engine.on_event(ev("fp-1", T, etype, point="p1")), rule)
    assert a.value == etype and a.zone == "L1"
    [b] = raised(engine.on_event(ev("fp-1", T, etype, point="p2")), rule)
    assert b.point == "p2"
    assert engine.on_event(ev("fp-1", T + S, etype, point="p1")) == []
    assert engine.acknowledged(rule, "fp-1", "p1", T + 2 * S) == []  # cleared by reset only
    # a reset naming a point clears only that point
    [c] = cleared(engine.on_event(ev("fp-1", T + 3 * S, "reset", point="p1")), rule)
    assert c.point == "p1"
    [c2] = cleared(engine.on_event(ev("fp-1", T + 4 * S, "reset")), rule)
    assert c2.point == "p2"
    # an event of another system with the same type is not a fire event
    assert only(engine.on_event(ev("door-1", T + 5 * S, etype)), rule) == []


# ---------------------------------------------------------------- fire.smoke_high

SM = "fire.smoke_high"


def test_smoke_high_deadband(engine: RuleEngine) -> None:
    assert only(engine.on_telemetry(tel("sd-1", T, smoke=4.0)), SM) == []
    [h] = raised(engine.on_telemetry(tel("sd-1", T + S, smoke=4.2)), SM)
    assert h.ts_ms == T + S and h.message == "sd-1 smoke obscuration 4.2 %/m"
    assert engine.spec(SM).priority == "high"
    for i, v in enumerate((5.0, 3.5, 3.0, 4.5)):
        assert only(engine.on_telemetry(tel("sd-1", T + (2 + i) * S, smoke=v)), SM) == []
    [c] = cleared(engine.on_telemetry(tel("sd-1", T + 10 * S, smoke=2.9)), SM)
    assert c.ts_ms == T + 10 * S
    assert only(engine.on_telemetry(tel("sd-1", T + 11 * S, smoke=3.5)), SM) == []


def test_smoke_high_not_while_panel_confirms_fire_in_zone(engine: RuleEngine) -> None:
    engine.on_event(ev("fp-1", T, "fire_alarm", point="sd-1"))  # zone L2
    assert only(engine.on_telemetry(tel("sd-1", T + S, smoke=6.0)), SM) == []
    # another zone is not covered by that fire alarm
    assert raised(engine.on_telemetry(tel("sd-2", T + S, smoke=6.0)), SM)
    engine.on_event(ev("fp-1", T + 60 * S, "reset"))
    [h] = raised(engine.on_telemetry(tel("sd-1", T + 61 * S, smoke=6.0)), SM)
    assert h.device == "sd-1"


def test_smoke_high_guard_by_event_zone(engine: RuleEngine) -> None:
    engine.on_event(ev("fp-1", T, "fire_alarm", point="loop1-23", zone="L3"))
    assert only(engine.on_telemetry(tel("sd-2", T + S, smoke=6.0)), SM) == []
    assert raised(engine.on_telemetry(tel("sd-1", T + S, smoke=6.0)), SM)
