"""Publishing a :class:`~simulators.engine.Simulation` over MQTT.

Connections. A real device has its own MQTT connection with its own will (``offline``,
retained, on its status topic). Up to :data:`PER_DEVICE_LIMIT` (100) devices we do the
same: one connection per device, each with its will, so a crash of the simulator (or a
dropped connection) makes the broker publish ``offline`` for every device. Beyond that,
thousands of connections would measure the broker's connection handling rather than the
gateway, so the devices are multiplexed over a few connections (one per 1,000 devices, at
most 16) without wills; the simulator itself publishes the retained ``offline`` of a
device that goes silent and of every device when it stops. (After a hard crash of a
multiplexed simulator the gateway still notices the silence, by its timeouts.)

Flow. One producer turns simulated time into messages (:meth:`Simulation._generate`) and
appends them to the buffer of their device's connection; one worker per connection
publishes its buffer at QoS 1, a batch at a time, pipelined (many PUBACKs in flight).
When the broker goes away a worker reconnects with backoff, republishes its devices'
retained ``online`` and retries the batch that failed. While it is away the buffer keeps
at most :data:`BUFFER_LIMIT` messages (the oldest are dropped and counted, as a device
with a small memory would); while it is connected but slow, the producer waits for it
(backpressure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import secrets
import ssl
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiomqtt

from gateway.clock import Clock
from gateway.settings import parse_mqtt_url
from gateway.site import Site

from .engine import AHU_SCENARIOS, SCENARIOS, Message, Simulation

log = logging.getLogger("sitewatch.simulators")

PER_DEVICE_LIMIT = 100
DEVICES_PER_CONNECTION = 1000
MAX_CONNECTIONS = 16
BATCH = 500
BUFFER_LIMIT = 200_000
HIGH_WATER = 20_000
MIN_TICK_S = 0.02
MAX_TICK_S = 0.25
STOP_GRACE_S = 10.0


class Publisher(Protocol):
    async def publish(
        self, topic: str, payload: bytes, qos: int = ..., retain: bool = ...
    ) -> Any: ...


ClientFactory = Callable[[str, "tuple[str, bytes] | None"], AbstractAsyncContextManager[Publisher]]
"""``factory(client_id, will)`` -> an async context manager giving a connected client with
``await client.publish(topic, payload, qos=, retain=)``; ``will`` is ``(topic, payload)``
to be set retained at QoS 1, or ``None``. Connection errors raise :class:`OSError` or
:class:`aiomqtt.MqttError`."""


def aiomqtt_factory(url: str, *, max_inflight: int = 100, keepalive: int = 30) -> ClientFactory:
    """A :data:`ClientFactory` for ``mqtt://[user:pass@]host:port`` (or ``mqtts://``)."""
    target = parse_mqtt_url(url)
    tls = ssl.create_default_context() if target.tls else None

    def make(client_id: str, will: tuple[str, bytes] | None) -> aiomqtt.Client:
        client = aiomqtt.Client(
            target.host,
            target.port,
            username=target.username,
            password=target.password,
            identifier=client_id,
            will=aiomqtt.Will(will[0], will[1], qos=1, retain=True) if will else None,
            keepalive=keepalive,
            timeout=10,
            max_inflight_messages=max_inflight,
            tls_context=tls,
            logger=log,
        )
        client.pending_calls_threshold = 1_000_000  # we pipeline publishes on purpose
        return client

    return make


@dataclass(slots=True, eq=False)
class _Conn:
    client_id: str
    will: tuple[str, bytes] | None
    devices: list[int]
    buf: deque[Message] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    connected: bool = False


def _connections(sim: Simulation) -> list[_Conn]:
    run_id = secrets.token_hex(3)
    n = len(sim.devices)
    if n <= PER_DEVICE_LIMIT:
        return [
            _Conn(f"sim-{d.id[:40]}-{run_id}", (d.status_topic, b"offline"), [d.index])
            for d in sim.devices
        ]
    k = max(1, min(MAX_CONNECTIONS, math.ceil(n / DEVICES_PER_CONNECTION)))
    conns = [_Conn(f"sim-{sim.site.site[:30]}-{run_id}-{i}", None, []) for i in range(k)]
    for d in sim.devices:
        conns[d.index % k].devices.append(d.index)
    return conns


