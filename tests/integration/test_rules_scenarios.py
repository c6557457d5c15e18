"""Every rule of the default pack, through the real Mosquitto and an in-process gateway,
with device timestamps (issue 3, "done when"): each rule raises when its condition holds
long enough, does not raise when it holds less, clears only past its deadband, and never
makes a second open alarm on repeats. Alarm objects are checked against the contract.

Device time makes minutes of history replayable in a second: readings are stamped
``now - 400 s`` and ``now``. Checks are functional only (generous waits, no speed limits).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.clock import iso_ms, parse_iso_ms
from tests.contract_fields import ALARM_FIELDS
from tests.integration.runtime_harness import OffsetClock, RuntimeHarness, running

pytestmark = pytest.mark.integration

S = 1000  # ms per second
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def h(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[RuntimeHarness]:
    with running(tmp_path, mosquitto_url, unique_site) as harness:
        yield harness


def settle(h: RuntimeHarness, *systems: str, ticks: float = 2.5) -> None:
    """Everything published so far is handled, and the ticker ran a few times (delays
    that would complete on the clock had their chance)."""
    for s in systems or ("hvac",):
        h.sync(s)
    time.sleep(ticks)


def check_alarm(
    h: RuntimeHarness,
    a: dict[str, Any],
    *,
    rule: str,
    device: str,
    system: str,
    priority: str,
    zone: str | None,
    source_ts: int | None = None,
    value: Any = ...,
    point: str | None = None,
    state: str = "active_unacked",
) -> None:
    assert ALARM_FIELDS <= set(a), ALARM_FIELDS - set(a)
    assert a["id"] is not None
    assert a["rule"] == rule
    assert a["site"] == h.site
    assert a["system"] == system
    assert a["device"] == device
    assert a["point"] == point
    assert a["zone"] == zone
    assert a["priority"] == priority
    assert a["state"] == state
    for f in ("raised_at", "source_ts"):
        assert RFC3339_MS.match(a[f]), (f, a[f])
    if source_ts is not None:
        assert a["source_ts"] == iso_ms(source_ts)
    if value is not ...:
        assert a["value"] == value
    assert isinstance(a["action"], str) and a["action"].strip()
    assert isinstance(a["message"], str) and a["message"].strip()
    assert a["shelved"] is False and a["out_of_service"] is False
    assert isinstance(a["ticket_ids"], list)
    if state == "active_unacked":
        assert a["cleared_at"] is None and a["acked_at"] is None and a["acked_by"] is None


def only_open(h: RuntimeHarness, device: str, rule: str) -> dict[str, Any]:
    """The one open alarm of (rule, device) and no other alarm of it at all."""
    everything = [a for a in h.alarms(device) if a["rule"] == rule]
    assert len(everything) == 1, everything
    return everything[0]


def no_alarm(h: RuntimeHarness, device: str) -> None:
    assert h.alarms(device) == []


# --------------------------------------------------------------------------- hvac
def test_hvac_zone_temp_high(h: RuntimeHarness) -> None:
    now = h.now_ms()
    hv = "hvac"
    # held 150 s only (then back to normal): never raised, not even on the clock
    h.telemetry(
        hv, "fcu-sandtable-01", {"zone_temp": 26, "setpoint": 22, "fan": True}, ts=now - 250 * S
    )
    h.telemetry(hv, "fcu-sandtable-01", {"zone_temp": 26}, ts=now - 100 * S)
    h.telemetry(hv, "fcu-sandtable-01", {"zone_temp": 23}, ts=now - 50 * S)
    # warm for 400 s but the fan is off: not this rule's business
    h.telemetry(
        hv, "fcu-nego-01", {"zone_temp": 30, "setpoint": 22, "fan": False}, ts=now - 400 * S
    )
    h.telemetry(hv, "fcu-nego-01", {"zone_temp": 30}, ts=now - 10 * S)
    # exactly at the threshold (setpoint + 3) is not above it
    h.telemetry(hv, "fcu-meeting-01", {"zone_temp": 25, "setpoint": 22}, ts=now - 400 * S)
    h.telemetry(hv, "fcu-meeting-01", {"zone_temp": 25}, ts=now - 10 * S)
    # held 400 s (setpoint sent once, still counts): raised, stamped when the delay completed
    t1 = now - 400 * S
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 26, "setpoint": 22, "fan": True}, ts=t1)
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 26.5}, ts=now - 10 * S)
    a = h.wait_alarm("fcu-lobby-01", "hvac.zone_temp_high")
    check_alarm(
        h,
        a,
        rule="hvac.zone_temp_high",
        device="fcu-lobby-01",
        system="hvac",
        priority="medium",
        zone="lobby",
        source_ts=t1 + 300 * S,
        value=26.5,
    )
    assert "26.5" in a["message"]
    settle(h)
    no_alarm(h, "fcu-sandtable-01")
    no_alarm(h, "fcu-nego-01")
    no_alarm(h, "fcu-meeting-01")

    # repeats (a QoS 1 duplicate, the same reading twice, more warm readings): one alarm
    dup = {"zone_temp": 27}
    h.telemetry(hv, "fcu-lobby-01", dup, ts=now - 8 * S)
    h.telemetry(hv, "fcu-lobby-01", dup, ts=now - 8 * S)
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 28}, ts=now - 7 * S)
    settle(h, ticks=0.5)
    again = only_open(h, "fcu-lobby-01", "hvac.zone_temp_high")
    assert again["id"] == a["id"] and again["state"] == "active_unacked"

    # deadband: below the raise threshold (25) but not below setpoint + 2 (24): still active
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 24.5}, ts=now - 6 * S)
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 24.1}, ts=now - 5 * S)
    settle(h, ticks=0.5)
    assert only_open(h, "fcu-lobby-01", "hvac.zone_temp_high")["state"] == "active_unacked"
    # past the deadband: cleared (still unacknowledged, so still open)
    h.telemetry(hv, "fcu-lobby-01", {"zone_temp": 23.9}, ts=now - 4 * S)
    c = h.wait_alarm(
        "fcu-lobby-01", "hvac.zone_temp_high", lambda x: x["state"] == "cleared_unacked"
    )
    assert c["id"] == a["id"]
    assert RFC3339_MS.match(c["cleared_at"])
    assert len(h.open_alarms("fcu-lobby-01")) == 1


def test_hvac_filter_clogged_raises_no_alarm(h: RuntimeHarness) -> None:
    """Ticket only: the condition holds 690 s (the engine judges it active) and no alarm."""
    now = h.now_ms()
    h.telemetry("hvac", "ahu-01", {"filter_dp": 300}, ts=now - 700 * S)
    h.telemetry("hvac", "ahu-01", {"filter_dp": 310}, ts=now - 10 * S)
    settle(h)
    active = h.call(lambda: h.rt.engine.active())  # type: ignore[union-attr]
    assert ("hvac.filter_clogged", "ahu-01", None) in active
    no_alarm(h, "ahu-01")
    assert all(a["rule"] != "hvac.filter_clogged" for a in h.alarms())


def test_hvac_fault(h: RuntimeHarness) -> None:
    now = h.now_ms()
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 0}, ts=now - 60 * S)
    settle(h, ticks=0.5)
    no_alarm(h, "fcu-vip-01")
    t = now - 30 * S
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 7}, ts=t)
    a = h.wait_alarm("fcu-vip-01", "hvac.fault")
    check_alarm(
        h,
        a,
        rule="hvac.fault",
        device="fcu-vip-01",
        system="hvac",
        priority="medium",
        zone="vip-1",
        source_ts=t,
        value=7,
    )
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 7}, ts=now - 20 * S)
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 7}, ts=now - 20 * S)
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 9}, ts=now - 15 * S)
    settle(h, ticks=0.5)
    assert only_open(h, "fcu-vip-01", "hvac.fault")["state"] == "active_unacked"
    h.telemetry("hvac", "fcu-vip-01", {"fault_code": 0}, ts=now - 10 * S)
    c = h.wait_alarm("fcu-vip-01", "hvac.fault", lambda x: x["state"] == "cleared_unacked")
    assert c["id"] == a["id"]


# ----------------------------------------------------------------------- lighting
def test_lighting_lamp_failure(h: RuntimeHarness) -> None:
    now = h.now_ms()
    h.telemetry("lighting", "lt-vip-01", {"lamp_fault": False, "on": True}, ts=now - 60 * S)
    settle(h, "lighting", ticks=0.5)
    no_alarm(h, "lt-vip-01")
    t = now - 30 * S
    h.telemetry("lighting", "lt-vip-01", {"lamp_fault": True}, ts=t)
    a = h.wait_alarm("lt-vip-01", "lighting.lamp_failure")
    check_alarm(
        h,
        a,
        rule="lighting.lamp_failure",
        device="lt-vip-01",
        system="lighting",
        priority="low",
        zone="vip-1",
        source_ts=t,
        value=True,
    )
    for _ in range(3):
        h.telemetry("lighting", "lt-vip-01", {"lamp_fault": True}, ts=now - 20 * S)
    h.telemetry("lighting", "lt-vip-01", {"lamp_fault": True, "level": 40}, ts=now - 15 * S)
    settle(h, "lighting", ticks=0.5)
    assert only_open(h, "lt-vip-01", "lighting.lamp_failure")["state"] == "active_unacked"
    h.telemetry("lighting", "lt-vip-01", {"lamp_fault": False}, ts=now - 10 * S)
    c = h.wait_alarm(
        "lt-vip-01", "lighting.lamp_failure", lambda x: x["state"] == "cleared_unacked"
    )
    assert c["id"] == a["id"]


def _last_night(hour: int, minute: int, ago_s: float = 0) -> float:
    """Epoch seconds of the latest ``hour:minute`` Asia/Shanghai time at least ``ago_s``
    seconds ago."""
    now = datetime.now(SHANGHAI) - timedelta(seconds=ago_s)
    t = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if t > now:
        t -= timedelta(days=1)
    return t.timestamp()


@pytest.fixture
def night(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[RuntimeHarness]:
    """A gateway whose clock reads 02:30 site time (Asia/Shanghai) while the test runs."""
    clock = OffsetClock(_last_night(2, 30) - time.time())
    with running(tmp_path, mosquitto_url, unique_site, clock=clock) as harness:
        yield harness


def test_lighting_after_hours_waste(night: RuntimeHarness) -> None:
    h = night
    now = h.now_ms()
    local = datetime.fromtimestamp(now / 1000, SHANGHAI)
    assert local.hour == 2, local  # night, outside 08:00-20:00
    lt = "lighting"
    # on with nobody there for 25 min only (then someone comes): nothing
    h.telemetry(lt, "lt-lobby-02", {"on": True, "occupancy": False}, ts=now - 1500 * S)
    h.telemetry(lt, "lt-lobby-02", {"occupancy": True}, ts=now - 600 * S)
    # on and empty for 35 min, but in the afternoon (14:00-14:35 site time): inside hours
    day = now - int(12.5 * 3600 * S)
    assert datetime.fromtimestamp(day / 1000, SHANGHAI).hour == 14
    h.telemetry(lt, "lt-lobby-03", {"on": True, "occupancy": False}, ts=day)
    h.telemetry(lt, "lt-lobby-03", {"on": True, "occupancy": False}, ts=day + 2100 * S)
    # on and empty at night for 2000 s: raised once 1800 s held
    t1 = now - 2000 * S
    h.telemetry(lt, "lt-lobby-01", {"on": True, "occupancy": False}, ts=t1)
    h.telemetry(lt, "lt-lobby-01", {"on": True, "occupancy": False}, ts=now - 10 * S)
    a = h.wait_alarm("lt-lobby-01", "lighting.after_hours_waste")
    check_alarm(
        h,
        a,
        rule="lighting.after_hours_waste",
        device="lt-lobby-01",
        system="lighting",
        priority="low",
        zone="lobby",
        source_ts=t1 + 1800 * S,
        value=True,
    )
    settle(h, lt)
    no_alarm(h, "lt-lobby-02")
    no_alarm(h, "lt-lobby-03")
    # repeats: one alarm
    h.telemetry(lt, "lt-lobby-01", {"on": True, "occupancy": False}, ts=now - 8 * S)
    h.telemetry(lt, "lt-lobby-01", {"on": True, "occupancy": False}, ts=now - 8 * S)
    h.telemetry(lt, "lt-lobby-01", {"level": 80}, ts=now - 7 * S)
    settle(h, lt, ticks=0.5)
    assert only_open(h, "lt-lobby-01", "lighting.after_hours_waste")["state"] == ("active_unacked")
    # somebody comes in: cleared
    h.telemetry(lt, "lt-lobby-01", {"occupancy": True}, ts=now - 5 * S)
    c = h.wait_alarm(
        "lt-lobby-01", "lighting.after_hours_waste", lambda x: x["state"] == "cleared_unacked"
    )
    assert c["id"] == a["id"]


def test_lighting_after_hours_waste_real_clock(h: RuntimeHarness) -> None:
    """The same with the gateway on the real clock and backfilled night readings: raised
    from device time; if it is daytime at the site now, the window has ended since and the
    alarm clears at the next tick (one alarm either way)."""
    # a night whose readings are all in the past (run at 01:20 site time, 01:00 today
    # would put the second reading in the future)
    night_s = _last_night(1, 0, ago_s=3600)
    t1 = int(night_s * 1000)
    h.telemetry("lighting", "lt-flat-a-01", {"on": True, "occupancy": False}, ts=t1)
    h.telemetry("lighting", "lt-flat-a-01", {"on": True}, ts=t1 + 1900 * S)
    a = h.wait_alarm("lt-flat-a-01", "lighting.after_hours_waste")
    assert a["source_ts"] == iso_ms(t1 + 1800 * S)
    hour = datetime.now(SHANGHAI).hour
    if 8 <= hour < 20:
        h.wait_alarm(
            "lt-flat-a-01", "lighting.after_hours_waste", lambda x: x["state"] == "cleared_unacked"
        )
    settle(h, "lighting", ticks=1.5)
    only_open(h, "lt-flat-a-01", "lighting.after_hours_waste")


# ------------------------------------------------------------------------- access
def test_access_door_forced(h: RuntimeHarness) -> None:
    now = h.now_ms()
    ac = "access"
    h.event(ac, "door-office", "badge_denied", ts=now - 40 * S)
    settle(h, ac, ticks=0.5)
    no_alarm(h, "door-office")
    t = now - 30 * S
    h.event(ac, "door-office", "door_forced", ts=t)
    a = h.wait_alarm("door-office", "access.door_forced")
    check_alarm(
        h,
        a,
        rule="access.door_forced",
        device="door-office",
        system="access",
        priority="high",
        zone="offices",
        source_ts=t,
        value="door_forced",
    )
    h.event(ac, "door-office", "door_forced", ts=t)
    h.event(ac, "door-office", "door_forced", ts=now - 25 * S)
    h.telemetry(ac, "door-office", {"door_open": True}, ts=now - 20 * S)
    settle(h, ac, ticks=0.5)
    assert only_open(h, "door-office", "access.door_forced")["state"] == "active_unacked"
    h.telemetry(ac, "door-office", {"door_open": False}, ts=now - 10 * S)
    c = h.wait_alarm("door-office", "access.door_forced", lambda x: x["state"] == "cleared_unacked")
    assert c["id"] == a["id"]
    settle(h, ac, ticks=0.5)
    assert [x["rule"] for x in h.alarms("door-office")] == ["access.door_forced"]


def test_access_door_held(h: RuntimeHarness) -> None:
    now = h.now_ms()
    ac = "access"
    # open 25 s, then closed: nothing
    h.telemetry(ac, "door-vip", {"door_open": True, "secure": True}, ts=now - 30 * S)
    h.telemetry(ac, "door-vip", {"door_open": False}, ts=now - 5 * S)
    # open for 190 s while on the free-access schedule (secure false): nothing
    h.telemetry(ac, "door-staff", {"door_open": True, "secure": False}, ts=now - 200 * S)
    h.telemetry(ac, "door-staff", {"door_open": True}, ts=now - 10 * S)
    # opened 100 s ago, one reading only (report on change): completes on the clock
    t = now - 100 * S
    h.telemetry(ac, "door-flats", {"door_open": True}, ts=t)
    a = h.wait_alarm("door-flats", "access.door_held")
    check_alarm(
        h,
        a,
        rule="access.door_held",
        device="door-flats",
        system="access",
        priority="medium",
        zone="model-flat-a",
        source_ts=t + 60 * S,
        value=True,
    )
    settle(h, ac)
    no_alarm(h, "door-vip")
    no_alarm(h, "door-staff")
    h.telemetry(ac, "door-flats", {"door_open": True}, ts=now - 9 * S)
    h.telemetry(ac, "door-flats", {"door_open": True}, ts=now - 9 * S)
    h.telemetry(ac, "door-flats", {"door_open": True, "locked": False}, ts=now - 8 * S)
    settle(h, ac, ticks=0.5)
    assert only_open(h, "door-flats", "access.door_held")["state"] == "active_unacked"
    h.telemetry(ac, "door-flats", {"door_open": False}, ts=now - 1 * S)
    c = h.wait_alarm("door-flats", "access.door_held", lambda x: x["state"] == "cleared_unacked")
    assert c["id"] == a["id"]


def test_access_tamper_clears_on_ack(h: RuntimeHarness) -> None:
    now = h.now_ms()
    t = now - 30 * S
    h.event("access", "door-plant", "tamper", ts=t)
    a = h.wait_alarm("door-plant", "access.tamper")
    check_alarm(
        h,
        a,
        rule="access.tamper",
        device="door-plant",
        system="access",
        priority="high",
        zone="plant-room",
        source_ts=t,
        value="tamper",
    )
    h.event("access", "door-plant", "tamper", ts=t)
    h.event("access", "door-plant", "tamper", ts=now - 20 * S)
    h.telemetry("access", "door-plant", {"door_open": False}, ts=now - 15 * S)
    settle(h, "access", ticks=0.5)
    # no clearing condition: still active after a door reading
    assert only_open(h, "door-plant", "access.tamper")["state"] == "active_unacked"
    r = h.post(f"/api/v1/alarms/{a['id']}/ack", {"note": "cover refitted"})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"
    # a tamper stamped before the acknowledgement was part of the acknowledged alarm
    h.event("access", "door-plant", "tamper", ts=now - 5 * S)
    settle(h, "access", ticks=0.3)
    assert h.open_alarms("door-plant") == []
    # a new tamper after it is a new alarm
    h.event("access", "door-plant", "tamper", ts=h.now_ms())
    b = h.wait_alarm("door-plant", "access.tamper", lambda x: x["id"] != a["id"])
    assert b["state"] == "active_unacked"
    assert len(h.open_alarms("door-plant", "access.tamper")) == 1


# --------------------------------------------------------------------------- fire
FIRE_EVENTS = [
    ("fire_alarm", "fire.alarm", "critical"),
    ("pre_alarm", "fire.pre_alarm", "high"),
    ("fault", "fire.fault", "medium"),
    ("supervisory", "fire.supervisory", "medium"),
    ("disablement", "fire.disablement", "medium"),
]


@pytest.mark.parametrize(("etype", "rule", "priority"), FIRE_EVENTS)
def test_fire_event_rules(h: RuntimeHarness, etype: str, rule: str, priority: str) -> None:
    """Raised by the panel's event on a point (in the event's zone, or the zone of the
    device the point names), one alarm per (rule, device, point), cleared by ``reset`` from
    the same panel, never raised again by a replay of the event older than the reset."""
    now = h.now_ms()
    f = "fire"
    h.event(f, "fp-01", "reset", ts=now - 60 * S)
    settle(h, f, ticks=0.3)
    no_alarm(h, "fp-01")
    t = now - 30 * S
    zone = {"zone": "sand-table"}  # the panel names the point's zone, as the simulator does
    h.event(f, "fp-01", etype, ts=t, point="L1-D03", **zone)
    a = h.wait_alarm("fp-01", rule)
    check_alarm(
        h,
        a,
        rule=rule,
        device="fp-01",
        system="fire",
        priority=priority,
        zone="sand-table",
        source_ts=t,
        value=etype,
        point="L1-D03",
    )
    h.event(f, "fp-01", etype, ts=t, point="L1-D03", **zone)
    h.event(f, "fp-01", etype, ts=now - 25 * S, point="L1-D03", **zone)
    h.event(f, "fp-01", etype, ts=now - 24 * S, point="L1-D03")
    # another point of the same panel is another alarm; a point naming a site device
    # (and no zone in the event) is in that device's zone
    h.event(f, "fp-01", etype, ts=now - 20 * S, point="sd-vip-01")
    b = h.wait_alarm("fp-01", rule, lambda x: x["point"] == "sd-vip-01")
    assert b["zone"] == "vip-1" and b["id"] != a["id"]
    settle(h, f, ticks=0.3)
    mine = [x for x in h.open_alarms("fp-01", rule)]
    assert sorted(x["point"] for x in mine) == ["L1-D03", "sd-vip-01"], mine
    # reset of one point clears that point only
    h.event(f, "fp-01", "reset", ts=now - 10 * S, point="L1-D03")
    c = h.wait_alarm("fp-01", rule, lambda x: x["id"] == a["id"] and x["state"] != "active_unacked")
    assert c["state"] == "cleared_unacked"
    settle(h, f, ticks=0.3)
    assert [x["state"] for x in h.alarms("fp-01") if x["id"] == b["id"]] == ["active_unacked"]
    # a panel-wide reset clears the rest
    h.event(f, "fp-01", "reset", ts=now - 5 * S)
    h.wait_alarm("fp-01", rule, lambda x: x["id"] == b["id"] and x["state"] == "cleared_unacked")
    # the original event replayed (late, older than the reset): not raised again
    h.event(f, "fp-01", etype, ts=t, point="L1-D03", **zone)
    settle(h, f, ticks=0.3)
    again = [x for x in h.alarms("fp-01") if x["rule"] == rule]
    assert len(again) == 2
    assert all(x["state"] == "cleared_unacked" for x in again)


def test_fire_smoke_high(h: RuntimeHarness) -> None:
    now = h.now_ms()
    f = "fire"
    h.telemetry(f, "sd-office-01", {"smoke": 3.9}, ts=now - 60 * S)
    h.telemetry(f, "sd-office-01", {"smoke": 4.0}, ts=now - 50 * S)
    settle(h, f, ticks=0.5)
    no_alarm(h, "sd-office-01")
    t = now - 40 * S
    h.telemetry(f, "sd-office-01", {"smoke": 4.5}, ts=t)
    a = h.wait_alarm("sd-office-01", "fire.smoke_high")
    check_alarm(
        h,
        a,
        rule="fire.smoke_high",
        device="sd-office-01",
        system="fire",
        priority="high",
        zone="offices",
        source_ts=t,
        value=4.5,
    )
    h.telemetry(f, "sd-office-01", {"smoke": 4.6}, ts=now - 30 * S)
    h.telemetry(f, "sd-office-01", {"smoke": 4.6}, ts=now - 30 * S)
    h.telemetry(f, "sd-office-01", {"smoke": 3.5}, ts=now - 25 * S)  # deadband: still active
    h.telemetry(f, "sd-office-01", {"smoke": 3.0}, ts=now - 24 * S)  # not below 3.0
    h.telemetry(f, "sd-office-01", {"smoke": 4.2}, ts=now - 23 * S)
    settle(h, f, ticks=0.5)
    assert only_open(h, "sd-office-01", "fire.smoke_high")["state"] == "active_unacked"
    h.telemetry(f, "sd-office-01", {"smoke": 2.9}, ts=now - 20 * S)
    c = h.wait_alarm("sd-office-01", "fire.smoke_high", lambda x: x["state"] == "cleared_unacked")
    assert c["id"] == a["id"]

    # the panel has confirmed a fire in that zone: the detector's smoke is no extra alarm
    h.event(f, "fp-01", "fire_alarm", ts=now - 15 * S, point="L1-D11", zone="meeting")
    h.wait_alarm("fp-01", "fire.alarm")
    h.telemetry(f, "sd-meeting-01", {"smoke": 6.0}, ts=now - 10 * S)
    settle(h, f, ticks=0.5)
    no_alarm(h, "sd-meeting-01")


# ------------------------------------------------------------------------ offline
def test_device_offline_by_status(h: RuntimeHarness) -> None:
    now = h.now_ms()
    h.status("hvac", "fcu-office-01", online=True)
    settle(h, "hvac", ticks=0.5)
    no_alarm(h, "fcu-office-01")
    before = h.now_ms()
    h.status("hvac", "fcu-office-01", online=False)
    h.status("fire", "hd-plant-01", online=False)
    a = h.wait_alarm("fcu-office-01", "device.offline")
    check_alarm(
        h,
        a,
        rule="device.offline",
        device="fcu-office-01",
        system="hvac",
        priority="low",
        zone="offices",
        value="offline",
    )
    # stamped when the gateway learnt it (a status has no device time)
    source = parse_iso_ms(a["source_ts"])
    assert source is not None and before - 1000 <= source <= h.now_ms()
    f = h.wait_alarm("hd-plant-01", "device.offline")
    check_alarm(
        h,
        f,
        rule="device.offline",
        device="hd-plant-01",
        system="fire",
        priority="high",
        zone="plant-room",
        value="offline",
    )
    # the will delivered twice, a retained offline seen again: still one alarm
    h.status("hvac", "fcu-office-01", online=False)
    h.status("hvac", "fcu-office-01", online=False)
    settle(h, "hvac", ticks=0.5)
    assert only_open(h, "fcu-office-01", "device.offline")["state"] == "active_unacked"
    # the next message clears it
    h.telemetry("hvac", "fcu-office-01", {"zone_temp": 22}, ts=h.now_ms())
    h.telemetry("fire", "hd-plant-01", {"heat": 24}, ts=h.now_ms())
    c = h.wait_alarm("fcu-office-01", "device.offline", lambda x: x["state"] == "cleared_unacked")
    assert c["id"] == a["id"]
    h.wait_alarm("hd-plant-01", "device.offline", lambda x: x["state"] == "cleared_unacked")
    assert now <= h.now_ms()
