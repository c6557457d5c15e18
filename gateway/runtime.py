"""The running gateway: one site's pipeline, links, sink and periodic work as named tasks.

Lifecycle of :class:`Runtime`: ``Runtime(settings)`` builds (nothing connects yet): the
metrics, the sink, the site's services (``gateway.services.build_site``), the pipeline
with its stages handed in (decoder, rules stage as processor and ack gate, sink) and the
MQTT links. ``await runtime.run(stop)`` starts the sink, the links, the ticker, the
outbox and any extra task the composition root added (the HTTP server) in one task group
and returns once ``stop`` is set and everything has drained: links pause first (no new
messages), the sink flushes (so what was received is stored and acknowledged), then the
links disconnect and the extra tasks are told to stop.

Several sites in one process (``gateway.multisite``): one runtime per site, each built
with ``serve_http=False`` and its site's (fenced) state store as ``store``, each stopped
alone by setting its own ``stop``; the process's one HTTP server is :func:`http_server`.

Concurrency: everything that touches state runs on this event loop (the HTTP routes are
``async`` and share it); services are synchronous and short, so a route or a message
never sees another half done. The state store's transactions are short too; the loop-lag
histogram (``sitewatch_loop_lag_seconds``) shows what they cost.

The runtime imports nothing of the HTTP layer: ``http_app`` (the composition root passes
``api.main.create_app``) turns the runtime into an ASGI app when ``serve_http`` is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import Callable, Coroutine, Generator, Mapping, Sequence
from typing import Any

import uvicorn

from gateway.clock import Clock, SystemClock
from gateway.decode import ContractDecoder
from gateway.discovery import HaDiscovery, States, service_states
from gateway.figures import Figures
from gateway.figures.rollup import EnergyRollup
from gateway.limits import BoundedDecoder
from gateway.metrics import Metrics
from gateway.mqtt import MqttLink
from gateway.onboarding import register
from gateway.pipeline import Pipeline
from gateway.services import SiteServices, build_site
from gateway.settings import Settings
from gateway.sinks import make_sink
from gateway.site import Device, Site, load_site
from gateway.stages import Decoder

log = logging.getLogger("sitewatch")


def _decoder(settings: Settings) -> Decoder:
    """The contract's decoder, or the adapters for foreign payloads in front of it."""
    if settings.adapters_file:
        from gateway.adapters import load_adapters

        return load_adapters(settings.adapters_file, settings.site)
    return ContractDecoder(settings.site)


