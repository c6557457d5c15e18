"""The maintenance poll on the event loop: a sweep over many devices in slices, one loop
turn each, so that it never holds the loop for long (gateway.maintenance.service)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.maintenance import MaintenanceService
from gateway.maintenance import service as service_mod
from rules import RuleEngine, load_default_pack
from rules.model import Telemetry

from .conftest import make_world


def _service(tmp_path: Path, n: int) -> tuple[MaintenanceService, RuleEngine]:
    w = make_world(tmp_path)
    engine = RuleEngine(w.site, load_default_pack())
    now = w.clock.now_ms()
    for i in range(n):
        t = Telemetry("sc01", "hvac", f"fcu-{i}", now, {"fan": True, "zone_temp": 22.0}, now)
        engine.on_telemetry(t)
    pm = MaintenanceService(w.engine, w.site, w.clock, w.tickets, devices=engine.devices)
    return pm, engine


def _taken(pm: MaintenanceService, n: int) -> int:
    return sum(pm.meters.taken(f"fcu-{i}") >= 0 for i in range(n))


def test_without_a_loop_a_poll_takes_every_device_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_mod, "POLL_TAKE", 10)
    pm, _ = _service(tmp_path, 35)
    pm.poll()
    assert _taken(pm, 35) == 35


@pytest.mark.anyio
async def test_on_the_loop_a_poll_goes_on_in_the_next_turns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_mod, "POLL_TAKE", 10)
    pm, engine = _service(tmp_path, 35)
    pm.poll()
    assert _taken(pm, 35) == 10  # the first slice, in this turn
    pm.poll()  # a tick while the sweep goes on starts none
    assert _taken(pm, 35) == 10
    await asyncio.sleep(0)
    assert _taken(pm, 35) == 20
    for _ in range(5):
        await asyncio.sleep(0)
    assert _taken(pm, 35) == 35
    # a device that appears during a later sweep is taken by it
    now = pm._clock.now_ms() + 1000
    engine.on_telemetry(Telemetry("sc01", "hvac", "fcu-new", now, {"fan": True}, now))
    pm.poll()
    for _ in range(6):
        await asyncio.sleep(0)
    assert pm.meters.taken("fcu-new") == now


@pytest.mark.anyio
async def test_looking_at_devices_with_nothing_new_is_sliced_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm, engine = _service(tmp_path, 30)
    pm.poll()  # all new (the site file's devices too): taken at once, under POLL_TAKE
    assert pm._next_slice is None
    monkeypatch.setattr(service_mod, "POLL_LOOK", 8)
    pm.poll()
    turns = 0
    while pm._next_slice is not None and turns < 1000:
        await asyncio.sleep(0)
        turns += 1
    # every device looked at, 8 a turn: the first slice in the tick's turn, then one a turn
    # (the last one finds the sweep's end, after a slice that ended exactly at it)
    assert len(engine.devices) > 3 * 8
    assert turns == len(engine.devices) // 8
    assert pm._sweep is None
    pm.close()
