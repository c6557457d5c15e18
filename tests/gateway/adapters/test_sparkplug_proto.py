"""Sparkplug B payloads: the fast reader and protobuf give the same values, or it steps aside.

``decode_payload`` reads the usual shape itself and leaves anything else to protobuf
(``decode_reference``). Generated payloads (every field of the schema with random values,
wrong wire types, unknown fields, varints of every length, truncations and flipped bytes)
check that wherever the fast reader answers, it answers what protobuf does, and that what
protobuf refuses is refused.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters import sparkplug_proto as sp


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def ld(field: int, body: bytes) -> bytes:
    return tag(field, 2) + varint(len(body)) + body


EDGES = [0, 1, 127, 128, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**69]
VARINTS = st.one_of(
    st.sampled_from(EDGES),
    st.integers(0, 127),
    st.integers(0, 2**32),
    st.integers(0, 2**64 - 1),
    st.integers(2**64, 2**70 - 1),  # ten bytes, above 64 bits: protobuf truncates
)
TEXT = st.one_of(st.text(max_size=12).map(lambda s: s.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=12))  # fmt: skip


def _metric_field() -> st.SearchStrategy[bytes]:
    return st.one_of(
        TEXT.map(lambda b: ld(1, b)),
        st.sampled_from([2, 3, 4, 5, 6, 7, 10, 11, 14]).flatmap(
            lambda f: VARINTS.map(lambda v: tag(f, 0) + varint(v))
        ),
        st.floats(width=32, allow_nan=True).map(lambda x: tag(12, 5) + struct.pack("<f", x)),
        st.floats(allow_nan=True).map(lambda x: tag(13, 1) + struct.pack("<d", x)),
        TEXT.map(lambda b: ld(15, b)),
        st.binary(max_size=6).map(lambda b: ld(16, b)),
        st.sampled_from([8, 9, 17, 18, 19, 40]).flatmap(
            lambda f: st.binary(max_size=6).map(lambda b: ld(f, b))
        ),
        # a known field with another wire type; a fixed32 or fixed64 of an unknown field
        st.sampled_from([1, 2, 12, 13, 15]).map(lambda f: tag(f, 0) + b"\x01"),
        st.sampled_from([2, 12]).map(lambda f: tag(f, 1) + bytes(8)),
        st.binary(max_size=4),
    )


METRIC = st.lists(_metric_field(), max_size=6).map(b"".join)
# the usual DATA metric: an alias, then one value
USUAL = st.tuples(st.integers(0, 127), st.sampled_from([0x65, 0x69, 0x70, 0x50, 0x58]),
                  st.integers(0, 255)).map(
    lambda a: b"\x10" + bytes([a[0], a[1]])
    + (bytes([a[2]]) * 4 if a[1] == 0x65 else bytes([a[2]]) * 8 if a[1] == 0x69
       else bytes([a[2] & 0x7F]))
)  # fmt: skip
TOP = st.one_of(
    st.one_of(METRIC, USUAL).map(lambda m: ld(2, m)),
    VARINTS.map(lambda v: tag(1, 0) + varint(v)),
    VARINTS.map(lambda v: tag(3, 0) + varint(v)),
    TEXT.map(lambda b: ld(4, b)),
    st.binary(max_size=6).map(lambda b: ld(5, b)),
    st.binary(max_size=6).map(lambda b: ld(7, b)),
    st.binary(max_size=3),
)
PAYLOADS = st.lists(TOP, max_size=8).map(b"".join)


def comparable(decoded: tuple[int, int | None, list[sp.Metric]]) -> Any:
    ts, seq, metrics = decoded
    rows = [
        tuple("nan" if isinstance(x, float) and math.isnan(x) else x for x in m) for m in metrics
    ]
    return ts, seq, rows


def check(data: bytes) -> None:
    try:
        want = sp.decode_reference(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError
        with pytest.raises(Exception):  # noqa: B017 - whatever protobuf raises
            sp.decode_payload(data)
        return
    assert comparable(sp.decode_payload(data)) == comparable(want)


@settings(max_examples=400, deadline=None)
@given(PAYLOADS)
def test_the_fast_reader_agrees_with_protobuf(data: bytes) -> None:
    check(data)


@settings(max_examples=200, deadline=None)
@given(PAYLOADS, st.integers(0, 200), st.integers(0, 255))
def test_truncated_and_flipped_payloads_agree_too(data: bytes, cut: int, flip: int) -> None:
    check(data[: cut % (len(data) + 1)])
    if data:
        b = bytearray(data)
        b[cut % len(b)] ^= flip
        check(bytes(b))


@pytest.mark.parametrize("value", EDGES)
def test_every_varint_field_at_the_edges(value: int) -> None:
    # uint32 fields keep the low 32 bits, uint64 the low 64, booleans are "not zero" of
    # those 64 bits; a ten-byte varint is the longest protobuf reads
    for field in (2, 3, 4, 5, 6, 7, 10, 11, 14):
        check(ld(2, tag(field, 0) + varint(value)))
        check(ld(2, b"\x10\x01" + tag(field, 0) + varint(value)))
    for field in (1, 3):
        check(tag(field, 0) + varint(value))
    check(tag(1, 0) + b"\xff" * 10 + b"\x01")  # eleven bytes: refused


def without_protobuf(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: bytes | bytearray) -> Any:
        raise AssertionError("left to protobuf")

    monkeypatch.setattr(sp, "decode_reference", refuse)


def test_the_usual_data_payload_is_read_without_protobuf(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = sp.encode_payload({"timestamp": 1767225599000, "seq": 7, "metrics": [
        {"alias": 1, "floatValue": 23.5}, {"alias": 2, "booleanValue": True},
        {"alias": 3, "intValue": 4}, {"alias": 4, "doubleValue": 0.25},
        {"alias": 5, "longValue": 9},
        {"name": "note", "stringValue": "é", "timestamp": 5}]})  # fmt: skip
    want = sp.decode_reference(data)
    without_protobuf(monkeypatch)
    got = sp.decode_payload(data)
    assert got == want
    assert got == (1767225599000, 7, [
        (None, 1, 0, 0, False, "float_value", 23.5),
        (None, 2, 0, 0, False, "boolean_value", True),
        (None, 3, 0, 0, False, "int_value", 4),
        (None, 4, 0, 0, False, "double_value", 0.25),
        (None, 5, 0, 0, False, "long_value", 9),
        ("note", None, 5, 0, False, "string_value", "é"),
    ])  # fmt: skip


def test_what_the_fast_reader_leaves_is_read_by_protobuf(monkeypatch: pytest.MonkeyPatch) -> None:
    data = ld(2, b"\x10\x01" + ld(9, b"\x01\x02") + tag(12, 5) + struct.pack("<f", 1.5))
    data += ld(2, ld(16, b"raw"))  # bytes_value: a two-byte tag
    assert sp.decode_payload(data) == (0, None, [
        (None, 1, 0, 0, False, "float_value", 1.5),
        (None, None, 0, 0, False, "bytes_value", None),
    ])  # fmt: skip
    with pytest.raises(Exception):  # noqa: B017 - protobuf's DecodeError
        sp.decode_payload(b"\x12\x05\x10")  # truncated
    without_protobuf(monkeypatch)
    for other in (data, data + tag(9, 0) + b"\x01"):  # a field Payload does not have
        with pytest.raises(AssertionError, match="left to protobuf"):
            sp.decode_payload(other)
