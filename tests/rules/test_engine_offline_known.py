"""Offline only for devices with a known interval (issue 10): the site file's, or learned.

A flood of made-up device ids registers devices but raises no offline alarm; an unknown
device's ``offline`` status registers it without an alarm; three readings teach the
engine a device's rhythm (the median gap) and from then on it is judged like any other.
"""

from __future__ import annotations

from rules.engine import RuleEngine
from rules.engine_core import LEARN_READINGS
from rules.model import RuleHit, Status
from rules.pack import RulePack
from rules.site import Site
from tests.rules.helpers import S, status, tel

T = 1_767_225_600_000
OFF = "device.offline"


def offline(hits: list[RuleHit]) -> list[str]:
    return sorted(h.device for h in hits if h.rule == OFF and h.active)


def test_a_flood_of_unknown_ids_raises_no_offline_alarm(engine: RuleEngine) -> None:
    engine.tick(T)
    for i in range(2000):
        engine.on_telemetry(tel(f"made-up-{i}", T + i, x=1.0))
    assert len(engine.devices) >= 2000
    hits = engine.tick(T + 3600 * S)
    assert [d for d in offline(hits) if d.startswith("made-up-")] == []
    assert not engine.interval_known("made-up-7")


def test_unknown_device_offline_status_registers_without_alarm(engine: RuleEngine) -> None:
    hits = engine.on_status(Status("sc01", "hvac", "ghost-1", False, T), T)
    assert offline(hits) == []
    assert "ghost-1" in engine.devices and engine.devices["ghost-1"].status is False
    assert engine.on_status(Status("sc01", "hvac", "ghost-1", True, T + S), T + S) == []
    # a site device's offline status still raises at once
    assert offline(engine.on_status(status("sd-1", False, T), T)) == ["sd-1"]


def test_interval_learned_from_readings_then_status_and_silence_count(
    engine: RuleEngine,
) -> None:
    assert LEARN_READINGS == 3
    engine.tick(T)
    for k in range(2):  # two readings: not yet known
        engine.on_telemetry(tel("fcu-77", T + k * 20 * S, x=1.0))
    assert not engine.interval_known("fcu-77")
    engine.on_telemetry(tel("fcu-77", T + 40 * S, x=1.0))  # gaps 20 s, 20 s
    assert engine.interval_known("fcu-77")
    assert engine.devices["fcu-77"].interval_s == 20.0
    # 3 x 20 s = 60 s (the rule's minimum) after the last reading
    assert "fcu-77" not in offline(engine.tick(T + 99 * S))
    assert offline(engine.tick(T + 100 * S)) == ["fcu-77"]
    # a learned device's offline status raises too
    assert offline(engine.on_status(Status("sc01", "hvac", "fcu-78", False, T), T)) == []
    for k in range(3):
        engine.on_telemetry(tel("fcu-78", T + k * 300 * S, x=1.0))
    hits = engine.on_status(Status("sc01", "hvac", "fcu-78", False, T + 700 * S), T + 700 * S)
    assert offline(hits) == ["fcu-78"]


def test_readings_at_one_instant_teach_nothing(engine: RuleEngine) -> None:
    for _ in range(5):
        engine.on_telemetry(tel("burst-1", T, recv=T, x=1.0))
    assert not engine.interval_known("burst-1")


def test_restored_offline_alarm_of_unknown_device_clears_when_it_speaks(
    engine: RuleEngine,
) -> None:
    engine.restore(
        {
            "devices": {"ghost-9": {"site": "sc01", "system": "hvac", "zone": None}},
            "active": [{"rule": OFF, "device": "ghost-9", "point": None, "since_ms": T}],
        }
    )
    assert (OFF, "ghost-9", None) in engine.active()
    hits = engine.on_telemetry(tel("ghost-9", T + S, x=1.0))
    assert [(h.device, h.active) for h in hits if h.rule == OFF] == [("ghost-9", False)]


def test_a_learned_interval_is_kept_over_a_restart(site: Site, pack: RulePack) -> None:
    # the incremental save the gateway writes carries the learned interval: a restarted
    # engine judges the device's silence at once, without learning it again
    e1 = RuleEngine(site, pack)
    e1.tick(T)
    for k in range(3):
        e1.on_telemetry(tel("fcu-90", T + k * 20 * S, x=1.0))
    assert e1.interval_known("fcu-90")
    part = e1.snapshot(devices=e1.take_dirty())
    assert part["devices"]["fcu-90"]["interval_s"] == 20.0
    e2 = RuleEngine(site, pack)
    e2.restore(part)
    assert e2.interval_known("fcu-90") and e2.devices["fcu-90"].interval_s == 20.0
    e2.tick(T + 41 * S)
    assert offline(e2.tick(T + 100 * S)) == ["fcu-90"]  # 60 s after its last reading
    # a device still learning saves no interval and stays learning
    e1.on_telemetry(tel("fcu-91", T, x=1.0))
    assert "interval_s" not in e1.snapshot(devices=["fcu-91"])["devices"]["fcu-91"]


def test_a_learned_interval_is_whole_seconds_and_shared(engine: RuleEngine) -> None:
    # gaps that jitter by some 100 ms: 20 s all the same, and one profile for both devices
    for did, jitter in (("fcu-95", (0, 180, -230)), ("fcu-96", (0, -300, 400))):
        for k, j in enumerate(jitter):
            engine.on_telemetry(tel(did, T + k * 20 * S + j, x=1.0))
    a, b = engine.devices["fcu-95"], engine.devices["fcu-96"]
    assert (a.interval_s, b.interval_s) == (20.0, 20.0)
    assert a.kind is b.kind
