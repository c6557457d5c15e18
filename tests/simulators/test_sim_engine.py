"""The simulation engine: pure, clock-driven, no broker."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import ManualClock
from gateway.site import Site, load_site
from simulators import SCENARIOS, Simulation
from simulators.engine import expand_devices
from simulators.runner import parse_scenario
from tests.simulators.sim_contract import STANDARD_EVENTS, STANDARD_FIELDS, values_of, violation

TZ = ZoneInfo("Asia/Shanghai")
TOPIC = re.compile(
    r"^sitewatch/sc01/(lighting|hvac|access|fire)/[A-Za-z0-9_.-]{1,64}/(telemetry|event|status)$"
)

Msg = tuple[str, bytes, int, bool]


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp()


WED = local(2026, 7, 22)  # a Wednesday in summer (cooling)
SAT = local(2026, 7, 25)
JAN = local(2026, 1, 14)  # a Wednesday in winter (heating)


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site()


def make(site: Site, start: float, **kw: Any) -> Simulation:
    return Simulation(site, clock=ManualClock(start), start=start, **kw)


def telemetry(msgs: list[Msg], device: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for topic, payload, _, _ in msgs:
        parts = topic.split("/")
        if parts[3] == device and parts[4] == "telemetry":
            out.append((json.loads(payload)["ts"], values_of(payload)))
    return out


def events(msgs: list[Msg], device: str | None = None) -> list[dict[str, Any]]:
    out = []
    for topic, payload, _, _ in msgs:
        parts = topic.split("/")
        if parts[4] == "event" and (device is None or parts[3] == device):
            out.append(json.loads(payload))
    return out


@pytest.fixture(scope="module")
def day(site: Site) -> list[Msg]:
    sim = make(site, WED)
    return list(sim.generate(WED + 86_400))


# -- shape ---------------------------------------------------------------------------------
def test_first_messages_are_retained_online_statuses(site: Site) -> None:
    sim = make(site, WED)
    msgs = list(sim.generate(WED))
    assert len(msgs) == len(site.devices)
    assert {m[0] for m in msgs} == {
        f"sitewatch/sc01/{d.system}/{d.id}/status" for d in site.devices
    }
    assert all(p == b"online" and qos == 1 and retain for _, p, qos, retain in msgs)


def test_every_message_of_a_day_follows_the_contract(site: Site, day: list[Msg]) -> None:
    now_ms = int((WED + 86_400) * 1000)
    assert len(day) > 50_000
    for topic, payload, qos, retain in day:
        assert TOPIC.match(topic), topic
        assert qos == 1
        assert retain == topic.endswith("/status")
        assert violation(topic, payload, "sc01", now_ms) is None, (topic, payload)
        if topic.endswith("/telemetry") or topic.endswith("/event"):
            obj = json.loads(payload)
            assert isinstance(obj["ts"], int) and not isinstance(obj["ts"], bool)
            assert WED * 1000 <= obj["ts"] <= now_ms


def test_timestamps_rise_and_every_device_reports(site: Site, day: list[Msg]) -> None:
    ts = [json.loads(p)["ts"] for t, p, _, _ in day if not t.endswith("/status")]
    assert ts == sorted(ts)
    counts = Counter(t.split("/")[3] for t, _, _, _ in day if t.endswith("/telemetry"))
    for d in site.devices:
        expected = 86_400 / d.interval_s
        assert counts[d.id] >= expected * 0.95, d.id


def test_telemetry_carries_the_standard_fields(site: Site, day: list[Msg]) -> None:
    for d in site.devices:
        rows = telemetry(day, d.id)
        assert rows, d.id
        fields = set(rows[0][1])
        if d.type == "smoke_detector":
            assert fields == {"smoke", "heat"}
        elif d.type == "heat_detector":
            assert fields == {"heat"}
        elif d.type == "fire_panel":
            assert fields.isdisjoint({"smoke", "heat"})
        else:
            assert fields == STANDARD_FIELDS[d.system], d.id
        for _, v in rows:
            if d.system == "hvac":
                assert isinstance(v["fan"], bool) and v["fault_code"] == 0
                assert 0 < v["filter_dp"] < 250
            if d.system == "lighting":
                assert all(isinstance(v[k], bool) for k in ("on", "lamp_fault", "occupancy"))
                assert 0 <= v["level"] <= 100 and v["power_w"] >= 0
                assert v["lamp_fault"] is False
            if d.system == "access":
                assert all(isinstance(v[k], bool) for k in ("door_open", "locked", "secure"))
            if d.type == "smoke_detector":
                assert 0.05 <= v["smoke"] <= 0.6
    for e in events(day):
        system = "access" if e["type"] in STANDARD_EVENTS["access"] else "fire"
        assert e["type"] in STANDARD_EVENTS[system]


@pytest.mark.parametrize("form", ["flat", "mixed"])
def test_flat_and_mixed_payloads(site: Site, form: str) -> None:
    sim = make(site, WED + 10 * 3600, payload=form)
    msgs = list(sim.generate(WED + 10 * 3600 + 300))
    tele = [(t, p) for t, p, _, _ in msgs if t.endswith("/telemetry")]
    flat = [p for _, p in tele if "values" not in json.loads(p)]
    nested = [p for _, p in tele if "values" in json.loads(p)]
    assert flat
    assert bool(nested) == (form == "mixed")
    for t, p in tele:
        assert violation(t, p, "sc01", int((WED + 11 * 3600) * 1000)) is None
        assert isinstance(json.loads(p)["ts"], int)


def test_same_seed_same_building(site: Site) -> None:
    a = list(make(site, WED, seed=7).generate(WED + 3600))
    b = list(make(site, WED, seed=7).generate(WED + 3600))
    c = list(make(site, WED, seed=8).generate(WED + 3600))
    assert a == b
    assert a != c


# -- behaviour -----------------------------------------------------------------------------
def _occupancy_by_hour(msgs: list[Msg], start: float) -> dict[int, list[bool]]:
    by_hour: dict[int, list[bool]] = defaultdict(list)
    for topic, payload, _, _ in msgs:
        if "/lighting/" in topic and topic.endswith("/telemetry"):
            obj = json.loads(payload)
            hour = int((obj["ts"] / 1000 - start) // 3600)
            by_hour[hour].append(values_of(payload)["occupancy"])
    return by_hour


def test_occupancy_follows_the_sales_centre_day(site: Site, day: list[Msg]) -> None:
    weekday = _occupancy_by_hour(day, WED)
    weekend = _occupancy_by_hour(list(make(site, SAT).generate(SAT + 86_400)), SAT)

    def share(by_hour: dict[int, list[bool]], hours: range) -> float:
        vals = [v for h in hours for v in by_hour[h]]
        return sum(vals) / len(vals)

    assert share(weekday, range(0, 7)) == 0.0
    assert share(weekday, range(21, 24)) == 0.0
    assert share(weekday, range(10, 17)) > 0.3
    assert share(weekend, range(0, 7)) == 0.0
    assert share(weekend, range(10, 17)) > share(weekday, range(10, 17)) + 0.1


def test_lights_follow_the_opening_hours(site: Site, day: list[Msg]) -> None:
    lobby = telemetry(day, "lt-lobby-01")
    at = {int((ts / 1000 - WED) // 3600): v for ts, v in lobby}
    assert at[3]["on"] is False and at[3]["power_w"] == 0
    assert at[12]["on"] is True and at[12]["level"] == 100 and at[12]["power_w"] > 100
    assert at[22]["on"] is False


def test_lamp_hours_grow_only_while_on(site: Site, day: list[Msg]) -> None:
    rows = telemetry(day, "lt-lobby-01")
    for (_, prev), (_, cur) in zip(rows, rows[1:], strict=False):
        if prev["on"]:
            assert cur["lamp_hours"] > prev["lamp_hours"]
        else:
            assert cur["lamp_hours"] == prev["lamp_hours"]
    on_hours = sum(60 for _, v in rows if v["on"]) / 3600
    assert rows[-1][1]["lamp_hours"] - rows[0][1]["lamp_hours"] == pytest.approx(on_hours, abs=0.05)


def test_hvac_tracks_setpoint_with_a_first_order_lag(site: Site, day: list[Msg]) -> None:
    rows = telemetry(day, "fcu-vip-01")
    running = [v for _, v in rows if v["fan"]]
    assert running
    settled = running[60:]  # an hour after start-up
    assert all(abs(v["zone_temp"] - v["setpoint"]) < 1.5 for v in settled)
    assert all(v["supply_temp"] < v["zone_temp"] for v in settled)  # cooling in July
    assert all(0.03 < v["power_kw"] < 0.2 for v in running)
    assert all(v["power_kw"] == 0 for _, v in rows if not v["fan"])
    temps = [v["zone_temp"] for _, v in rows]
    steps = [abs(b - a) for a, b in zip(temps, temps[1:], strict=False)]
    assert max(steps) < 0.5  # no jumps: the zone lags behind its unit
    ahu = [v for _, v in telemetry(day, "ahu-01") if v["fan"]]
    assert ahu and all(3 < v["power_kw"] < 9 for v in ahu)
    winter = make(site, JAN)
    wrows = telemetry(list(winter.generate(JAN + 86_400)), "fcu-office-01")
    wrun = [v for _, v in wrows if v["fan"]][60:]
    assert wrun and all(v["setpoint"] == 21 for v in wrun)
    assert all(v["supply_temp"] > v["zone_temp"] for v in wrun)  # heating in January


def test_doors_report_on_change_plus_heartbeat(site: Site, day: list[Msg]) -> None:
    main = telemetry(day, "door-main")
    assert len(main) > 86_400 / 300 + 50  # heartbeats and many openings
    at_noon = [v for ts, v in main if WED + 12 * 3600 <= ts / 1000 < WED + 13 * 3600]
    assert at_noon and all(v["secure"] is False and v["locked"] is False for v in at_noon)
    at_night = [v for ts, v in main if ts / 1000 < WED + 7 * 3600]
    assert at_night and all(v["secure"] is True and v["locked"] is True for v in at_night)
    office = telemetry(day, "door-office")
    assert all(v["secure"] is True for _, v in office)
    opened = [ts for ts, v in office if v["door_open"]]
    assert opened
    for ts, v in office:  # a badge opening closes again within seconds
        if v["door_open"]:
            later = [t2 for t2, v2 in office if t2 > ts and not v2["door_open"]]
            assert later and later[0] - ts <= 10_000
    # nobody holds a door open: no door_open reading while secure lasts 60 s
    assert not [e for e in events(day) if e["type"] == "door_forced"]


def test_quiet_building_raises_nothing(site: Site, day: list[Msg]) -> None:
    fire_events = events(day, "fp-01")
    assert fire_events == []
    assert all(v["smoke"] < 1.0 for _, v in telemetry(day, "sd-lobby-01"))


# -- scenarios -----------------------------------------------------------------------------
def run_scenario(site: Site, name: str, start: float, hours: float, device: str | None = None):
    sim = make(site, start)
    list(sim.generate(start + 60))
    target = sim.inject(name, device)
    msgs = list(sim.generate(start + 60 + hours * 3600))
    return sim, target, msgs


def test_every_scenario_starts_with_a_default_target(site: Site) -> None:
    for name in SCENARIOS:
        sim = make(site, WED + 11 * 3600)
        list(sim.generate(WED + 11 * 3600))
        target = sim.inject(name)
        assert sim.device(target)
        msgs = list(sim.generate(WED + 12 * 3600))
        if name != "malformed":
            for t, p, _, _ in msgs:
                assert violation(t, p, "sc01", int((WED + 12 * 3600) * 1000)) is None, (name, t, p)


def test_unknown_scenarios_and_wrong_devices_are_refused(site: Site) -> None:
    sim = make(site, WED)
    with pytest.raises(ValueError, match="unknown scenario"):
        sim.inject("earthquake")
    with pytest.raises(ValueError, match="no simulated device"):
        sim.inject("filter_clog", "nope")
    with pytest.raises(ValueError, match="cannot run on"):
        sim.inject("filter_clog", "lt-lobby-01")
    with pytest.raises(ValueError, match="cannot run on"):
        sim.inject("fire_alarm", "door-main")
    assert parse_scenario("fire_alarm") == ("fire_alarm", None, 0.0)
    assert parse_scenario("door_held:door-vip@30") == ("door_held", "door-vip", 30.0)
    with pytest.raises(ValueError):
        parse_scenario("fire_alarm:bad device")


def test_filter_clog_drifts_above_250_and_stays(site: Site) -> None:
    sim, target, msgs = run_scenario(site, "filter_clog", WED + 10 * 3600, 16)
    assert target == "ahu-01"
    rows = telemetry(msgs, "ahu-01")
    first_high = next(i for i, (_, v) in enumerate(rows) if v["filter_dp"] > 250)
    assert 10 < first_high < 200  # a drift, not a jump
    assert all(v["filter_dp"] > 250 for _, v in rows[first_high + 5 :])  # day and night
    values = [v["filter_dp"] for _, v in rows[: first_high + 1]]
    assert values[-1] > values[0] + 80
    sim.clear("filter_clog")
    assert all(
        v["filter_dp"] < 250
        for _, v in telemetry(list(sim.generate(sim.now + 7200)), "ahu-01")[-10:]
    )


def test_ahu_fault_sets_fault_code_until_cleared(site: Site) -> None:
    sim, target, msgs = run_scenario(site, "ahu_fault", WED + 10 * 3600, 0.5)
    rows = telemetry(msgs, target)
    assert rows[0][1]["fault_code"] != 0  # reported at once
    assert all(v["fault_code"] != 0 and v["fan"] is False for _, v in rows)
    assert sim.clear("ahu_fault") == 1
    after = telemetry(list(sim.generate(sim.now + 600)), target)
    assert after and all(v["fault_code"] == 0 and v["fan"] for _, v in after)


def test_lamp_failure(site: Site) -> None:
    sim, target, msgs = run_scenario(site, "lamp_failure", WED + 10 * 3600, 0.5, "lt-lobby-02")
    rows = telemetry(msgs, "lt-lobby-02")
    assert rows[0][0] == int((WED + 10 * 3600 + 60) * 1000)  # reported on change
    assert all(v["lamp_fault"] is True for _, v in rows)
    others = telemetry(msgs, "lt-lobby-01")
    assert all(v["lamp_fault"] is False for _, v in others)


def test_door_forced(site: Site) -> None:
    start = WED + 23 * 3600
    _, target, msgs = run_scenario(site, "door_forced", start, 0.25, "door-office")
    evs = events(msgs, "door-office")
    assert evs[0]["type"] == "door_forced" and evs[0]["zone"] == "offices"
    rows = telemetry(msgs, "door-office")
    assert rows[0][1] == {"door_open": True, "locked": True, "secure": True}
    assert rows[0][0] == evs[0]["ts"]
    closed = next(ts for ts, v in rows if not v["door_open"])
    assert 10_000 <= closed - rows[0][0] <= 60_000


def test_door_held(site: Site) -> None:
    start = WED + 12 * 3600  # even the free-access main door is held while secure
    _, _, msgs = run_scenario(site, "door_held", start, 0.25, "door-main")
    rows = telemetry(msgs, "door-main")
    opened = rows[0]
    assert opened[1]["door_open"] is True and opened[1]["secure"] is True
    closed = next(ts for ts, v in rows if not v["door_open"])
    assert closed - opened[0] > 60_000
    assert all(v["secure"] for ts, v in rows if ts < closed)


def test_fire_alarm_then_reset(site: Site) -> None:
    start = WED + 15 * 3600
    _, target, msgs = run_scenario(site, "fire_alarm", start, 0.5)
    assert target == "fp-01"
    evs = events(msgs, "fp-01")
    assert [e["type"] for e in evs] == ["fire_alarm", "reset"]
    alarm, reset = evs
    assert alarm["point"] == "L1-D01" and alarm["zone"] == "lobby"
    assert 300_000 <= reset["ts"] - alarm["ts"] <= 900_000
    smoke = telemetry(msgs, "sd-lobby-01")
    assert smoke[0][1]["smoke"] > 4.0 and smoke[0][0] <= alarm["ts"]
    assert max(v["smoke"] for _, v in smoke) > 6.0
    assert all(v["smoke"] < 3.0 for ts, v in smoke if ts >= reset["ts"])
    panel = telemetry(msgs, "fp-01")
    assert any(v["alarms"] == 1 for ts, v in panel if alarm["ts"] < ts < reset["ts"])


def test_fire_alarm_on_a_named_detector(site: Site) -> None:
    _, target, msgs = run_scenario(site, "fire_alarm", WED + 15 * 3600, 0.25, "hd-carpark-01")
    assert target == "fp-01"
    alarm = events(msgs, "fp-01")[0]
    assert alarm["point"] == "L1-H02" and alarm["zone"] == "car-park"
    assert telemetry(msgs, "hd-carpark-01")[0][1]["heat"] > 45


@pytest.mark.parametrize(
    ("name", "etype"),
    [
        ("pre_alarm", "pre_alarm"),
        ("fire_fault", "fault"),
        ("supervisory", "supervisory"),
        ("disablement", "disablement"),
    ],
)
def test_panel_events_are_reset(site: Site, name: str, etype: str) -> None:
    _, _, msgs = run_scenario(site, name, WED + 15 * 3600, 1)
    evs = events(msgs, "fp-01")
    assert [e["type"] for e in evs] == [etype, "reset"]
    assert evs[0]["point"].startswith("L1-")
    if name == "pre_alarm":
        smoke = [v["smoke"] for _, v in telemetry(msgs, "sd-lobby-01")]
        assert 2.0 < max(smoke) < 4.0


def test_device_silent_goes_offline_then_comes_back(site: Site) -> None:
    sim, target, msgs = run_scenario(site, "device_silent", WED + 10 * 3600, 1, "sd-vip-01")
    own = [(t, p, r) for t, p, _, r in msgs if t.split("/")[3] == "sd-vip-01"]
    assert own == [("sitewatch/sc01/fire/sd-vip-01/status", b"offline", True)]
    assert sim.clear("device_silent", "sd-vip-01") == 1
    back = [m for m in sim.generate(sim.now + 300) if m[0].split("/")[3] == "sd-vip-01"]
    assert back[0] == ("sitewatch/sc01/fire/sd-vip-01/status", b"online", 1, True)
    assert len([m for m in back if m[0].endswith("/telemetry")]) >= 4


def test_malformed_gives_only_invalid_messages(site: Site) -> None:
    t = WED + 10 * 3600
    sim = make(site, t)
    list(sim.generate(t))
    sim.inject("malformed")
    msgs = list(sim.generate(t))
    assert len(msgs) >= 12
    reasons: Counter[str] = Counter()
    for topic, payload, _, retain in msgs:
        assert not retain
        reason = violation(topic, payload, "sc01", int(t * 1000))
        assert reason is not None, (topic, payload)
        reasons[reason] += 1
    assert {
        "bad_json",
        "not_object",
        "bad_ts",
        "ts_future",
        "unknown_system",
        "bad_device",
        "unknown_kind",
        "bad_topic",
        "bad_event",
        "bad_status",
        "bad_value",
    } <= set(reasons)


def test_malformed_is_rejected_by_the_gateway_decoder(site: Site) -> None:
    decode = pytest.importorskip("gateway.decode")
    from rules.model import Rejected

    t = WED + 10 * 3600
    sim = make(site, t)
    good = list(sim.generate(t + 600))
    decoder = decode.ContractDecoder("sc01")
    now_ms = int((t + 600) * 1000)
    for topic, payload, _, _ in good:
        assert not isinstance(decoder.decode(topic, payload, now_ms), Rejected), (topic, payload)
    sim.inject("malformed")
    for topic, payload, _, _ in sim.generate(t + 600):
        assert isinstance(decoder.decode(topic, payload, now_ms), Rejected), (topic, payload)


def test_zone_overheat_holds_ten_minutes(site: Site) -> None:
    sim, target, msgs = run_scenario(site, "zone_overheat", WED + 14 * 3600, 1)
    assert target == "fcu-lobby-01"
    rows = telemetry(msgs, target)
    hot = [ts for ts, v in rows if v["zone_temp"] > v["setpoint"] + 3 and v["fan"] is not False]
    assert hot[0] == int((WED + 14 * 3600 + 60) * 1000)
    assert 540_000 <= hot[-1] - hot[0] < 900_000  # 10 min, then the lag back
    assert rows[-1][1]["zone_temp"] < rows[-1][1]["setpoint"] + 2  # recovered
    night_sim, _, night = run_scenario(site, "zone_overheat", WED + 2 * 3600, 0.2, "fcu-vip-02")
    nrows = telemetry(night, "fcu-vip-02")
    assert nrows[0][1]["fan"] is True and nrows[0][1]["zone_temp"] > nrows[0][1]["setpoint"] + 3


# -- scale ---------------------------------------------------------------------------------
def test_ten_thousand_distinct_devices(site: Site) -> None:
    sim = make(site, WED + 10 * 3600, devices=10_000, rate=2000)
    ids = [d.id for d in sim.devices]
    assert len(ids) == len(set(ids)) == 10_000
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", i) for i in ids)
    first = list(sim.generate(sim.now))
    assert len({t for t, *_ in first}) == 10_000
    msgs = list(sim.generate(sim.now + 10))
    reporters = {t.split("/")[3] for t, *_ in msgs if t.endswith("/telemetry")}
    assert len(reporters) > 9_000  # the first round reaches everyone at the given rate
    later = [m for m in sim.generate(sim.now + 60) if m[0].endswith("/telemetry")]
    assert 2000 * 60 * 0.8 < len(later) < 2000 * 60 * 1.2
    copies = [d for d in sim.devices if d.id.startswith("fp-01-x")]
    assert copies and all(d.type == "fire_panel" for d in copies)
    target = sim.inject("fire_alarm", "sd-lobby-01-x3")
    assert target == "fp-01-x3"


def test_expand_devices_cuts_and_grows(site: Site) -> None:
    assert [i for _, i, _ in expand_devices(site, 5)] == [d.id for d in site.devices[:5]]
    grown = expand_devices(site, len(site.devices) + 2)
    assert [i for _, i, _ in grown[-2:]] == [f"{site.devices[0].id}-x1", f"{site.devices[1].id}-x1"]
    with pytest.raises(ValueError):
        expand_devices(site, 0)


def test_rate_rescales_the_intervals(site: Site) -> None:
    sim = make(site, WED + 10 * 3600, rate=10.0)
    list(sim.generate(sim.now + 600))  # past the first round
    msgs = [m for m in sim.generate(sim.now + 600) if m[0].endswith("/telemetry")]
    doors = sum(1 for m in msgs if "/access/" in m[0])
    assert 10 * 600 * 0.9 < len(msgs) - doors < 10 * 600 * 1.1
