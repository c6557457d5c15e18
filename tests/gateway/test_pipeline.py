"""The pipeline without a broker: ordered acks, rejections, own topics, QoS 0 backpressure."""

from __future__ import annotations

import json
from typing import Any

import paho.mqtt.client as paho

from gateway.clock import ManualClock
from gateway.decode import ContractDecoder
from gateway.metrics import Metrics
from gateway.pipeline import DEADLETTER_PAYLOAD_MAX, Pipeline
from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import Event, Message, Rejected, Telemetry


class FakeSink:
    def __init__(self) -> None:
        self.on_durable: Any = None
        self.on_rejected: Any = None
        self.items: list[tuple[int, Any]] = []
        self.room = True

    def submit(self, msg: Telemetry | Event, seq: int) -> None:
        self.items.append((seq, msg))

    def mark(self, seq: int) -> None:
        self.items.append((seq, None))

    def has_room(self) -> bool:
        return self.room


class FakeLink:
    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.generation = 0
        self.acked: list[int] = []

    def ack(self, mid: int) -> None:
        self.acked.append(mid)


def msg(topic: str, payload: Any, mid: int, qos: int = 1) -> paho.MQTTMessage:
    m = paho.MQTTMessage(mid=mid, topic=topic.encode())
    m.payload = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    m.qos = qos
    return m


class Devices:
    """A processor that keeps device state the way the rules stage does (the engine)."""

    name = "devices"

    def __init__(self) -> None:
        self.engine = RuleEngine(load_site(), load_default_pack())

    def __call__(self, m: Message) -> None:
        if isinstance(m, Telemetry):
            self.engine.on_telemetry(m)


def make(
    *processors: Any, decoder: Any = None
) -> tuple[Pipeline, FakeSink, FakeLink, list[tuple[str, bytes]], Metrics]:
    clock = ManualClock()
    sink = FakeSink()
    metrics = Metrics()
    published: list[tuple[str, bytes]] = []
    p = Pipeline(
        "sc01",
        decoder or ContractDecoder("sc01"),
        sink,
        metrics,
        clock,
        processors=processors,
        publish=lambda t, b, q, r: published.append((t, b)),
    )
    link = FakeLink()
    p.add_link(link)  # type: ignore[arg-type]
    return p, sink, link, published, metrics


T = "sitewatch/sc01/hvac/fcu-x/telemetry"


def test_acks_follow_durability_in_arrival_order() -> None:
    p, sink, link, _, _ = make()
    for mid in (5, 6, 7):
        p.on_message(link, msg(T, {"zone_temp": 20 + mid}, mid))  # type: ignore[arg-type]
    assert link.acked == []  # nothing is safe yet
    sink.on_durable(sink.items[1][0])
    assert link.acked == [5, 6]
    sink.on_durable(sink.items[2][0])
    assert link.acked == [5, 6, 7]


def test_rejected_message_is_dead_lettered_counted_and_acked_in_order() -> None:
    p, sink, link, published, metrics = make()
    p.on_message(link, msg(T, {"zone_temp": 21}, 1))  # type: ignore[arg-type]
    p.on_message(link, msg(T, b"{oops", 2))  # type: ignore[arg-type]
    assert [t for t, _ in published] == ["sitewatch/sc01/deadletter"]
    body = json.loads(published[0][1])
    assert body["reason"] == "bad_json" and body["topic"] == T and body["payload"] == "{oops"
    assert metrics.rejected.labels(reason="bad_json")._value.get() == 1
    sink.on_durable(sink.items[0][0])
    assert link.acked == [1]  # the rejection waits behind the reading before it
    sink.on_durable(sink.items[1][0])
    assert link.acked == [1, 2]


def test_own_output_topics_are_not_input() -> None:
    p, sink, link, published, _ = make()
    p.on_message(link, msg("sitewatch/sc01/alarms/17", {"id": 17}, 3))  # type: ignore[arg-type]
    p.on_message(link, msg("sitewatch/sc01/deadletter", {"x": 1}, 4))  # type: ignore[arg-type]
    assert p.received == 0 and published == []
    sink.on_durable(sink.items[-1][0])
    assert link.acked == [3, 4]


def test_stale_handles_of_a_lost_connection_are_not_acked() -> None:
    p, sink, link, _, _ = make()
    p.on_message(link, msg(T, {"zone_temp": 21}, 9))  # type: ignore[arg-type]
    link.generation += 1  # reconnected: the broker redelivers message 9 itself
    sink.on_durable(sink.items[0][0])
    assert link.acked == []


def test_qos0_dropped_and_counted_when_the_store_is_behind() -> None:
    p, sink, link, _, metrics = make()
    sink.room = False
    p.on_message(link, msg(T, {"zone_temp": 21}, 0, qos=0))  # type: ignore[arg-type]
    p.on_message(link, msg(T, {"zone_temp": 22}, 11, qos=1))  # type: ignore[arg-type]
    assert [type(m).__name__ for _, m in sink.items] == ["Telemetry"]
    assert metrics.dropped.labels(reason="qos0_store_behind")._value.get() == 1


def test_a_processor_that_raises_dead_letters_internal_and_the_reading_is_still_stored() -> None:
    def boom(_: object) -> None:
        raise RuntimeError("bug")

    devices = Devices()
    p, sink, link, published, metrics = make(boom, devices)
    p.on_message(link, msg(T, {"zone_temp": 21}, 1))  # type: ignore[arg-type]
    p.on_message(link, msg(T, {"zone_temp": 22}, 2))  # type: ignore[arg-type]
    assert len(sink.items) == 2 and all(m is not None for _, m in sink.items)
    assert devices.engine.devices["fcu-x"].values["zone_temp"] == 22.0  # later stages ran
    letters = [json.loads(b) for t, b in published if t.endswith("/deadletter")]
    assert [x["reason"] for x in letters] == ["internal", "internal"]
    assert "RuntimeError: bug" in letters[0]["detail"]
    assert metrics.rejected.labels(reason="internal")._value.get() == 2
    sink.on_durable(sink.items[-1][0])
    assert link.acked == [1, 2]


