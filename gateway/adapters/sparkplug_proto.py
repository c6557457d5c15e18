"""Sparkplug B's protobuf ``Payload``, built from descriptors at import (no ``protoc`` step).

Lifecycle: on import, the part of Eclipse Tahu's ``sparkplug_b.proto`` (package
``org.eclipse.tahu.protobuf``, proto2) that carries telemetry is declared with the
``protobuf`` package's ``descriptor_pb2`` and turned into a message class: ``Payload``
(``timestamp``, ``metrics``, ``seq``, ``uuid``, ``body``) and ``Payload.Metric`` (``name``,
``alias``, ``timestamp``, ``datatype``, ``is_historical``, ``is_transient``, ``is_null`` and
the value oneof's scalar members). Members left out (metadata, properties, data sets,
templates, extensions) parse as unknown fields and are ignored. The field numbers are the
specification's, so payloads of any Sparkplug B library decode here, and
:func:`encode_payload` (for tests and the benchmark) writes payloads they can read.

Per message, :func:`decode_payload` reads a payload into plain values: its timestamp, its
``seq`` and one :data:`Metric` tuple per metric. It first tries a reader of the wire
format written here for the usual shape (the fields above, each with its own wire type,
one-byte tags): reading a metric's fields from ``upb`` costs a Python object per metric
and per attribute, several times the parse itself. Whatever that reader does not expect
(an unknown field, another wire type, a malformed or truncated payload, text that is not
UTF-8) it leaves to ``protobuf`` itself (:func:`decode_reference`), whose answer or error
then stands, so both give the same values wherever the first answers (a property test
compares them on generated payloads).
"""

from __future__ import annotations

import struct
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto

#: Sparkplug B data types (the specification's numbers)
INT8, INT16, INT32, INT64 = 1, 2, 3, 4
UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
DATATYPES = {
    "Int8": INT8, "Int16": INT16, "Int32": INT32, "Int64": INT64,
    "UInt8": UINT8, "UInt16": UINT16, "UInt32": UINT32, "UInt64": UINT64,
    "Float": FLOAT, "Double": DOUBLE, "Boolean": BOOLEAN, "String": STRING,
    "DateTime": DATETIME, "Text": TEXT, "UUID": UUID,
}  # fmt: skip


def _field(
    msg: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    ftype: int,
    label: int = F.LABEL_OPTIONAL,
    type_name: str = "",
    oneof: int | None = None,
) -> None:
    f = msg.field.add(name=name, number=number, type=ftype, label=label)  # type: ignore[arg-type]
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def _build() -> Any:
    fd = descriptor_pb2.FileDescriptorProto(
        name="sitewatch/sparkplug_b.proto", package="org.eclipse.tahu.protobuf", syntax="proto2"
    )
    payload = fd.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    for name, num, ftype in (
        ("name", 1, F.TYPE_STRING),
        ("alias", 2, F.TYPE_UINT64),
        ("timestamp", 3, F.TYPE_UINT64),
        ("datatype", 4, F.TYPE_UINT32),
        ("is_historical", 5, F.TYPE_BOOL),
        ("is_transient", 6, F.TYPE_BOOL),
        ("is_null", 7, F.TYPE_BOOL),
    ):
        _field(metric, name, num, ftype)
    metric.oneof_decl.add(name="value")
    for name, num, ftype in (
        ("int_value", 10, F.TYPE_UINT32),
        ("long_value", 11, F.TYPE_UINT64),
        ("float_value", 12, F.TYPE_FLOAT),
        ("double_value", 13, F.TYPE_DOUBLE),
        ("boolean_value", 14, F.TYPE_BOOL),
        ("string_value", 15, F.TYPE_STRING),
        ("bytes_value", 16, F.TYPE_BYTES),
    ):
        _field(metric, name, num, ftype, oneof=0)
    _field(payload, "timestamp", 1, F.TYPE_UINT64)
    _field(
        payload,
        "metrics",
        2,
        F.TYPE_MESSAGE,
        F.LABEL_REPEATED,
        ".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    _field(payload, "seq", 3, F.TYPE_UINT64)
    _field(payload, "uuid", 4, F.TYPE_STRING)
    _field(payload, "body", 5, F.TYPE_BYTES)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    )


Payload: Any = _build()

#: a metric as read: (name or None when absent, alias or None when absent, timestamp (0
#: when absent), datatype (0 when absent), is_null, the value oneof's member set or None,
#: its value (None for bytes)); text is ``str``, except where protobuf gives invalid UTF-8
#: as ``bytes`` (the reference path)
Metric = tuple[Any, int | None, int, int, bool, str | None, Any]

_M64 = (1 << 64) - 1
_M32 = 0xFFFFFFFF
_F32 = struct.Struct("<f").unpack_from
_F64 = struct.Struct("<d").unpack_from
_SKIPPED = frozenset({8, 9})  # metadata, properties (their tags fit one byte)


class _Unusual(Exception):
    """The fast reader met something it leaves to protobuf."""


def _varint(data: bytes | bytearray, i: int) -> tuple[int, int]:
    """The varint at ``data[i]`` (at most 10 bytes, as protobuf allows), unmasked."""
    v = 0
    shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7
        if shift >= 70:
            raise _Unusual


