"""Publishing: connections, wills, reconnects and shutdown, against a fake client."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import pytest

from gateway.site import Site, load_site
from simulators import Simulation
from simulators.runner import PER_DEVICE_LIMIT


class FakeBroker:
    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse  # refuse this many connection attempts
        self.fail_publishes = 0  # fail this many publishes (connection lost)
        self.connects: list[tuple[str, tuple[str, bytes] | None]] = []
        self.messages: list[tuple[str, bytes, int, bool, str]] = []
        self.retained: dict[str, bytes] = {}

    def factory(self, client_id: str, will: tuple[str, bytes] | None) -> FakeClient:
        return FakeClient(self, client_id, will)


class FakeClient:
    def __init__(self, broker: FakeBroker, client_id: str, will: tuple[str, bytes] | None):
        self.broker, self.client_id, self.will = broker, client_id, will

    async def __aenter__(self) -> FakeClient:
        self.broker.connects.append((self.client_id, self.will))
        await asyncio.sleep(0)
        if self.broker.refuse > 0:
            self.broker.refuse -= 1
            raise ConnectionRefusedError("refused")
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Any:
        await asyncio.sleep(0)
        if self.broker.fail_publishes > 0:
            self.broker.fail_publishes -= 1
            raise ConnectionResetError("lost")
        self.broker.messages.append((topic, payload, qos, retain, self.client_id))
        if retain:
            self.broker.retained[topic] = payload


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site()


async def _run_for(sim: Simulation, broker: FakeBroker, seconds: float) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    return await sim.run(broker.factory, stop)


def test_one_connection_per_device_with_its_will(site: Site) -> None:
    broker = FakeBroker()
    sim = Simulation(site, rate=300.0)
    n = asyncio.run(_run_for(sim, broker, 1.0))
    assert n == len(broker.messages) == sim.published
    assert len(site.devices) <= PER_DEVICE_LIMIT
    assert len(broker.connects) == len(site.devices)
    wills = {w for _, w in broker.connects}
    assert wills == {(f"sitewatch/sc01/{d.system}/{d.id}/status", b"offline") for d in site.devices}
    # each device talks on its own connection only
    owner: dict[str, str] = {}
    for topic, _, qos, _, cid in broker.messages:
        assert qos == 1
        assert owner.setdefault(topic.split("/")[3], cid) == cid
    # online first, offline (retained) last, telemetry in between
    for d in site.devices:
        own = [m for m in broker.messages if m[0].split("/")[3] == d.id]
        assert own[0][:4] == (f"sitewatch/sc01/{d.system}/{d.id}/status", b"online", 1, True)
        assert own[-1][:4] == (f"sitewatch/sc01/{d.system}/{d.id}/status", b"offline", 1, True)
        assert broker.retained[own[0][0]] == b"offline"
    tele = [m for m in broker.messages if m[0].endswith("/telemetry")]
    assert len(tele) > 100


def test_many_devices_share_a_few_connections(site: Site) -> None:
    broker = FakeBroker()
    sim = Simulation(site, devices=2500, rate=2000.0)
    asyncio.run(_run_for(sim, broker, 1.0))
    ids = {cid for cid, _ in broker.connects}
    assert 1 < len(ids) <= 16
    assert all(w is None for _, w in broker.connects)
    statuses = [m for m in broker.messages if m[0].endswith("/status")]
    assert {m[1] for m in statuses[:2500]} == {b"online"}
    assert sum(1 for v in broker.retained.values() if v == b"offline") == 2500


def test_reconnects_and_retries_after_the_broker_goes_away(site: Site) -> None:
    broker = FakeBroker(refuse=2)
    sim = Simulation(site, devices=150, rate=400.0)

    async def scenario() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(1.2, lambda: setattr(broker, "fail_publishes", 5))
        loop.call_later(3.0, stop.set)
        return await sim.run(broker.factory, stop)

    n = asyncio.run(scenario())
    assert n == len(broker.messages)
    assert len(broker.connects) == 2 + 1 + 1  # refused twice, connected, reconnected
    assert broker.fail_publishes == 0
    onlines = [m for m in broker.messages if m[1] == b"online"]
    assert len(onlines) > 150  # statuses republished on reconnect
    assert sim.dropped == 0
    assert sum(1 for v in broker.retained.values() if v == b"offline") == 150


def test_runtime_injection_reaches_the_broker(site: Site) -> None:
    broker = FakeBroker()
    sim = Simulation(site)

    async def scenario() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: sim.inject("fire_alarm"))
        loop.call_later(0.3, lambda: sim.inject("device_silent", "lt-lobby-03"))
        loop.call_later(2.8, stop.set)  # the panel confirms 2 s after the detector
        await sim.run(broker.factory, stop)

    asyncio.run(scenario())
    events = [json.loads(p) for t, p, *_ in broker.messages if t.endswith("fp-01/event")]
    assert [e["type"] for e in events] == ["fire_alarm"]
    assert events[0]["point"] == "L1-D01"
    silent = [m[:2] for m in broker.messages if m[0].split("/")[3] == "lt-lobby-03"]
    assert silent[-1] == ("sitewatch/sc01/lighting/lt-lobby-03/status", b"offline")
    smoke = [json.loads(p) for t, p, *_ in broker.messages if t.endswith("sd-lobby-01/telemetry")]
    assert smoke and smoke[-1]["values"]["smoke"] > 4.0


def test_accelerated_replay_catches_up_with_the_present(site: Site) -> None:
    import time

    broker = FakeBroker()
    now = time.time()
    sim = Simulation(site, start=now - 1200.0, speed=1200.0)
    asyncio.run(_run_for(sim, broker, 1.5))
    ts = [json.loads(p)["ts"] for t, p, *_ in broker.messages if t.endswith("/telemetry")]
    assert min(ts) < (now - 1100) * 1000  # twenty minutes of history...
    assert max(ts) <= time.time() * 1000  # ...never ahead of the present
    assert len(ts) > 1000 * sim.rate * 0.8  # in about a second


def test_cli_arguments_and_bad_site_file() -> None:
    import argparse

    from gateway.settings import load_settings
    from simulators.cli import add_arguments, main

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(
        [
            "--devices",
            "500",
            "--rate",
            "250",
            "--scenario",
            "fire_alarm",
            "--scenario",
            "door_held:door-vip@30",
            "--duration",
            "5",
        ]
    )
    assert (args.devices, args.rate, args.duration) == (500, 250.0, 5.0)
    assert args.scenario == ["fire_alarm", "door_held:door-vip@30"]
    with pytest.raises(SystemExit):
        p.parse_args(["--scenario", "earthquake"])
    with pytest.raises(SystemExit):
        p.parse_args(["--devices", "0"])
    settings = load_settings(site_file="/nonexistent/site.yaml")
    assert asyncio.run(main(p.parse_args([]), settings)) == 2
