"""The simulators through the real Mosquitto on 127.0.0.1:1883."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import aiomqtt
import pytest

from gateway.site import load_site
from simulators import simulate
from tests.simulators.sim_contract import violation


async def _collect(client: aiomqtt.Client, into: list[tuple[str, bytes, bool]]) -> None:
    async for m in client.messages:
        payload = m.payload if isinstance(m.payload, bytes) else str(m.payload).encode()
        into.append((str(m.topic), payload, m.retain))


@pytest.mark.integration
def test_simulator_publishes_through_mosquitto(mosquitto_url: str, unique_site: str) -> None:
    site = load_site()
    status_topics = {f"sitewatch/{unique_site}/{d.system}/{d.id}/status" for d in site.devices}

    async def scenario() -> tuple[int, list[tuple[str, bytes, bool]], dict[str, bytes]]:
        live: list[tuple[str, bytes, bool]] = []
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"{unique_site}-sub") as sub:
            await sub.subscribe(f"sitewatch/{unique_site}/#", qos=1)
            task = asyncio.create_task(_collect(sub, live))
            published = await simulate(
                mosquitto_url,
                site,
                site_id=unique_site,
                rate=80.0,
                duration=3.0,
                scenarios=["fire_alarm"],
            )
            await asyncio.sleep(0.5)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        retained: list[tuple[str, bytes, bool]] = []
        async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"{unique_site}-late") as late:
            await late.subscribe(f"sitewatch/{unique_site}/+/+/status", qos=1)
            task = asyncio.create_task(_collect(late, retained))
            await asyncio.sleep(1.0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for topic in status_topics:  # leave no retained messages behind
                await late.publish(topic, b"", qos=1, retain=True)
        return published, live, {t: p for t, p, r in retained if r}

    published, live, retained = asyncio.run(scenario())

    assert published == len(live)  # QoS 1 all the way: nothing lost
    now_ms = time.time_ns() // 1_000_000
    for topic, payload, _ in live:
        assert violation(topic, payload, unique_site, now_ms) is None, (topic, payload)
    for d in site.devices:
        own = [(t, p) for t, p, _ in live if t.split("/")[3] == d.id]
        status = f"sitewatch/{unique_site}/{d.system}/{d.id}/status"
        assert own[0] == (status, b"online"), d.id
        assert own[-1] == (status, b"offline"), d.id
        assert any(t.endswith("/telemetry") for t, _ in own), d.id
    alarms = [json.loads(p) for t, p, _ in live if t.endswith("/fp-01/event")]
    assert alarms and alarms[0]["type"] == "fire_alarm" and alarms[0]["point"] == "L1-D01"
    # after the stop, a newcomer finds every device retained offline
    assert retained == {t: b"offline" for t in status_topics}
