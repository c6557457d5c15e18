"""EngineDevice: a device with no history, windowed figure, key nor field of its own time
keeps no dicts of its own."""

from __future__ import annotations

from rules import engine_device
from rules.engine import RuleEngine
from rules.engine_device import EngineDevice
from rules.pack import RulePack
from rules.site import Site
from tests.rules.helpers import tel

MIN = 60_000


def _dev(did: str) -> EngineDevice:
    d = EngineDevice(did, "sc01", "hvac", None, "ahu", None, 60.0)
    d.profile.hist_win = {"f": 3_600_000}
    return d


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
    assert busy.hist_ts == {"f": [0, MIN, 2 * MIN]} and busy.hist_val == {"f": [1.0, 3.0, 2.0]}
    assert busy.stats == {("f", 10 * MIN, "avg"): 2.0} and idle.stats == {
        ("f", 10 * MIN, "avg"): None
    }
    assert idle.hist_ts is engine_device.EMPTY and idle.hist_val is engine_device.EMPTY
    assert _dev("new").stats is engine_device.EMPTY
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
    assert a1.profile is a2.profile  # one profile: rules, windows, offline rules, timeouts
    assert [r.id for r, _t in a1.profile.offline] == ["device.offline"]
    assert a1.profile.offline[0][1] == 60_000  # 3 x 20 s, at least 60 s
    assert a1.off is engine_device.EMPTY and a1.states is engine_device.EMPTY
    assert a1.ev is engine_device.EMPTY
    assert a1._ts == t0 + 40_000 and dict(a1.ts) == {"x": t0 + 40_000, "y": t0 + 40_000}
    engine.on_telemetry(tel("a-2", t0 + 50_000, x=3.0))  # one field: stamps of their own
    assert dict(a2.ts) == {"x": t0 + 50_000, "y": t0 + 40_000}
    assert a2.ts_of("y") == t0 + 40_000 and a2.ts_of("z") is None
    hits = engine.tick(t0 + 101_000)  # a-1 silent 61 s; a-2 heard 51 s ago
    assert [(h.rule, h.device, h.ts_ms) for h in hits if h.device.startswith("a-")] == [
        ("device.offline", "a-1", t0 + 100_000)
    ]
    assert list(a1.off) == [a1.profile.offline[0][0].index] and a2.off is engine_device.EMPTY
    assert ("device.offline", "a-1", None) in engine.active()
    snap = engine.snapshot(["a-1"])
    assert [a["rule"] for a in snap["devices"]["a-1"]["active"]] == ["device.offline"]
    assert snap["devices"]["a-1"]["values"] == {"x": [1.0, t0 + 40_000], "y": [2.0, t0 + 40_000]}
    back = engine.on_telemetry(tel("a-1", t0 + 120_000, x=1.0, y=2.0))
    assert [(h.rule, h.active) for h in back] == [("device.offline", False)]
    engine.on_telemetry(tel("a-2", t0 + 130_000, x=1.0, y=2.0))  # every field: one stamp again
    assert a2._ts == t0 + 130_000
