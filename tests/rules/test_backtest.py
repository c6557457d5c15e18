"""The backtest: the engine's event-time semantics over recorded messages, and its report."""

from __future__ import annotations

from typing import Any

import pytest

from rules.backtest import Backtest, run
from rules.model import Event, Message, Telemetry
from rules.pack import RulePack
from rules.site import Site
from tests.rules.helpers import NOON_SH, SITE_DATA

S = 1000
T0 = NOON_SH


@pytest.fixture(scope="module")
def empty_site() -> Site:
    """The test site without devices: only the devices of each test, all heard from."""
    return Site.model_validate({**SITE_DATA, "devices": []})


def tel(system: str, device: str, ts: int, recv: int | None = None, **values: Any) -> Telemetry:
    return Telemetry("sc01", system, device, ts, values, ts if recv is None else recv)


def ev(system: str, device: str, ts: int, etype: str) -> Event:
    return Event("sc01", system, device, ts, etype, ts)


def episodes(bt: Backtest) -> set[tuple[str, str, str | None, int, int | None]]:
    return {e.key() for e in bt.episodes}


def test_door_held_raised_at_its_delay_and_cleared_on_close(
    empty_site: Site, pack: RulePack
) -> None:
    bt = Backtest(empty_site, pack)
    for k in range(0, 200, 10):
        bt.feed(tel("access", "d1", T0 + k * S, door_open=20 <= k < 120, secure=True))
    rep = bt.finish()
    assert episodes(bt) == {("access.door_held", "d1", None, T0 + 80 * S, T0 + 120 * S)}
    r = next(r for r in rep.rules if r.rule == "access.door_held")
    assert (r.alarms, r.cleared, r.still_active, r.mean_duration_s) == (1, 1, 0, 40.0)
    assert r.priorities == {"medium": 1}


def test_a_delay_completes_on_the_clock_without_a_further_reading(
    empty_site: Site, pack: RulePack
) -> None:
    """The door's last word is "open"; another device keeps the clock going: the alarm
    is raised by the tick, stamped at T + 60 s, and is still active at the end."""
    bt = Backtest(empty_site, pack)
    bt.feed(tel("access", "d1", T0, door_open=True, secure=True))
    for k in range(1, 90):
        bt.feed(tel("hvac", "f1", T0 + k * S, zone_temp=21.0, setpoint=22.0))
    bt.finish()
    assert episodes(bt) == {("access.door_held", "d1", None, T0 + 60 * S, None)}


def test_a_pending_delay_broken_before_it_is_due_raises_nothing(
    empty_site: Site, pack: RulePack
) -> None:
    bt = Backtest(empty_site, pack)
    bt.feed(tel("access", "d1", T0, door_open=True, secure=True))
    bt.feed(tel("access", "d1", T0 + 30 * S, door_open=False, secure=True))
    for k in range(31, 120):
        bt.feed(tel("hvac", "f1", T0 + k * S, zone_temp=21.0, setpoint=22.0))
    assert not bt.finish().episodes


def test_device_time_not_receive_time_measures_durations(empty_site: Site, pack: RulePack) -> None:
    """Ten minutes of readings received within one second (a backfill) give the same
    alarm as live: durations run on the devices' own clocks."""
    bt = Backtest(empty_site, pack)
    for k in range(0, 400, 10):
        bt.feed(
            tel(
                "hvac",
                "f1",
                T0 + k * S,
                recv=T0 + 600 * S + k,
                zone_temp=27.0,
                setpoint=22.0,
                fan=True,
            )
        )
    bt.finish()
    assert episodes(bt) == {("hvac.zone_temp_high", "f1", None, T0 + 300 * S, None)}


def test_event_alarm_and_its_reset(empty_site: Site, pack: RulePack) -> None:
    rep = run(
        empty_site,
        pack,
        [ev("fire", "p1", T0, "fire_alarm"), ev("fire", "p1", T0 + 45 * S, "reset")],
    )
    assert {e.key() for e in rep.episodes} == {("fire.alarm", "p1", None, T0, T0 + 45 * S)}
    assert rep.priority_mix() == {"critical": 1}


