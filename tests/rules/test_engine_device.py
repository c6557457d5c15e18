"""EngineDevice: a device with no history, windowed figure, key nor field of its own time
keeps no dicts of its own; what its group has alike (site, system, type, interval, site
file or not) is one profile it points to, its name one entry of the engine's."""

from __future__ import annotations

import sys

from rules import engine_device
from rules.devices import Kind
from rules.engine import RuleEngine
from rules.engine_device import EngineDevice, Profile
from rules.pack import RulePack
from rules.site import Site
from tests.rules.helpers import SITE_DATA, tel

MIN = 60_000


def _dev(did: str) -> EngineDevice:
    prof = Profile(Kind("sc01", "hvac", "ahu"), {}, {"f": 3_600_000}, {}, (), ())
    return EngineDevice(did, prof, None)


def test_history_and_figures_are_a_devices_own_the_others_share_nothing_written() -> None:
    busy, idle = _dev("busy"), _dev("idle")
    for i, v in enumerate([1.0, 3.0, 2.0]):
        busy.update({"f": v}, i * MIN)
        busy.add_history("f", i * MIN, v)
    idle.update({"f": 9.0}, 0)
    assert busy.window_stat("f", 10 * MIN, "avg") == 2.0
    assert busy.change("f", MIN, False) == -1.0  # 3.0 a minute before, 2.0 now
    assert idle.window_stat("f", 10 * MIN, "avg") is None  # a figure: a dict of its own
    assert idle.change("f", 10 * MIN, False) is None
    assert busy.extras.hist == {"f": ([0, MIN, 2 * MIN], [1.0, 3.0, 2.0])}
    assert busy.extras.stats == {("f", 10 * MIN, "avg"): 2.0} and idle.extras.stats == {
        ("f", 10 * MIN, "avg"): None
    }
    assert idle.extras.hist is engine_device.EMPTY and idle.extras.ev is engine_device.EMPTY
    assert _dev("new").extras is engine_device.NO_EXTRAS
    assert engine_device.EMPTY == {}  # nobody wrote the shared one


def test_devices_share_what_their_type_has_alike_and_make_keys_when_they_raise(
    site: Site, pack: RulePack
) -> None:
    """A device that never raised keeps no key of its own and one timestamp for all its
    fields; devices of one system, type and interval share one tuple of offline rules;
    the first silence makes the key, and it then raises, clears and saves as before."""
    engine = RuleEngine(site, pack)
    t0 = 1_767_225_600_000
    engine.tick(t0)
    for k in range(3):  # learned: 20 s
        for d in ("a-1", "a-2"):
            engine.on_telemetry(tel(d, t0 + k * 20_000, x=1.0, y=2.0))
    a1, a2 = engine._devices["a-1"], engine._devices["a-2"]
    assert a1.kind is a2.kind  # one profile: rules, windows, offline rules, timeouts
    assert (a1.site, a1.system, a1.type, a1.interval_s, a1.in_site_file, a1.name) == (
        "sc01",
        "hvac",
        None,
        20.0,
        False,
        "a-1",
    )
    assert [r.id for r, _t in a1.kind.offline] == ["device.offline"]
    assert a1.kind.offline[0][1] == 60_000  # 3 x 20 s, at least 60 s
    assert a1.off is engine_device.EMPTY and a1.states is engine_device.EMPTY
    assert a1.extras is engine_device.NO_EXTRAS
    assert a1._ts == t0 + 40_000 and dict(a1.ts) == {"x": t0 + 40_000, "y": t0 + 40_000}
    engine.on_telemetry(tel("a-2", t0 + 50_000, x=3.0))  # one field: stamps of their own
    assert dict(a2.ts) == {"x": t0 + 50_000, "y": t0 + 40_000}
    assert a2.ts_of("y") == t0 + 40_000 and a2.ts_of("z") is None
    hits = engine.tick(t0 + 101_000)  # a-1 silent 61 s; a-2 heard 51 s ago
    assert [(h.rule, h.device, h.ts_ms) for h in hits if h.device.startswith("a-")] == [
        ("device.offline", "a-1", t0 + 100_000)
    ]
    assert list(a1.off) == [a1.kind.offline[0][0].index] and a2.off is engine_device.EMPTY
    assert ("device.offline", "a-1", None) in engine.active()
    snap = engine.snapshot(["a-1"])
    assert [a["rule"] for a in snap["devices"]["a-1"]["active"]] == ["device.offline"]
    assert snap["devices"]["a-1"]["values"] == {"x": [1.0, t0 + 40_000], "y": [2.0, t0 + 40_000]}
    back = engine.on_telemetry(tel("a-1", t0 + 120_000, x=1.0, y=2.0))
    assert [(h.rule, h.active) for h in back] == [("device.offline", False)]
    engine.on_telemetry(tel("a-2", t0 + 130_000, x=1.0, y=2.0))  # every field: one stamp again
    assert a2._ts == t0 + 130_000


def test_site_devices_of_one_type_share_a_profile_and_keep_their_names(pack: RulePack) -> None:
    data = dict(SITE_DATA)
    data["devices"] = [
        {"id": "fcu-a", "system": "hvac", "type": "fcu", "zone": "L1", "name": "FCU lobby"},
        {"id": "fcu-b", "system": "hvac", "type": "fcu", "zone": "L2"},
        {"id": "fcu-c", "system": "hvac", "type": "fcu", "zone": "L2", "interval_s": 30},
    ]
    engine = RuleEngine(Site.model_validate(data), pack)
    a, b, c = (engine.devices[d] for d in ("fcu-a", "fcu-b", "fcu-c"))
    assert a.kind is b.kind and c.kind is not a.kind  # another interval: another profile
    assert [(d.name, d.zone, d.interval_s, d.in_site_file) for d in (a, b, c)] == [
        ("FCU lobby", "L1", 60.0, True),
        ("fcu-b", "L2", 60.0, True),
        ("fcu-c", "L2", 30.0, True),
    ]
    assert (a.site, a.system, a.type) == ("sc01", "hvac", "fcu")


def test_the_engines_tables_of_devices_learning_or_never_heard_shrink(
    site: Site, pack: RulePack
) -> None:
    """Tables that lose entries as devices learn their rhythm, or are heard, are made anew
    once most have gone (a dict keeps its size as entries are taken out)."""
    engine = RuleEngine(site, pack)
    t0 = 1_767_225_600_000
    engine.tick(t0)  # the site's devices, never heard: silence counted from here
    assert set(engine._silent_since) == {d.id for d in site.devices}
    for d in site.devices:
        engine.on_telemetry(tel(d.id, t0 + 1000, x=1.0))
    engine.tick(t0 + 10 * MIN)  # judged: heard since
    assert engine._silent_since == {}
    for k in range(3):
        for i in range(1000):
            engine.on_telemetry(tel(f"n-{i}", t0 + k * MIN, x=1.0))
    assert engine._learning == {}
    assert sys.getsizeof(engine._learning) < 1000  # (~37 KB when kept at its peak)