def _metric(data: bytes | bytearray, i: int, end: int) -> Metric:
    name: str | None = None
    alias: int | None = None
    ts = dtype = 0
    is_null = False
    which: str | None = None
    value: Any = None
    while i < end:
        tag = data[i]
        i += 1
        field = tag >> 3
        wire = tag & 7
        if wire == 0:
            v = data[i]
            if v < 0x80:
                i += 1
            else:
                v, i = _varint(data, i)
            if field == 2:
                alias = v & _M64
            elif field == 10:
                which, value = "int_value", v & _M32
            elif field == 4:
                dtype = v & _M32
            elif field == 14:
                which, value = "boolean_value", v & _M64 != 0
            elif field == 11:
                which, value = "long_value", v & _M64
            elif field == 3:
                ts = v & _M64
            elif field == 7:
                is_null = v & _M64 != 0
            elif field != 5 and field != 6:  # is_historical, is_transient: unread
                raise _Unusual  # (a tag of two bytes or more gives a field >= 16 here)
        elif wire == 5:
            if tag != 0x65 or i + 4 > end:  # float_value
                raise _Unusual
            which, value = "float_value", _F32(data, i)[0]
            i += 4
        elif wire == 2:
            n = data[i]
            if n < 0x80:
                i += 1
            else:
                n, i = _varint(data, i)
            j = i + n
            if j > end:
                raise _Unusual
            if tag == 0x0A:
                name = data[i:j].decode()
            elif tag == 0x7A:
                which, value = "string_value", data[i:j].decode()
            elif field not in _SKIPPED:
                raise _Unusual
            i = j
        elif tag == 0x69 and i + 8 <= end:  # double_value
            which, value = "double_value", _F64(data, i)[0]
            i += 8
        else:
            raise _Unusual
    if i != end:
        raise _Unusual
    return name, alias, ts, dtype, is_null, which, value


def decode_payload(data: bytes | bytearray) -> tuple[int, int | None, list[Metric]]:
    """A payload -> (timestamp or 0, seq or None, its metrics); protobuf's error (an
    exception) when the payload is not a Sparkplug B protobuf. The usual shape is read
    here; whatever this reader does not expect goes to :func:`decode_reference`."""
    try:
        ts = 0
        seq: int | None = None
        metrics: list[Metric] = []
        append = metrics.append
        i = 0
        end = len(data)
        while i < end:
            tag = data[i]
            if tag == 0x12:  # a metric
                n = data[i + 1]
                i += 2
                if n >= 0x80:
                    n, i = _varint(data, i - 1)
                j = i + n
                if j > end:
                    raise _Unusual
                # what DATA mostly carries: an alias below 128, then one value that ends the
                # metric (a float, a double, or a varint below 128)
                if data[i] == 0x10 and data[i + 1] < 0x80:
                    vtag = data[i + 2]
                    if vtag == 0x65 and n == 7:
                        value: Any = _F32(data, i + 3)[0]
                        append((None, data[i + 1], 0, 0, False, "float_value", value))
                        i = j
                        continue
                    if n == 4 and data[i + 3] < 0x80:
                        if vtag == 0x70:
                            append(
                                (None, data[i + 1], 0, 0, False, "boolean_value", data[i + 3] != 0)
                            )
                            i = j
                            continue
                        if vtag == 0x50 or vtag == 0x58:
                            which = "int_value" if vtag == 0x50 else "long_value"
                            append((None, data[i + 1], 0, 0, False, which, data[i + 3]))
                            i = j
                            continue
                    elif vtag == 0x69 and n == 11:
                        append(
                            (None, data[i + 1], 0, 0, False, "double_value", _F64(data, i + 3)[0])
                        )
                        i = j
                        continue
                append(_metric(data, i, j))
                i = j
            elif tag == 0x08:
                ts, i = _varint(data, i + 1)
                ts &= _M64
            elif tag == 0x18:
                seq, i = _varint(data, i + 1)
                seq &= _M64
            elif tag == 0x22 or tag == 0x2A:  # uuid, body: unread
                n, i = _varint(data, i + 1)
                i += n
                if i > end:
                    raise _Unusual
            else:
                raise _Unusual
        return ts, seq, metrics
    except (_Unusual, IndexError, UnicodeDecodeError):
        return decode_reference(data)


def decode_reference(data: bytes | bytearray) -> tuple[int, int | None, list[Metric]]:
    """:func:`decode_payload` by protobuf alone (raises protobuf's error on garbage)."""
    pl = Payload.FromString(bytes(data))
    metrics: list[Metric] = []
    for m in pl.metrics:
        which = m.WhichOneof("value")
        value = getattr(m, which) if which is not None and which != "bytes_value" else None
        metrics.append(
            (
                m.name if m.HasField("name") else None,
                int(m.alias) if m.HasField("alias") else None,
                int(m.timestamp),
                int(m.datatype),
                bool(m.is_null),
                which,
                value,
            )
        )
    return int(pl.timestamp), int(pl.seq) if pl.HasField("seq") else None, metrics


def encode_payload(doc: dict[str, Any]) -> bytes:
    """A payload described as JSON (protobuf's JSON mapping: ``timestamp``, ``seq``,
    ``metrics: [{name, alias, timestamp, datatype, intValue, ...}]``; ``datatype`` may be
    a name such as ``"Float"``) -> its protobuf bytes."""
    doc = dict(doc)
    metrics = []
    for m in doc.get("metrics", []):
        m = dict(m)
        if isinstance(m.get("datatype"), str):
            m["datatype"] = DATATYPES[m["datatype"]]
        metrics.append(m)
    doc["metrics"] = metrics
    msg = Payload()
    json_format.ParseDict(doc, msg)
    return bytes(msg.SerializeToString())