def test_silence_is_judged_on_the_recorded_receive_clock(empty_site: Site, pack: RulePack) -> None:
    """A device that stops talking goes offline 3 x its interval (60 s) after it was last
    heard, on the recording's clock; its next message clears it. (Its interval is learned
    from its first three readings: an unknown device is judged once it has one.)"""
    bt = Backtest(empty_site, pack)
    bt.feed(tel("lighting", "l1", T0, on=True))
    for k in range(1, 400):
        bt.feed(tel("hvac", "f1", T0 + k * S, zone_temp=21.0, setpoint=22.0))
        if k in (60, 120):
            bt.feed(tel("lighting", "l1", T0 + k * S, on=True))
    bt.feed(tel("lighting", "l1", T0 + 400 * S, on=True))
    got = {e.key() for e in bt.finish().episodes if e.device == "l1"}
    assert got == {("device.offline", "l1", None, T0 + 300 * S, T0 + 400 * S)}


def test_chattering_and_mean_duration(empty_site: Site, pack: RulePack) -> None:
    """lamp_fault toggling: 3 raises within 60 s is one chattering alarm (the alarm
    service's rule); durations 5 s each."""
    msgs = []
    for k in range(4):
        msgs.append(tel("lighting", "l1", T0 + k * 15 * S, lamp_fault=True))
        msgs.append(tel("lighting", "l1", T0 + (k * 15 + 5) * S, lamp_fault=False))
    rep = run(empty_site, pack, msgs)
    r = next(r for r in rep.rules if r.rule == "lighting.lamp_failure")
    assert (r.alarms, r.chattering, r.mean_duration_s) == (4, 1, 5.0)
    quiet = run(empty_site, pack, msgs[:4])
    assert next(r for r in quiet.rules if r.rule == "lighting.lamp_failure").chattering == 0


def test_flood_episodes(empty_site: Site, pack: RulePack) -> None:
    """ISA-18.2: more than 10 alarms in 10 minutes is a flood; 12 lamps failing within
    two minutes make one episode, and both rules taking part are counted."""
    msgs: list[Message] = [
        tel("lighting", f"l{i}", T0 + i * 10 * S, lamp_fault=True) for i in range(12)
    ]
    msgs.append(ev("fire", "p1", T0 + 125 * S, "fire_alarm"))
    rep = run(empty_site, pack, msgs)
    assert len(rep.floods) == 1
    f = rep.floods[0]
    assert (f.alarms, f.start_ms, f.end_ms) == (13, T0, T0 + 125 * S)
    assert f.rules == {"lighting.lamp_failure": 12, "fire.alarm": 1}
    by_rule = {r.rule: r for r in rep.rules}
    assert by_rule["lighting.lamp_failure"].floods == 1
    assert by_rule["fire.alarm"].floods == 1
    assert by_rule["access.door_held"].floods == 0
    few = run(empty_site, pack, msgs[:10])
    assert few.floods == []


def test_report_as_json_has_every_rule(empty_site: Site, pack: RulePack) -> None:
    rep = run(empty_site, pack, [tel("lighting", "l1", T0, lamp_fault=True)])
    d = rep.as_dict()
    assert [r["rule"] for r in d["rules"]] == [r.id for r in pack.rules]
    assert d["alarms"] == 1 and d["priority_mix"] == {"low": 1}
    lamp = next(r for r in d["rules"] if r["rule"] == "lighting.lamp_failure")
    assert lamp == {
        "rule": "lighting.lamp_failure",
        "raises": "alarm",
        "alarms": 1,
        "cleared": 0,
        "still_active": 1,
        "mean_duration_s": None,
        "chattering": 0,
        "flood_episodes": 0,
        "priority_mix": {"low": 1},
    }


def test_silence_waits_the_start_grace_like_the_gateway(pack: RulePack) -> None:
    """A site device that reports every 10 s is offline after 60 s of silence, but not
    before 120 s after the start (the gateway's grace after a start)."""
    site = Site.model_validate(
        {
            **SITE_DATA,
            "devices": [
                {"id": "fast-1", "system": "hvac", "type": "fcu", "zone": "L1", "interval_s": 10}
            ],
        }
    )
    msgs = [tel("hvac", "f1", T0 + k * S, zone_temp=21.0, setpoint=22.0) for k in range(300)]
    got = {e.key() for e in run(site, pack, msgs).episodes if e.device == "fast-1"}
    assert got == {("device.offline", "fast-1", None, T0 + 120 * S, None)}
    got = {e.key() for e in run(site, pack, msgs, start_grace_s=0).episodes if e.device == "fast-1"}
    assert got == {("device.offline", "fast-1", None, T0 + 61 * S, None)}
