"""The ingest pipeline: MQTT link(s) -> decoder -> processors -> sink, with ordered acks.

Its stages are handed to it (each a small interface, see :mod:`gateway.stages`):

* sources: :class:`gateway.mqtt.MqttLink` (one per connection; fire has its own), added
  with :meth:`Pipeline.add_link`, calling :meth:`Pipeline.on_message`;
* a :class:`~gateway.stages.Decoder` (the contract's, or an adapter for foreign payloads);
* processors, in order, each given every valid message (the rules stage: device state,
  rule evaluation, alarms and tickets);
* a sink (:class:`gateway.sinks.base.Sink`: InfluxDB v1/v2 or the embedded store);
* an optional :class:`~gateway.stages.AckGate` asked before acknowledgements go out (the
  rules stage saves pending timers first).

**Every message ends stored or dead-lettered, and acknowledged**, whatever a stage
raises: a decoder, processor or sink encoder that raises dead-letters that message with
reason ``internal`` (counted; logged once per stage and error type, with a sample) and
the stream goes on. A processor's failure does not cost the reading its storage: it is
valid data, so it is still stored, and the failure is dead-lettered beside it.

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

The usual message, one reading, goes through the same steps inline in
:meth:`Pipeline.on_message` (it is the hot path: a few µs a message in all).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from gateway.clock import Clock, iso_ms
from gateway.metrics import Metrics
from gateway.mqtt import Incoming, MqttLink
from gateway.stages import AckGate, Decoder, Processor
from rules.model import Message, Rejected, Status, Telemetry

log = logging.getLogger("sitewatch.pipeline")

OWN_SUBTREES = ("alarms", "tickets", "deadletter")
ACK_SLICE = 500
#: a dead letter carries at most this much of the refused payload (plus its size)
DEADLETTER_PAYLOAD_MAX = 4096


class Pipeline:
    def __init__(
        self,
        site_id: str,
        decoder: Decoder,
        sink: Any,
        metrics: Metrics,
        clock: Clock,
        *,
        processors: Sequence[Processor] = (),
        ack_gate: AckGate | None = None,
        publish: Callable[[str, bytes, int, bool], None] | None = None,
    ) -> None:
        self.site_id = site_id
        self.sink = sink
        self.metrics = metrics
        self.clock = clock
        self.decoder = decoder
        self.processors = tuple(processors)
        self.ack_gate = ack_gate
        self.publish = publish
        self.deadletter_topic = f"sitewatch/{site_id}/deadletter"
        # "sitewatch/sc01/alarms/..." is ours, "sitewatch/sc01/alarmsX/..." is not
        self._own = tuple(f"sitewatch/{site_id}/{s}/" for s in OWN_SUBTREES)
        self._own_exact = frozenset(f"sitewatch/{site_id}/{s}" for s in OWN_SUBTREES)
        self._seq = 0
        self._now_ms = 0  # the gateway time of the last message (see on_message)
        # per link: deque of (seq, mid, generation, arrival time on the monotonic clock)
        self._pending: dict[str, deque[tuple[int, int, int, float]]] = {}
        self._links: dict[str, MqttLink] = {}
        self._skip_systems: dict[str, frozenset[str]] = {}
        self._skip_needles: dict[str, tuple[str, ...]] = {}
        # plain-int counters (gateway.metrics.IntCounter), one add per message
        self._n_telemetry = metrics.messages_in.labels(kind="telemetry")
        self._n_event = metrics.messages_in.labels(kind="event")
        self._n_status = metrics.messages_in.labels(kind="status")
        self._n_rejected = metrics.messages_in.labels(kind="rejected")
        self._rejected: dict[str, Any] = {}
        self._dropped_qos0 = metrics.dropped.labels(reason="qos0_store_behind")
        self._failures_logged: set[tuple[str, str]] = set()
        self.internal_errors = 0
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
        self._skip_needles[link.name] = tuple(f"/{s}" for s in skip_systems)

    def unacked(self) -> int:
        return sum(len(d) for d in self._pending.values())

    def oldest_unacked_s(self) -> float | None:
        """Seconds the oldest unacknowledged message has waited (None: none waits)."""
        arrivals = [d[0][3] for d in self._pending.values() if d]
        return time.monotonic() - min(arrivals) if arrivals else None

    # -- hot path ---------------------------------------------------------------------
    def on_message(self, link: MqttLink, msg: Incoming) -> None:
        topic = msg.topic
        if topic.startswith(self._own) or topic in self._own_exact:
            self._ack_now(link, msg)
            return
        needles = self._skip_needles.get(link.name)
        if needles:
            # "/fire" not in the topic: not a skipped system (the split only when it is)
            for n in needles:
                if n in topic:
                    if _system_of(topic) in self._skip_systems[link.name]:
                        self._ack_now(link, msg)
                        return
                    break
        self.received += 1
        if msg.qos == 0 and not self.sink.has_room():
            # best effort by the sender's choice: under backpressure it is dropped, counted
            self._dropped_qos0.inc()
            return
        now = self.clock.now_ms()
        if now == self._now_ms:
            # one int object a millisecond, shared by its messages and by every device
            # that keeps it as its last (or first) heard time: 32 B each otherwise
            now = self._now_ms
        else:
            self._now_ms = now
        payload: bytes = msg.payload  # type: ignore[assignment]  # bytes from paho and us
        try:
            res = self.decoder.decode(topic, payload, now)
        except Exception as exc:  # noqa: BLE001 - a decoder bug never stops ingest
            res = self._internal("decoder", exc, topic, payload, now)
        if type(res) is Telemetry:  # the usual answer, one reading: _handle's, inline
            seq = self._seq = self._seq + 1
            if msg.qos > 0:
                self._pending[link.name].append((seq, msg.mid, link.generation, time.monotonic()))
            for proc in self.processors:
                try:
                    proc(res)
                except Exception as exc:  # noqa: BLE001 - nor a processor's
                    self._reject(self._internal(_name(proc), exc, topic, payload, now))
            self._n_telemetry.value += 1
            try:
                self.sink.submit(res, seq)
            except Exception as exc:  # noqa: BLE001 - nor the sink's encoder
                self._reject(self._internal("sink", exc, topic, payload, now))
                self.sink.mark(seq)
            return
        # one sequence number per part (a foreign message may carry several readings);
        # the MQTT message is acknowledged with its last part, once every part is durable
        parts: Sequence[Message | Rejected] = (res,) if isinstance(res, Message | Rejected) else res
        first = self._seq + 1
        self._seq += max(1, len(parts))
        if msg.qos > 0:
            self._pending[link.name].append((self._seq, msg.mid, link.generation, time.monotonic()))
        if not parts:  # decoded to nothing: safe at once
            self.sink.mark(first)
            return
        for i, part in enumerate(parts):
            self._handle(part, first + i, topic, payload, now)

    def _handle(
        self, res: Message | Rejected, seq: int, topic: str, payload: bytes, now: int
    ) -> None:
        if isinstance(res, Rejected):
            self._n_rejected.inc()
            self._reject(res)
            self.sink.mark(seq)
            return
        for proc in self.processors:
            try:
                proc(res)
            except Exception as exc:  # noqa: BLE001 - nor a processor's
                self._reject(self._internal(_name(proc), exc, topic, payload, now))
        if isinstance(res, Status):
            self._n_status.inc()
            self.sink.mark(seq)
            return
        (self._n_telemetry if isinstance(res, Telemetry) else self._n_event).inc()
        try:
            self.sink.submit(res, seq)
        except Exception as exc:  # noqa: BLE001 - nor the sink's encoder
            self._reject(self._internal("sink", exc, topic, payload, now))
            self.sink.mark(seq)

    def _internal(
        self, stage: str, exc: Exception, topic: str, payload: bytes, now: int
    ) -> Rejected:
        """A stage raised on one message: count it, log the first of each kind with a
        sample, and turn it into a dead letter with reason ``internal``."""
        self.internal_errors += 1
        kind = (stage, type(exc).__name__)
        if kind not in self._failures_logged and len(self._failures_logged) < 256:
            self._failures_logged.add(kind)
            log.error(
                "%s raised %s on %s (payload %d bytes, first 200: %r); dead-lettered as "
                "internal, logged once per kind",
                stage,
                kind[1],
                topic,
                len(payload),
                payload[:200],
                exc_info=exc,
            )
        return Rejected(topic, payload, "internal", f"{stage}: {kind[1]}: {exc}"[:500], now)

    def _ack_now(self, link: MqttLink, msg: Incoming) -> None:
        if msg.qos > 0:
            self._seq += 1
            self._pending[link.name].append((self._seq, msg.mid, link.generation, time.monotonic()))
            self.sink.mark(self._seq)

    def _on_durable(self, durable_seq: int) -> None:
        gate = self.ack_gate
        if gate is not None:
            try:
                if not gate.ready():
                    # not ready to acknowledge yet: the gate calls ack_held() once it is
                    self._held_seq = max(self._held_seq, durable_seq)
                    return
            except Exception:  # noqa: BLE001
                log.exception("the ack gate failed")
        self._ack_upto(durable_seq)

    def ack_held(self) -> None:
        """Acknowledge what the ack gate held back (``ready()`` returned ``False``)."""
        seq, self._held_seq = self._held_seq, -1
        if seq >= 0:
            self._ack_upto(seq)

    def _ack_upto(self, durable_seq: int) -> None:
        """Acknowledge, in order, every message up to ``durable_seq``: at most
        ``ACK_SLICE`` per link per loop turn (a flush of 5,000 points would otherwise send
        5,000 PUBACKs in one go and hold the event loop, and the fire link, for tens of ms),
        each link's slice in one write (:meth:`MqttLink.ack_many`).
        """
        self._ack_target = max(self._ack_target, durable_seq)
        more = False
        for name, pend in self._pending.items():
            link = self._links[name]
            gen = link.generation
            n = 0
            mids: list[int] = []
            while pend and pend[0][0] <= self._ack_target:
                if n >= ACK_SLICE:
                    more = True
                    break
                _, mid, g, _t = pend.popleft()
                if g == gen:
                    mids.append(mid)
                n += 1
            if mids:  # the PUBACKs of one slice in one write, in arrival order
                ack_many = getattr(link, "ack_many", None)
                if ack_many is not None:
                    ack_many(mids)
                else:
                    for mid in mids:
                        link.ack(mid)
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
        payload = r.payload
        if len(payload) > DEADLETTER_PAYLOAD_MAX:
            # a huge refused payload is not echoed whole: its head, size and digest
            body["payload_size"] = len(payload)
            body["payload_sha256"] = hashlib.sha256(payload).hexdigest()
            payload = payload[:DEADLETTER_PAYLOAD_MAX]
            body["payload_truncated"] = True
        try:
            body["payload"] = payload.decode("utf-8")
        except UnicodeDecodeError:
            body["payload_base64"] = base64.b64encode(payload).decode("ascii")
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


def _name(stage: object) -> str:
    """A stage's name for logs and dead letters."""
    name = getattr(stage, "name", None)
    if isinstance(name, str):
        return name
    return getattr(stage, "__qualname__", None) or type(stage).__name__


def _system_of(topic: str) -> str | None:
    """``sitewatch/<site>/<system>/...`` -> system (None for a shorter or foreign topic:
    an adapter's devices never come in on the priority link)."""
    if not topic.startswith("sitewatch/"):
        return None
    parts = topic.split("/", 3)
    return parts[2] if len(parts) > 2 else None