def test_a_decoder_that_raises_dead_letters_internal_acked_in_order() -> None:
    class Broken:
        def decode(self, topic: str, payload: bytes, now_ms: int) -> Any:
            if b"boom" in payload:
                raise OverflowError("int too large to convert to float")
            return ContractDecoder("sc01").decode(topic, payload, now_ms)

    p, sink, link, published, metrics = make(decoder=Broken())
    p.on_message(link, msg(T, {"zone_temp": 21}, 1))  # type: ignore[arg-type]
    p.on_message(link, msg(T, b'{"boom": 1}', 2))  # type: ignore[arg-type]
    p.on_message(link, msg(T, {"zone_temp": 23}, 3))  # type: ignore[arg-type]
    assert [json.loads(b)["reason"] for _, b in published] == ["internal"]
    assert metrics.rejected.labels(reason="internal")._value.get() == 1
    sink.on_durable(sink.items[-1][0])
    assert link.acked == [1, 2, 3]


def test_a_sink_encoder_that_raises_dead_letters_internal() -> None:
    p, sink, link, published, _ = make()

    def bad_submit(m: Any, seq: int) -> None:
        raise ValueError("cannot encode")

    sink.submit = bad_submit  # type: ignore[method-assign, assignment]
    p.on_message(link, msg(T, {"zone_temp": 21}, 1))  # type: ignore[arg-type]
    assert [json.loads(b)["reason"] for _, b in published] == ["internal"]
    sink.on_durable(sink.items[-1][0])
    assert link.acked == [1]


def test_a_huge_rejected_payload_is_not_echoed_whole() -> None:
    p, _, link, published, _ = make()
    big = b"{" + b"x" * (10 * 1024 * 1024)
    p.on_message(link, msg(T, big, 1))  # type: ignore[arg-type]
    body = json.loads(published[0][1])
    assert body["payload_size"] == len(big) and body["payload_truncated"] is True
    assert len(body["payload"]) == DEADLETTER_PAYLOAD_MAX
    assert len(published[0][1]) < 2 * DEADLETTER_PAYLOAD_MAX


def test_topics_that_only_start_like_our_own_are_input() -> None:
    p, sink, link, published, _ = make()
    p.on_message(link, msg("sitewatch/sc01/alarmsX/d1/telemetry", {"a": 1}, 1))  # type: ignore[arg-type]
    assert p.received == 1
    assert [json.loads(b)["reason"] for _, b in published] != []  # rejected with a reason


def test_acks_go_out_in_slices_per_loop_turn_and_all_in_order() -> None:
    import asyncio

    from gateway.pipeline import ACK_SLICE

    p, sink, link, _, _ = make()
    n = ACK_SLICE * 2 + 7
    for mid in range(1, n + 1):
        p.on_message(link, msg(T, {"zone_temp": 21}, mid))  # type: ignore[arg-type]

    async def flush() -> list[int]:
        sink.on_durable(sink.items[-1][0])
        first = list(link.acked)
        for _ in range(5):
            await asyncio.sleep(0)
        return first

    first_turn = asyncio.run(flush())
    assert first_turn == list(range(1, ACK_SLICE + 1))  # the loop got its turn back
    assert link.acked == list(range(1, n + 1))  # and every ack went out, in order


def test_the_age_of_the_oldest_unacknowledged_message_is_known() -> None:
    p, sink, link, _, _ = make()
    assert p.oldest_unacked_s() is None
    p.on_message(link, msg(T, {"zone_temp": 21}, 1))  # type: ignore[arg-type]
    age = p.oldest_unacked_s()
    assert age is not None and age >= 0
    sink.on_durable(sink.items[0][0])
    assert p.oldest_unacked_s() is None


def test_a_message_of_several_parts_is_acked_once_every_part_is_durable() -> None:
    class Several:
        def decode(self, topic: str, payload: bytes, now_ms: int) -> Any:
            one = ContractDecoder("sc01").decode(T, b'{"zone_temp": 21}', now_ms)
            two = ContractDecoder("sc01").decode(T, b'{"zone_temp": 22}', now_ms)
            bad = Rejected(topic, payload, "adapter:x:no_system", "", now_ms)
            return [one, bad, two]

    p, sink, link, published, _ = make(decoder=Several())
    p.on_message(link, msg("zigbee2mqtt/door", {"contact": True}, 7))  # type: ignore[arg-type]
    assert [s for s, _ in sink.items] == [1, 2, 3]  # one seq per part, in order
    assert [json.loads(b)["reason"] for _, b in published] == ["adapter:x:no_system"]
    sink.on_durable(2)
    assert link.acked == []  # the last part is not stored yet
    sink.on_durable(3)
    assert link.acked == [7]


def test_messages_of_one_millisecond_share_one_received_time() -> None:
    # the engine keeps each device's first and last heard time: one int object a
    # millisecond for all of them, not one a message
    p, sink, link, _, _ = make()
    for mid, dev in enumerate(("a-1", "a-2", "a-3"), start=1):
        p.on_message(link, msg(f"sitewatch/sc01/hvac/{dev}/telemetry", {"t": 1}, mid))  # type: ignore[arg-type]
    p.clock.advance(0.001)  # type: ignore[attr-defined]
    p.on_message(link, msg(T, {"t": 1}, 9))  # type: ignore[arg-type]
    got = [m.received_ms for _, m in sink.items]
    assert got[0] is got[1] is got[2]
    assert got[3] == got[0] + 1
