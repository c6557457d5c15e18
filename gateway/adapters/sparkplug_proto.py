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
"""

from __future__ import annotations

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
