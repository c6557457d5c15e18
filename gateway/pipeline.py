"""The ingest pipeline: MQTT link(s) -> decoder -> registry (-> rules) -> sink, with ordered acks.

Stages (each a small interface with its own lifecycle docstring):

* source: :class:`gateway.mqtt.MqttLink` (one per connection; fire has its own),
* processors: :class:`gateway.decode.ContractDecoder`, :class:`gateway.registry.Registry`,
  and the rule engine / alarm service when attached (:meth:`Pipeline.attach_rules`),
* sink: a :class:`gateway.sinks.base.Sink` (InfluxDB v1/v2 or the embedded store).

Every QoS 1 message gets a sequence number when it arrives. The sink reports the highest
sequence number below which everything is stored (``durable_seq``); the pipeline then
acknowledges those messages to the broker, in the order they arrived on their link. A
rejected message is safe once its dead letter is queued, but it is still acknowledged in
order with the rest, never ahead of a reading that arrived before it.

Backpressure is explicit and bounded: the broker sends at most ``receive_maximum``
unacknowledged QoS 1 messages (MQTT 5), so at most that many wait in the sink while the
store is slow or down; the rest wait in the broker's queue for our persistent session.
QoS 0 messages have no such bound: while the sink is full they are dropped and counted
(``sitewatch_messages_dropped_total``), never silently.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from gateway.clock import Clock, iso_ms
from gateway.decode import ContractDecoder
from gateway.metrics import Metrics
from gateway.model import Event, Rejected, Status, Telemetry
from gateway.mqtt import MqttLink
from gateway.registry import Registry

log = logging.getLogger("sitewatch.pipeline")

OWN_SUBTREES = ("alarms", "tickets", "deadletter")
ACK_SLICE = 500


class Pipeline:
    def __init__(
        self,
        site_id: str,
        registry: Registry,
        sink: Any,
        metrics: Metrics,
        clock: Clock,
        *,
        publish: Callable[[str, bytes, int, bool], None] | None = None,
    ) -> None:
        self.site_id = site_id
        self.registry = registry
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.decoder = ContractDecoder(site_id)
        self.publish = publish
        self.deadletter_topic = f"sitewatch/{site_id}/deadletter"
        self._own = tuple(f"sitewatch/{site_id}/{s}" for s in OWN_SUBTREES)
        self._seq = 0
        # per link: deque of (seq, mid, generation)
        self._pending: dict[str, deque[tuple[int, int, int]]] = {}
        self._links: dict[str, MqttLink] = {}
        self._skip_systems: dict[str, frozenset[str]] = {}
        self._kind = {
            k: metrics.messages_in.labels(kind=k)
            for k in ("telemetry", "event", "status", "rejected")
        }
        self._rejected: dict[str, Any] = {}
        self._dropped_qos0 = metrics.dropped.labels(reason="qos0_store_behind")
        self.listeners: list[Callable[[Telemetry | Event | Status], None]] = []
        # called before messages are acknowledged (e.g. to save the rule engine's timers);
        # returning False holds the acknowledgements until ack_held() is called
        self.before_ack: Callable[[], bool | None] | None = None
        self._held_seq = -1
        self._ack_target = -1
        self._ack_scheduled = False
        self.received = 0
        sink.on_durable = self._on_durable
        sink.on_rejected = self._on_store_rejected

    # -- wiring -----------------------------------------------------------------------
    def add_link(self, link: MqttLink, skip_systems: tuple[str, ...] = ()) -> None:
        """Register a link; messages of ``skip_systems`` are left to another link."""
        self._links[link.name] = link
        self._pending[link.name] = deque()
        self._skip_systems[link.name] = frozenset(skip_systems)

    def unacked(self) -> int:
        return sum(len(d) for d in self._pending.values())

    # -- hot path ---------------------------------------------------------------------
    def on_message(self, link: MqttLink, msg: paho.MQTTMessage) -> None:
        topic = msg.topic
        if topic.startswith(self._own):
            self._ack_now(link, msg)
            return
        skip = self._skip_systems.get(link.name)
        if skip and topic.split("/", 3)[2] in skip:
            self._ack_now(link, msg)
            return
        self.received += 1
        if msg.qos == 0 and not self.sink.has_room():
            # best effort by the sender's choice: under backpressure it is dropped, counted
            self._dropped_qos0.inc()
            return
        now = self.clock.now_ms()
        res = self.decoder.decode(topic, msg.payload, now)
        self._seq += 1
        seq = self._seq
        if msg.qos > 0:
            self._pending[link.name].append((seq, msg.mid, link.generation))
        if isinstance(res, Rejected):
            self._kind["rejected"].inc()
            self._reject(res)
            self.sink.mark(seq)
            return
        self.registry.observe(res)
        if isinstance(res, Status):
            self._kind["status"].inc()
            self.sink.mark(seq)
        else:
            self._kind["telemetry" if isinstance(res, Telemetry) else "event"].inc()
            self.sink.submit(res, seq)
        for fn in self.listeners:
            try:
                fn(res)
            except Exception:  # a listener's bug never stops ingest
                log.exception("listener failed on %s", topic)

    def _ack_now(self, link: MqttLink, msg: paho.MQTTMessage) -> None:
        if msg.qos > 0:
            self._seq += 1
            self._pending[link.name].append((self._seq, msg.mid, link.generation))
            self.sink.mark(self._seq)

    def _on_durable(self, durable_seq: int) -> None:
        if self.before_ack is not None:
            try:
                if self.before_ack() is False:
                    # not ready to acknowledge yet: the hook calls ack_held() once it is
                    self._held_seq = max(self._held_seq, durable_seq)
                    return
            except Exception:  # noqa: BLE001
                log.exception("before_ack failed")
        self._ack_upto(durable_seq)

    def ack_held(self) -> None:
        """Acknowledge what ``before_ack`` held back (it returned ``False``)."""
        seq, self._held_seq = self._held_seq, -1
        if seq >= 0:
            self._ack_upto(seq)

    def _ack_upto(self, durable_seq: int) -> None:
        """Acknowledge, in order, every message up to ``durable_seq``: at most
        ``ACK_SLICE`` per link per loop turn (a flush of 5,000 points would otherwise send
        5,000 PUBACKs in one go and hold the event loop, and the fire link, for tens of ms).
        """
        self._ack_target = max(self._ack_target, durable_seq)
        more = False
        for name, pend in self._pending.items():
            link = self._links[name]
            gen = link.generation
            n = 0
            while pend and pend[0][0] <= self._ack_target:
                if n >= ACK_SLICE:
                    more = True
                    break
                _, mid, g = pend.popleft()
                if g == gen:
                    link.ack(mid)
                n += 1
        if more and not self._ack_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (unit tests): finish now
                self._ack_upto(self._ack_target)
                return
            self._ack_scheduled = True
            loop.call_soon(self._ack_more)

    def _ack_more(self) -> None:
        self._ack_scheduled = False
        self._ack_upto(self._ack_target)

    # -- rejections -------------------------------------------------------------------
    def _reject(self, r: Rejected) -> None:
        c = self._rejected.get(r.reason)
        if c is None:
            c = self._rejected[r.reason] = self.metrics.rejected.labels(reason=r.reason)
        c.inc()
        body: dict[str, Any] = {
            "reason": r.reason,
            "detail": r.detail,
            "topic": r.topic,
            "received_at": iso_ms(r.received_ms),
        }
        try:
            body["payload"] = r.payload.decode("utf-8")
        except UnicodeDecodeError:
            body["payload_base64"] = base64.b64encode(r.payload).decode("ascii")
        self._dead_letter(body)

    def _on_store_rejected(self, line: str, reason: str) -> None:
        self.metrics.rejected.labels(reason="store_refused").inc()
        self._dead_letter(
            {
                "reason": "store_refused",
                "detail": reason,
                "line": line,
                "received_at": iso_ms(self.clock.now_ms()),
            }
        )

    def _dead_letter(self, body: dict[str, Any]) -> None:
        if self.publish is None:
            return
        try:
            self.publish(self.deadletter_topic, json.dumps(body).encode(), 1, False)
        except Exception:  # noqa: BLE001
            log.exception("cannot publish a dead letter")
