"""RuleEngine.place: onboarding gives a device its site-file entry in the running engine.

A device heard on the wire before it was in the site file (unzoned, its interval being
learned) takes the entry's zone, type, name and interval: alarms carry the zone, offline
timeouts follow the interval, the rules and derived values of the type apply; a device
never heard is registered from its entry. A bad call changes nothing.
"""

from __future__ import annotations

import pytest

from rules.engine import RuleEngine
from rules.model import RuleHit
from rules.pack import load_packs
from rules.site import Site
from tests.rules.helpers import MIN, SITE_DATA, S, tel

T = 1_767_225_600_000
OFF = "device.offline"


def with_devices(*devices: dict[str, object]) -> Site:
    data = dict(SITE_DATA)
    data["devices"] = [*SITE_DATA["devices"], *devices]
    return Site.model_validate(data)


def offline(hits: list[RuleHit], device: str) -> list[RuleHit]:
    return [h for h in hits if h.rule == OFF and h.active and h.device == device]


def test_a_device_heard_before_takes_its_entry(engine: RuleEngine) -> None:
    engine.link_restored(T, 0)
    engine.on_telemetry(tel("new-fcu", T, zone_temp=22.0))
    engine.on_telemetry(tel("other-fcu", T, zone_temp=22.0))
    dev, other = engine.devices["new-fcu"], engine.devices["other-fcu"]
    assert dev.zone is None and not engine.interval_known("new-fcu")
    assert dev.kind is other.kind  # what the two have alike: one profile
    engine.take_dirty()
    site = with_devices({"id": "new-fcu", "system": "hvac", "type": "fcu", "zone": "L2",
                         "name": "FCU L2", "interval_s": 120})  # fmt: skip
    engine.place(site, ["new-fcu"])
    assert engine.site is site
    assert (dev.zone, dev.type, dev.name, dev.interval_s) == ("L2", "fcu", "FCU L2", 120)
    assert dev.in_site_file and engine.interval_known("new-fcu")
    assert engine.take_dirty() == {"new-fcu"}  # saved with the state
    # the other device keeps its own (the profile they shared was not written)
    assert (other.type, other.name, other.interval_s, other.in_site_file) == (
        None, "other-fcu", 60.0, False)  # fmt: skip
    # offline after 3 x 120 s of silence (not the 60 s default), in its zone
    assert offline(engine.tick(T + 359 * S), "new-fcu") == []
    (hit,) = offline(engine.tick(T + 361 * S), "new-fcu")
    assert (hit.device, hit.zone) == ("new-fcu", "L2")
    # a rule's alarm carries the zone too
    engine.on_telemetry(tel("new-fcu", T + 400 * S, zone_temp=30.0, setpoint=22.0))
    hits = engine.on_telemetry(tel("new-fcu", T + 400 * S + 6 * MIN, zone_temp=30.0))
    assert [(h.rule, h.zone) for h in hits if h.active] == [("hvac.zone_temp_high", "L2")]


def test_the_rules_of_the_entry_type_apply(site: Site) -> None:
    engine = RuleEngine(site, load_packs("default,fdd"))
    engine.on_telemetry(tel("ahu-9", T, fan=False))
    assert "mode" not in engine.devices["ahu-9"].values  # no type: no ahu derivation
    engine.place(with_devices({"id": "ahu-9", "system": "hvac", "type": "ahu", "zone": "L3"}),
                 ["ahu-9"])  # fmt: skip
    engine.on_telemetry(tel("ahu-9", T + MIN, fan=False))
    assert engine.devices["ahu-9"].values["mode"] == "off"


def test_a_device_never_heard_is_registered_from_its_entry(engine: RuleEngine) -> None:
    site = with_devices({"id": "lc-9", "system": "lighting", "type": "lighting_circuit",
                         "zone": "L3", "interval_s": 30})  # fmt: skip
    engine.place(site, ["lc-9"])
    dev = engine.devices["lc-9"]
    assert (dev.system, dev.zone, dev.type, dev.interval_s) == ("lighting", "L3",
                                                                "lighting_circuit", 30)  # fmt: skip
    assert engine.interval_known("lc-9")


def test_a_bad_call_changes_nothing(engine: RuleEngine, site: Site) -> None:
    engine.on_telemetry(tel("x-1", T, zone_temp=22.0))
    other_system = with_devices({"id": "x-1", "system": "fire", "type": "smoke_detector",
                                 "zone": "L1"})  # fmt: skip
    with pytest.raises(ValueError, match="already reports as a hvac device"):
        engine.place(other_system, ["x-1"])
    with pytest.raises(ValueError, match="no entry"):
        engine.place(site, ["x-1"])
    elsewhere = Site.model_validate(SITE_DATA | {"timezone": "Europe/Paris"})
    with pytest.raises(ValueError, match="not this engine's site"):
        engine.place(elsewhere, [])
    assert engine.site is site and engine.devices["x-1"].zone is None


def test_an_active_offline_alarm_moves_to_the_zone_and_clears(engine: RuleEngine) -> None:
    engine.link_restored(T, 0)
    for i in range(3):  # learns a 60 s rhythm
        engine.on_telemetry(tel("fcu-9", T + i * MIN, zone_temp=22.0))
    (hit,) = offline(engine.tick(T + 10 * MIN), "fcu-9")
    assert hit.zone is None
    engine.place(with_devices({"id": "fcu-9", "system": "hvac", "type": "fcu", "zone": "L1"}),
                 ["fcu-9"])  # fmt: skip
    cleared = [h for h in engine.on_telemetry(tel("fcu-9", T + 11 * MIN, zone_temp=22.0))
               if h.rule == OFF]  # fmt: skip
    assert [(h.active, h.zone) for h in cleared] == [(False, "L1")]
    assert offline(engine.tick(T + 13 * MIN), "fcu-9") == []  # its entry's 60 s: 180 s
    (again,) = offline(engine.tick(T + 15 * MIN), "fcu-9")
    assert again.zone == "L1"
