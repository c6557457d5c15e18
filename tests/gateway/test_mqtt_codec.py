"""The MQTT packet reader (gateway.mqtt_codec): headers, lengths, PUBLISH, any chunking."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.mqtt_codec import (
    MAX_REMAINING,
    MalformedPacket,
    OtherPacket,
    PacketReader,
    Publish,
    decode_varint,
    encode_remaining_length,
    parse_publish,
    pubacks,
)


def publish(
    topic: str | bytes,
    payload: bytes,
    qos: int = 1,
    mid: int = 1,
    *,
    v5: bool = True,
    props: bytes = b"",
    retain: bool = False,
    dup: bool = False,
) -> bytes:
    t = topic.encode() if isinstance(topic, str) else topic
    body = struct.pack(">H", len(t)) + t
    if qos:
        body += struct.pack(">H", mid)
    if v5:
        body += encode_remaining_length(len(props)) + props
    body += payload
    first = 0x30 | (qos << 1) | (8 if dup else 0) | (1 if retain else 0)
    return bytes([first]) + encode_remaining_length(len(body)) + body


def read_all(data: bytes, v5: bool = True, chunks: list[int] | None = None) -> list[object]:
    r = PacketReader(v5)
    out: list[object] = []
    pieces = [data] if chunks is None else split(data, chunks)
    for piece in pieces:
        r.feed(piece)
        while (p := r.next()) is not None:
            out.append(p)
    assert r.buffered() == 0
    return out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for c in [*points, len(data)]:
        pieces.append(data[last:c])
        last = c
    return pieces


@pytest.mark.parametrize(
    ("n", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (MAX_REMAINING, b"\xff\xff\xff\x7f"),
    ],
)
def test_remaining_length_edges(n: int, encoded: bytes) -> None:
    assert encode_remaining_length(n) == encoded
    assert decode_varint(encoded, 0, len(encoded)) == (n, len(encoded))
    # cut short: not yet known, not an error
    assert decode_varint(encoded, 0, len(encoded) - 1) is None


def test_remaining_length_out_of_range() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_remaining_length(MAX_REMAINING + 1)
    with pytest.raises(MalformedPacket, match="longer than 4 bytes"):
        decode_varint(b"\xff\xff\xff\xff\x01", 0, 5)
    r = PacketReader()
    r.feed(b"\x30\xff\xff\xff\xff\x01")
    with pytest.raises(MalformedPacket):
        r.next()


@pytest.mark.parametrize("size", [0, 1, 120, 127 - 12, 128, 16_383, 16_384, 70_000])
def test_publish_sizes_across_the_length_boundaries(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    [p] = read_all(publish("a/b", payload, mid=7))
    assert isinstance(p, Publish)
    assert (p.topic, p.payload, p.qos, p.mid) == ("a/b", payload, 1, 7)


def test_publish_fields_qos0_qos1_v311_and_v5() -> None:
    data = publish("s/x/t", b"zero", qos=0, retain=True) + publish(
        "s/x/t", b"one", qos=1, mid=65535, dup=True
    )
    p0, p1 = read_all(data)
    assert isinstance(p0, Publish) and isinstance(p1, Publish)
    assert (p0.qos, p0.mid, p0.retain, p0.dup, p0.payload) == (0, 0, True, False, b"zero")
    assert (p1.qos, p1.mid, p1.retain, p1.dup, p1.payload) == (1, 65535, False, True, b"one")
    [p] = read_all(publish("s/\u00e9", b"old", qos=1, mid=2, v5=False), v5=False)
    assert isinstance(p, Publish)
    assert (p.topic, p.payload, p.mid, p.properties) == ("s/\u00e9", b"old", 2, b"")


def test_properties_are_skipped_and_kept_raw() -> None:
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = 30
    props.ContentType = "application/json"
    props.UserProperty = [("k", "v"), ("k2", "v2" * 100)]
    # paho packs the properties' length first, then the properties
    length, at = decode_varint(props.pack(), 0, len(props.pack())) or (0, 0)
    raw = props.pack()[at:]
    assert len(raw) == length and length > 127  # a two-byte properties length
    [p] = read_all(publish("a/b", b'{"x":1}', props=raw))
    assert isinstance(p, Publish)
    assert p.payload == b'{"x":1}'
    assert p.properties == raw


def test_other_packets_are_handed_over_whole() -> None:
    connack = b"\x20\x03\x00\x00\x00"
    pingresp = b"\xd0\x00"
    suback = b"\x90\x04\x00\x01\x00\x01"
    qos2 = publish("a/b", b"x", qos=2, mid=9)
    out = read_all(connack + pingresp + suback + qos2 + publish("a/b", b"y"))
    kinds = [(o.kind, o.data) for o in out if isinstance(o, OtherPacket)]
    assert kinds == [(0x20, connack), (0xD0, pingresp), (0x90, suback), (0x30, qos2)]
    assert isinstance(out[-1], Publish) and out[-1].payload == b"y"


def test_partial_reads_wait_for_the_rest() -> None:
    data = publish("site/dev", b"p" * 300, mid=3)
    r = PacketReader()
    for i in range(len(data) - 1):
        r.feed(data[i : i + 1])
        assert r.next() is None
    r.feed(data[-1:])
    p = r.next()
    assert isinstance(p, Publish) and p.payload == b"p" * 300
    assert r.next() is None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x36\x05\x00\x01a\x00\x01", "QoS 3"),
        (publish("a/b", b"x", mid=0), "packet id 0"),
        (publish("a/#", b"x"), "not allowed"),
        (publish("a/+/b", b"x"), "not allowed"),
        (publish("", b"x"), "not allowed"),
        (publish(b"a/\xff", b"x"), "not UTF-8"),
        (b"\x32\x05\x00\x09abc", "topic runs past"),
        (b"\x32\x01\x00", "shorter than its topic length"),
        (b"\x32\x04\x00\x02ab", "without its packet id"),
        (b"\x32\x07\x00\x02ab\x00\x01\x09", "properties run past"),
        (b"\x32\x07\x00\x02ab\x00\x01\x80", "properties length runs past"),
        (b"\x00\x00", "reserved"),
    ],
)
def test_malformed_packets_raise(data: bytes, match: str) -> None:
    r = PacketReader()
    r.feed(data)
    with pytest.raises(MalformedPacket, match=match):
        r.next()


def test_pubacks_one_write_in_order() -> None:
    assert pubacks([1, 0x1234, 65535]) == b"\x40\x02\x00\x01\x40\x02\x12\x34\x40\x02\xff\xff"
    assert pubacks([]) == b""


stream_msgs = st.lists(
    st.tuples(
        st.text(
            st.characters(codec="utf-8", exclude_characters="#+\x00"),
            min_size=1,
            max_size=40,
        ),
        st.binary(max_size=400),
        st.integers(0, 1),
        st.integers(1, 65535),
        st.binary(max_size=200),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(stream_msgs, st.lists(st.integers(0, 100_000), max_size=30), st.booleans())
def test_any_chunking_gives_the_same_packets(
    msgs: list[tuple[str, bytes, int, int, bytes]], cuts: list[int], v5: bool
) -> None:
    data = (
        b"".join(
            publish(t, pl, q, mid, v5=v5, props=pr if v5 else b"") for t, pl, q, mid, pr in msgs
        )
        + b"\xd0\x00"
    )
    got = read_all(data, v5=v5, chunks=cuts)
    assert isinstance(got[-1], OtherPacket) and got[-1].data == b"\xd0\x00"
    pubs = got[:-1]
    assert all(isinstance(p, Publish) for p in pubs)
    assert [(p.topic, p.payload, p.qos, p.mid, p.properties) for p in pubs] == [  # type: ignore[attr-defined]
        (t, pl, q, mid if q else 0, pr if v5 else b"") for t, pl, q, mid, pr in msgs
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=10))
def test_arbitrary_bytes_never_raise_anything_but_malformed(data: bytes, cuts: list[int]) -> None:
    r = PacketReader()
    try:
        for piece in split(data, cuts):
            r.feed(piece)
            while (p := r.next()) is not None:
                assert isinstance(p, Publish | OtherPacket)
    except MalformedPacket:
        pass


# -- the reader's inline QoS 1 PUBLISH (MQTT 5) reads what parse_publish reads -------------
publish_bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda topic, mid, plen, rest: (
            struct.pack(">H", len(topic)) + topic + struct.pack(">H", mid) + bytes([plen]) + rest
        ),
        st.one_of(
            st.binary(max_size=30),
            st.text(max_size=30).map(str.encode),
            st.text(st.sampled_from("ab/#+\x00\u00e9"), max_size=8).map(str.encode),
        ),
        st.integers(0, 65535),
        st.integers(0, 255),
        st.binary(max_size=300),
    ),
)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([0x32, 0x33, 0x3A, 0x3B]), publish_bodies)
def test_inline_publish_reads_as_parse_publish(first: int, body: bytes) -> None:
    data = bytes([first]) + encode_remaining_length(len(body)) + body
    start = len(data) - len(body)

    def outcome(read: object) -> object:
        try:
            p = read()  # type: ignore[operator]
        except MalformedPacket as exc:
            return ("malformed", str(exc))
        assert isinstance(p, Publish)
        return (p.topic, p.payload, p.qos, p.mid, p.retain, p.dup, p.properties)

    r = PacketReader(v5=True)
    r.feed(data)
    assert outcome(r.next) == outcome(lambda: parse_publish(first, data, start, len(data), True))
