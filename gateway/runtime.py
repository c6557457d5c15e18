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
import gc
import json
import logging
import time
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import APIRouter

from api.sse import Hub
from gateway.alarms import AlarmService
from gateway.clock import Clock, SystemClock, parse_iso_ms
from gateway.dispatch import ServiceLevels
from gateway.metrics import Metrics
from gateway.model import Event, Status, Telemetry
from gateway.mqtt import MqttLink
from gateway.outbox import Outbox
from gateway.pipeline import Pipeline
from gateway.registry import Registry
from gateway.settings import Settings
from gateway.sinks import make_sink
from gateway.site import Site, load_site
from gateway.store import open_store
from gateway.tickets import TicketService
from rules import RuleEngine, load_default_pack, load_pack
from rules.model import RuleHit, RuleSpec

log = logging.getLogger("sitewatch")

LINK_RULE = RuleSpec(
    id="gateway.broker_link",
    system=None,
    priority="high",
    raises="alarm",
    message="the gateway lost its link to the MQTT broker ({device})",
    action="Check the broker and the network between gateway and broker; "
    "no device data arrives while the link is down.",
    cause="broker down, network failure or wrong credentials",
    consequence="the control room is blind: no alarms from any device",
)
# after the broker link was down, silence-based offline waits this long
LINK_GRACE_S = 120.0
RULE_STATE_SAVE_S = 0.25
DEVICE_STATE_PREFIX = "device:"


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
        self._build_rules()

    def _build_rules(self) -> None:
        s = self.settings
        self.pack = load_pack(s.rules_file) if s.rules_file else load_default_pack()
        self.engine = RuleEngine(self.site, self.pack)
        self.db = open_store(s.db_url)
        specs = dict(self.pack.specs)
        specs[LINK_RULE.id] = LINK_RULE
        self.alarms: AlarmService | None = AlarmService(self.db, specs, self.clock, self.site)
        self.alarm_hub = Hub(on_delay=self.metrics.sse_delay.observe)
        self.alarms.subscribe(self._on_alarm_change)
        # tickets: dispatched from rule hits and people, notified through the outbox
        self.outbox = Outbox(
            self.db, self.clock, self.site_id, mqtt=self.links[0] if self.links else None,
            webhooks=s.webhook_urls, secret=s.webhook_secret,
            backoff_max_s=s.outbox_backoff_max_s, timeout_s=s.webhook_timeout_s,
        )
        self.tickets: TicketService | None = TicketService(
            self.db, specs, self.clock, self.site, site_id=self.site_id, alarms=self.alarms,
            outbox=self.outbox, levels=ServiceLevels(s.ticket_sla),
            escalate_at=s.ticket_escalate_at,
        )
        # the engine's saved state: its core row plus one row per device (newer values)
        state = self.alarms.load_rule_state()
        parts = self.alarms.load_rule_state_parts(DEVICE_STATE_PREFIX)
        state["devices"] = {
            **(state.get("devices") or {}),
            **{k[len(DEVICE_STATE_PREFIX) :]: v for k, v in parts.items()},
        }
        self.engine.restore(state)
        # open alarms the store knows are active keys for the engine (never raised twice)
        self.engine.restore(
            {
                "active": [
                    {
                        "rule": a["rule"],
                        "device": a["device"],
                        "point": a["point"],
                        "since_ms": parse_iso_ms(a.get("source_ts")) or self.clock.now_ms(),
                    }
                    for a in self.alarms.open_alarms()
                    if a["state"] in ("active_unacked", "active_acked")
                ]
            }
        )
        self.engine.link_restored(self.clock.now_ms(), LINK_GRACE_S)
        self._rule_state_saved = 0.0
        self._rules_dirty = False
        self._deferred_save: asyncio.TimerHandle | None = None
        self.pipeline.listeners.append(self._evaluate)
        self.pipeline.before_ack = self._save_rule_state
        self.alarm_errors = 0

    # -- rules and alarms -------------------------------------------------------------
    def _evaluate(self, msg: Telemetry | Event | Status) -> None:
        self._rules_dirty = True
        if isinstance(msg, Telemetry):
            hits = self.engine.on_telemetry(msg)
        elif isinstance(msg, Event):
            hits = self.engine.on_event(msg)
        else:
            hits = self.engine.on_status(msg, self.clock.now_ms())
        for h in hits:
            self._apply(h)

    def _apply(self, hit: RuleHit) -> None:
        assert self.alarms is not None
        self._rules_dirty = True  # a hit moved the engine (on a message, the clock or an ack)
        try:
            alarm = self.alarms.apply(hit)
        except Exception:  # the gateway never stops on one alarm's trouble
            self.alarm_errors += 1
            log.exception("cannot apply %s %s/%s", hit.rule, hit.device, hit.point)
            alarm = None
        if self.tickets is not None:
            try:
                self.tickets.on_hit(hit, alarm.id if alarm is not None else None)
            except Exception:  # noqa: BLE001 - nor on one ticket's
                log.exception("cannot dispatch tickets for %s %s", hit.rule, hit.device)

    def _save_rule_state(self, force: bool = False) -> bool:
        """Save the engine's state (pending timers) before messages are acknowledged.

        At most once per ``RULE_STATE_SAVE_S``: a call within that time returns ``False``,
        so the pipeline holds its acknowledgements, and a save follows at the end of the
        interval, which then releases them (a message is never acknowledged before the
        timer it started is saved, else a crash would lose it). Nothing evaluated since
        the last save: nothing to do."""
        if not force and not self._rules_dirty:
            return True
        now = time.monotonic()
        wait = self._rule_state_saved + RULE_STATE_SAVE_S - now
        if not force and wait > 0:
            if self._deferred_save is None:
                self._deferred_save = asyncio.get_running_loop().call_later(
                    wait, self._save_deferred
                )
            return False
        self._rule_state_saved = now
        self._rules_dirty = False
        if self.alarms is not None:
            dirty = self.engine.take_dirty()
            try:
                # incremental: pending timers and active keys, plus the latest values of
                # the devices that changed since the last save (one row each), so the
                # cost follows the traffic, not the number of devices
                snap = self.engine.snapshot(devices=dirty)
                parts: dict[str, dict[str, Any]] = {
                    f"{DEVICE_STATE_PREFIX}{dev}": data
                    for dev, data in snap.pop("devices").items()
                }
                parts["engine"] = snap
                self.alarms.save_rule_state_parts(parts)
            except Exception:  # noqa: BLE001 - retried at the next flush
                self.engine.mark_dirty(dirty)  # saved next time
                log.exception("cannot save the rule engine's state")
        return True

    def _save_deferred(self) -> None:
        self._deferred_save = None
        self._save_rule_state(force=True)
        self.pipeline.ack_held()

    def _on_alarm_change(self, seq: int, alarm: dict[str, Any]) -> None:
        self.alarm_hub.publish(seq, alarm)
        topic = f"sitewatch/{self.site_id}/alarms/{alarm['id']}"
        try:
            self.publish(topic, json.dumps(alarm, separators=(",", ":")).encode(), 1, True)
        except Exception:  # noqa: BLE001
            log.exception("cannot publish alarm %s", alarm["id"])

    def ack_alarm(self, alarm_id: int, user: str, note: str | None) -> dict[str, Any]:
        assert self.alarms is not None
        result = self.alarms.ack(alarm_id, user, note)
        for h in self.engine.acknowledged(
            result["rule"], result["device"], result["point"], self.clock.now_ms()
        ):
            self._apply(h)
        return result

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
                now = self.clock.now_ms()
                for h in self.engine.tick(now):
                    self._apply(h)
                if self.alarms is not None:
                    self.alarms.tick(now / 1000)
                if self.tickets is not None:
                    self.tickets.tick(now)
            except Exception:  # noqa: BLE001
                log.exception("ticker failed; going on")

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
        if self.stopping.is_set():
            return
        now = self.clock.now_ms()
        if up:
            self.engine.link_restored(now, LINK_GRACE_S)
        else:
            self.engine.link_lost(now)
        self._apply(
            RuleHit(
                rule=LINK_RULE.id,
                site=self.site_id,
                system="gateway",
                device=f"{self.settings.mqtt_client_id}-{link.name}",
                point=None,
                active=not up,
                ts_ms=now,
                message=LINK_RULE.message.format(device=f"{link.name} link"),
            )
        )

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
        _tune_gc()
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
                ticker = tg.create_task(self._ticker(), name="ticker")
                lag = tg.create_task(self._loop_lag(), name="loop-lag")
                outbox = tg.create_task(self.outbox.run(), name="outbox")
                await stop.wait()
                self.stopping.set()
                ticker.cancel()
                lag.cancel()
                outbox.cancel()
                self.alarm_hub.close_all()
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
            if self._deferred_save is not None:
                self._deferred_save.cancel()
                self._deferred_save = None
            self._save_rule_state(force=True)
