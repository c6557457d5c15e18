"""EngineDevice: a device with no history nor windowed figure keeps no dicts of its own."""

from __future__ import annotations

from rules import engine_device
from rules.engine_device import EngineDevice

MIN = 60_000


def _dev(did: str) -> EngineDevice:
    d = EngineDevice(did, "sc01", "hvac", None, "ahu", None, 60.0)
    d.hist_win = {"f": 3_600_000}
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
    assert idle.hist_ts is engine_device._NONE and idle.hist_val is engine_device._NONE
    assert _dev("new").stats is engine_device._NONE
    assert engine_device._NONE == {}  # nobody wrote the shared one