async def _wait_any(events: Iterable[asyncio.Event], seconds: float | None) -> None:
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _worker(
    sim: Simulation, conn: _Conn, factory: ClientFactory, stopping: asyncio.Event
) -> None:
    first = True
    backoff = 0.5
    while True:
        try:
            async with factory(conn.client_id, conn.will) as client:
                conn.connected = True
                if not first:
                    log.info("simulator connection %s: reconnected", conn.client_id)
                    for idx in conn.devices:
                        d = sim.devices[idx]
                        if not d.silent:
                            await client.publish(d.status_topic, b"online", qos=1, retain=True)
                            sim.published += 1
                first = False
                backoff = 0.5
                while True:
                    if not conn.buf:
                        conn.drained.set()
                        if stopping.is_set():
                            return
                        conn.wake.clear()
                        await conn.wake.wait()
                        continue
                    batch = [conn.buf.popleft() for _ in range(min(len(conn.buf), BATCH))]
                    results = await asyncio.gather(
                        *(client.publish(t, p, qos=q, retain=r) for t, p, q, r in batch),
                        return_exceptions=True,
                    )
                    failed = [
                        m
                        for m, r in zip(batch, results, strict=True)
                        if isinstance(r, BaseException)
                    ]
                    sim.published += len(batch) - len(failed)
                    if failed:
                        conn.buf.extendleft(reversed(failed))
                        err = next(r for r in results if isinstance(r, BaseException))
                        raise err
                    if len(conn.buf) < HIGH_WATER // 2:
                        conn.drained.set()
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            conn.connected = False
            if first:
                log.warning("simulator connection %s: cannot connect (%s)", conn.client_id, exc)
            else:
                log.warning("simulator connection %s: lost (%s), reconnecting", conn.client_id, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
        finally:
            conn.connected = False


async def run_simulation(sim: Simulation, target: str | ClientFactory, stop: asyncio.Event) -> int:
    """Publish ``sim`` until ``stop`` is set (see the module doc); returns messages published."""
    if isinstance(target, str):
        inflight = 20 if len(sim.devices) <= PER_DEVICE_LIMIT else 200
        factory = aiomqtt_factory(target, max_inflight=inflight)
    else:
        factory = target
    conns = _connections(sim)
    route: list[_Conn] = [conns[0]] * len(sim.devices)
    for c in conns:
        for idx in c.devices:
            route[idx] = c
    published_before = sim.published
    stopping = asyncio.Event()
    sim._wake = wake = asyncio.Event()
    clock: Clock = sim.clock
    base_sim, base_mono = sim.now, clock.monotonic()

    def sim_now() -> float:
        if sim.speed == 1.0:  # real time: the wall clock (a start in the past backfills at once)
            return max(sim.now, clock.now())
        t = base_sim + (clock.monotonic() - base_mono) * sim.speed
        return max(sim.now, min(t, clock.now()))  # a replay never runs into the future

    def put(conn: _Conn, m: Message) -> None:
        if len(conn.buf) >= BUFFER_LIMIT:
            conn.buf.popleft()
            sim.dropped += 1
        conn.buf.append(m)
        conn.wake.set()

    workers = [
        asyncio.create_task(_worker(sim, c, factory, stopping), name=f"sim-{c.client_id}")
        for c in conns
    ]
    log.info(
        "simulating site %s: %d devices on %d MQTT connection(s), about %.1f msg/s",
        sim.site.site,
        len(sim.devices),
        len(conns),
        sim.rate * sim.speed,
    )
    try:
        while not stop.is_set():
            now = sim_now()
            for idx, topic, payload, qos, retain in sim._generate(now):
                put(route[idx], (topic, payload, qos, retain))
            for c in conns:  # backpressure: wait for a connected but slow broker
                while c.connected and len(c.buf) > HIGH_WATER and not stop.is_set():
                    c.drained.clear()
                    await _wait_any((c.drained, stop), 1.0)
            due = sim.next_due()
            wait = (due - sim_now()) / sim.speed if due != math.inf else MAX_TICK_S
            wake.clear()
            await _wait_any((stop, wake), min(MAX_TICK_S, max(MIN_TICK_S, wait)))
    finally:
        sim._wake = None
        for d in sim.devices:
            if not d.silent:
                put(route[d.index], (d.status_topic, b"offline", 1, True))
        stopping.set()
        for c in conns:
            c.wake.set()
        done, pending = await asyncio.wait(workers, timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("simulator connection failed", exc_info=task.exception())
        left = sum(len(c.buf) for c in conns)
        if left:
            sim.dropped += left
            log.warning("simulator stopped with %d messages unpublished", left)
    return sim.published - published_before


_SCENARIO_RE = re.compile(
    r"^(?P<name>[a-z_]+)(?::(?P<device>[A-Za-z0-9_.-]{1,64}))?(?:@(?P<delay>\d+(?:\.\d+)?))?$"
)


def parse_scenario(spec: str) -> tuple[str, str | None, float]:
    """``NAME[:DEVICE][@DELAY_S]`` -> (name, device or None, delay in seconds)."""
    m = _SCENARIO_RE.match(spec.strip())
    if not m or (m.group("name") not in SCENARIOS and m.group("name") not in AHU_SCENARIOS):
        raise ValueError(
            f"bad scenario {spec!r}: expected NAME[:DEVICE][@DELAY_S], "
            f"NAME one of {', '.join([*SCENARIOS, *AHU_SCENARIOS])}"
        )
    return m.group("name"), m.group("device"), float(m.group("delay") or 0.0)


async def simulate(
    mqtt_url: str,
    site: Site,
    *,
    devices: int | None = None,
    rate: float | None = None,
    scenarios: Iterable[str] = (),
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    site_id: str | None = None,
    speed: float = 1.0,
    seed: int = 0,
    payload: str = "values",
    clock: Clock | None = None,
) -> int:
    """Simulate ``site`` and publish to ``mqtt_url``; returns the messages published.

    Runs until ``stop`` is set or ``duration`` seconds have passed. ``scenarios`` are
    ``NAME[:DEVICE][@DELAY_S]`` (started at once or after the delay). ``site_id``
    publishes under another site id than the site file's. ``speed`` > 1 replays the
    past at that speed (with ``duration``: ``duration × speed`` seconds of history, else
    the last hour) up to the present, then carries on in real time.
    """
    if site_id and site_id != site.site:
        site = site.model_copy(update={"site": site_id})
    parsed = [parse_scenario(s) for s in scenarios]
    start = None
    if speed != 1.0:
        from gateway.clock import SystemClock

        now = (clock or SystemClock()).now()
        start = now - (duration * speed if duration else 3600.0)
    sim = Simulation(
        site,
        devices=devices,
        rate=rate,
        clock=clock,
        seed=seed,
        start=start,
        speed=speed,
        payload=payload,
    )
    for name, device, delay in parsed:
        if delay == 0.0:
            sim.inject(name, device)
        elif device is not None:
            sim.device(device)  # fail early on an unknown device
    inner = asyncio.Event()
    helpers: list[asyncio.Task[None]] = []

    async def relay() -> None:
        if stop is not None:
            await stop.wait()
        else:
            await asyncio.Event().wait()
        inner.set()

    async def timer(seconds: float) -> None:
        await asyncio.sleep(seconds)
        inner.set()

    async def later(name: str, device: str | None, delay: float) -> None:
        await asyncio.sleep(delay)
        sim.inject(name, device)

    helpers.append(asyncio.create_task(relay()))
    if duration is not None:
        helpers.append(asyncio.create_task(timer(duration)))
    for name, device, delay in parsed:
        if delay > 0.0:
            helpers.append(asyncio.create_task(later(name, device, delay)))
    try:
        return await sim.run(mqtt_url, inner)
    finally:
        for h in helpers:
            h.cancel()
        for h in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await h