def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path.

    Every message allocates (paho's packet, our Telemetry, a dict of values, encoded
    points); refcounting frees all of it, none of it is cyclic, yet the default thresholds
    run a full collection over every live object (the whole in-flight window) again and
    again, stalling the event loop for hundreds of ms under load. Objects made at start
    (modules, the site, the rule pack) are frozen out of collection, and collections run
    far less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def http_server(app: Any, settings: Settings) -> _Server:
    """The HTTP server of one process for ``app`` on ``settings.http_bind`` (a process
    serving several sites runs one, ``gateway.multisite``)."""
    cfg = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=3,
        # connection limits and the header-read timeout the HTTP layer chose
        # (api.server): the runtime knows nothing of HTTP itself
        **getattr(app.state, "server_options", {}),
    )
    return _Server(cfg)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        site: Site | None = None,
        clock: Clock | None = None,
        tokens: dict[str, str] | None = None,
        mqtt_protocol: str = "5",
        serve_http: bool = True,
        http_app: Callable[[Runtime], Any] | None = None,
        store: Any = None,
    ) -> None:
        self.settings = settings
        site = site or load_site(settings.site_file or None)
        if site.site != settings.site:
            # the configured site id (SITEWATCH_SITE) names the site on the wire and in
            # every alarm, whatever id the site file carries
            site = site.model_copy(update={"site": settings.site})
        self.site = site
        self.site_id = settings.site
        self.clock: Clock = clock or SystemClock()
        self.tokens = tokens if tokens is not None else settings.tokens
        self.metrics = Metrics()
        self.sink = make_sink(settings, self.metrics, self.clock)
        self.mqtt_protocol = mqtt_protocol
        self.serve_http = serve_http and http_app is not None
        self.http_app = http_app
        self.started_at = time.time()
        self.links: list[MqttLink] = []
        self._routers: list[Any] = []
        self._extra: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
        self.http: _Server | None = None
        self.stopping = asyncio.Event()
        self.decoder = _decoder(settings)
        self._build_links()
        self.services: SiteServices = build_site(
            settings,
            site,
            self.clock,
            self.metrics,
            mqtt=self.links[0],
            publish=self.publish,
            store=store,
        )
        sv = self.services
        # kWh per device per hour/day/month kept as power readings arrive (issue 14)
        self.energy = EnergyRollup(lambda: self.site, sv.db, self.clock, self.sink)
        self.energy.restore()
        self.add_task("energy-rollup", self.energy.run)
        self.figures = Figures(site, sv.db, self.sink, self.clock, rollup=self.energy)
        decoder = BoundedDecoder(
            self.decoder,
            sv.engine.devices,
            max_devices=settings.max_devices,
            max_fields=settings.max_fields,
        )
        self.pipeline = Pipeline(
            self.site_id,
            decoder,
            self.sink,
            self.metrics,
            self.clock,
            processors=[sv.rules, self.energy],
            ack_gate=sv.rules,
            publish=self.publish,
        )
        sv.rules.release = self.pipeline.ack_held
        self.discovery: HaDiscovery | None = None
        if settings.ha_discovery:
            disc = self.discovery = HaDiscovery(self.site_id, site, self.publish)
            self.add_task("ha-discovery", lambda: disc.run(self._ha_states))
        prio = tuple(settings.priority_systems)
        self.pipeline.add_link(self.links[0], skip_systems=prio)
        for link in self.links[1:]:
            self.pipeline.add_link(link)

    # -- the site's services, by the names the API uses ---------------------------------
    @property
    def engine(self) -> Any:
        return self.services.engine

    @property
    def pack(self) -> Any:
        return self.services.pack

    @property
    def registry(self) -> Any:
        return self.services.registry

    @property
    def alarms(self) -> Any:
        return self.services.alarms

    @property
    def tickets(self) -> Any:
        return self.services.tickets

    @property
    def outbox(self) -> Any:
        return self.services.outbox

    @property
    def db(self) -> Any:
        return self.services.db

    @property
    def alarm_hub(self) -> Any:
        return self.services.hub

    @property
    def people(self) -> Any:
        return self.services.people

    @property
    def alarm_errors(self) -> int:
        return self.services.rules.errors

    def place_devices(self, devices: Sequence[Device]) -> Site:
        """Onboarding: place validated devices in the running site (``gateway.onboarding``)."""
        site = register(self.engine, self.site, devices)
        self.site = self.services.site = site
        if self.discovery is not None:
            self.discovery.set_site(site)
        return site

    def _ha_states(self) -> States:
        return service_states(self.services, lambda: self.health()["status"] == "ok")

    def ack_alarm(
        self,
        alarm_id: int,
        user: str,
        note: str | None,
        *,
        audit: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Acknowledge as ``user`` (id); ``audit`` (``Principal.audit()``) is journaled."""
        return self.services.rules.acknowledge(alarm_id, user, note, audit=audit)

    async def _loop_lag(self) -> None:
        """Sample how late the event loop is (a callback due now runs after ``lag``)."""
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.1)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - t - 0.1))

    async def _ticker(self) -> None:
        """Once a second: complete delays on the clock, judge silence, alarm timers."""
        while True:
            await asyncio.sleep(1.0)
            try:
                self.services.tick(self.clock.now_ms())
            except Exception:  # noqa: BLE001
                log.exception("ticker failed; going on")

    # -- construction -------------------------------------------------------------------
    def _build_links(self) -> None:
        s = self.settings
        base = f"sitewatch/{self.site_id}"
        prio = tuple(s.priority_systems)
        on_message = self._on_message
        foreign: list[str] = getattr(self.decoder, "topic_filters", list)()
        main = MqttLink(
            s.mqtt,
            s.mqtt_client_id,
            [f"{base}/#", *foreign],
            on_message,
            name="main",
            protocol=self.mqtt_protocol,
            receive_maximum=s.mqtt_receive_maximum,
            on_state=self._link_state,
        )
        self.links.append(main)
        if prio:
            self.links.append(
                MqttLink(
                    s.mqtt,
                    f"{s.mqtt_client_id}-prio",
                    [f"{base}/{p}/#" for p in prio],
                    on_message,
                    name="priority",
                    protocol=self.mqtt_protocol,
                    receive_maximum=min(1000, s.mqtt_receive_maximum),
                    on_state=self._link_state,
                )
            )

    def _on_message(self, link: MqttLink, msg: Any) -> None:
        self.pipeline.on_message(link, msg)

    def add_router(self, router: Any) -> None:
        self._routers.append(router)

    def extra_routers(self) -> list[Any]:
        return list(self._routers)

    def add_task(self, name: str, factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``factory()`` as a named task beside the others; cancelled on stop."""
        self._extra.append((name, factory))

    # -- outputs ------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.links[0].publish(topic, payload, qos, retain)

    def _link_state(self, link: MqttLink, up: bool) -> None:
        g = self.metrics.mqtt_connected.labels(link=link.name)
        g.set(1 if up else 0)
        if up and link.reconnects:
            self.metrics.mqtt_reconnects.labels(link=link.name).inc()
        if self.stopping.is_set():
            return
        self.services.rules.link_state(f"{self.settings.mqtt_client_id}-{link.name}", link.name, up)

    # -- health -------------------------------------------------------------------------
    def refresh_gauges(self) -> None:
        m = self.metrics
        m.unacked.set(self.pipeline.unacked())
        m.queue_depth.labels(stage="sink").set(self.sink.buffered_points)
        for state, n in self.registry.counts().items():
            m.devices.labels(state=state).set(n)

    def health(self) -> dict[str, Any]:
        links = {lk.name: lk.connected for lk in self.links}
        sink = self.sink.health()
        oldest = self.pipeline.oldest_unacked_s()
        stuck = oldest is not None and oldest > self.settings.unacked_degraded_s
        ok = all(links.values()) and sink.get("ok", True) and not stuck
        return {
            "status": "ok" if ok else "degraded",
            "site": self.site_id,
            # one site, served here (several: gateway.multisite.Host.health)
            "sites": {self.site_id: "owned"},
            "instance": self.settings.instance or f"{socket.gethostname()}-{os.getpid()}",
            "mqtt": links,
            "store": sink,
            "devices": self.registry.counts(),
            "messages_received": self.pipeline.received,
            "unacked": self.pipeline.unacked(),
            "oldest_unacked_s": None if oldest is None else round(oldest, 1),
            "internal_errors": self.pipeline.internal_errors,
            "uptime_s": round(time.time() - self.started_at, 1),
        }

    # -- run ----------------------------------------------------------------------------
    def make_app(self) -> Any:
        if self.http_app is None:
            raise RuntimeError("no HTTP app: build the runtime with http_app=create_app")
        return self.http_app(self)

    async def run(self, stop: asyncio.Event) -> None:
        _tune_gc()
        await self.sink.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for link in self.links:
                    tg.create_task(link.run(), name=f"mqtt-{link.name}")
                if self.serve_http:
                    self.http = http_server(self.make_app(), self.settings)
                    tg.create_task(self.http.serve(), name="http")
                background = [
                    tg.create_task(self._ticker(), name="ticker"),
                    tg.create_task(self._loop_lag(), name="loop-lag"),
                    tg.create_task(self.services.outbox.run(), name="outbox"),
                    *(tg.create_task(f(), name=n) for n, f in self._extra),
                ]
                await stop.wait()
                self.stopping.set()
                for task in background:
                    task.cancel()
                self.services.hub.close_all()
                # drain: no new messages, store what we have, ack it, then disconnect
                for link in self.links:
                    link.pause()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.sink.flush(), 10)
                await asyncio.sleep(0.2)
                for link in self.links:
                    link.stop()
                if self.http is not None:
                    self.http.should_exit = True
        finally:
            await self.sink.stop()
            self.services.rules.close()
            self.services.maintenance.close()  # the meters, saved a last time
