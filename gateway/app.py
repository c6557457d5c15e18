"""The running gateway: builds every stage from the settings and runs them as named tasks.

Lifecycle of :class:`Runtime`: ``Runtime(settings)`` builds (nothing connects yet);
``await runtime.run(stop)`` starts the sink, the MQTT links, the ticker and the HTTP server
in one task group and returns once ``stop`` is set and everything has drained: links
disconnect first (no new messages), the sink flushes (so what was received is stored and
acknowledged), then the HTTP server closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import APIRouter

from gateway.clock import Clock, SystemClock
from gateway.metrics import Metrics
from gateway.mqtt import MqttLink
from gateway.pipeline import Pipeline
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.sinks import make_sink
from gateway.site import Site, load_site

log = logging.getLogger("sitewatch")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


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
    ) -> None:
        self.settings = settings
        self.site = site or load_site(settings.site_file or None)
        self.site_id = settings.site
        self.clock: Clock = clock or SystemClock()
        self.tokens = tokens if tokens is not None else settings.tokens
        self.metrics = Metrics()
        self.registry = Registry(self.site, self.clock)
        self.sink = make_sink(settings, self.metrics, self.clock)
        self.mqtt_protocol = mqtt_protocol
        self.serve_http = serve_http
        self.started_at = time.time()
        self.links: list[MqttLink] = []
        self._routers: list[APIRouter] = []
        self.pipeline = Pipeline(
            self.site_id,
            self.registry,
            self.sink,
            self.metrics,
            self.clock,
            publish=self.publish,
        )
        self._build_links()
        self.http: _Server | None = None
        self.stopping = asyncio.Event()

    # -- construction -------------------------------------------------------------------
    def _build_links(self) -> None:
        s = self.settings
        base = f"sitewatch/{self.site_id}"
        prio = tuple(x for x in s.priority_systems)
        main = MqttLink(
            s.mqtt,
            s.mqtt_client_id,
            [f"{base}/#"],
            self.pipeline.on_message,
            name="main",
            protocol=self.mqtt_protocol,
            receive_maximum=s.mqtt_receive_maximum,
            on_state=self._link_state,
        )
        self.links.append(main)
        self.pipeline.add_link(main, skip_systems=prio)
        if prio:
            fast = MqttLink(
                s.mqtt,
                f"{s.mqtt_client_id}-prio",
                [f"{base}/{p}/#" for p in prio],
                self.pipeline.on_message,
                name="priority",
                protocol=self.mqtt_protocol,
                receive_maximum=min(1000, s.mqtt_receive_maximum),
                on_state=self._link_state,
            )
            self.links.append(fast)
            self.pipeline.add_link(fast)

    def add_router(self, router: APIRouter) -> None:
        self._routers.append(router)

    def extra_routers(self) -> list[APIRouter]:
        return list(self._routers)

    # -- outputs ------------------------------------------------------------------------
    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.links[0].publish(topic, payload, qos, retain)

    def _link_state(self, link: MqttLink, up: bool) -> None:
        g = self.metrics.mqtt_connected.labels(link=link.name)
        g.set(1 if up else 0)
        if up and link.reconnects:
            self.metrics.mqtt_reconnects.labels(link=link.name).inc()

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
        ok = all(links.values()) and sink.get("ok", True)
        return {
            "status": "ok" if ok else "degraded",
            "site": self.site_id,
            "mqtt": links,
            "store": sink,
            "devices": self.registry.counts(),
            "messages_received": self.pipeline.received,
            "unacked": self.pipeline.unacked(),
            "uptime_s": round(time.time() - self.started_at, 1),
        }

    # -- run ----------------------------------------------------------------------------
    def make_app(self) -> Any:
        from api.main import create_app

        return create_app(self)

    async def run(self, stop: asyncio.Event) -> None:
        await self.sink.start()
        try:
            async with asyncio.TaskGroup() as tg:
                for link in self.links:
                    tg.create_task(link.run(), name=f"mqtt-{link.name}")
                if self.serve_http:
                    cfg = uvicorn.Config(
                        self.make_app(),
                        host=self.settings.http_host,
                        port=self.settings.http_port,
                        log_level="warning",
                        lifespan="off",
                        timeout_graceful_shutdown=3,
                    )
                    self.http = _Server(cfg)
                    tg.create_task(self.http.serve(), name="http")
                await stop.wait()
                self.stopping.set()
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
            # the last acks for what the sink stored on stop
            await asyncio.sleep(0)
