"""Field type conflicts: read InfluxDB's refusal, take the refused field out of the points.

Lifecycle
---------

1. A store answers a write with 400/422 and a text such as InfluxDB 1.x/2.x's
   ``partial write: field type conflict: input field "fault_code" on measurement "hvac"
   is type string, already exists as type float dropped=1``.
2. The sink's ``_write`` calls :func:`refusal` on that text: it returns a
   :class:`FieldTypeConflict` (a :class:`~gateway.sinks.base.WriteRefused` naming the
   measurement, the field, the refused type and the stored type) when the text names one,
   else a plain :class:`~gateway.sinks.base.WriteRefused`.
3. :class:`~gateway.sinks.buffered.LineProtocolSink` then calls :func:`strip_field` on
   each point of the refused chunk: a point whose field has the refused type loses that
   field (the rest is written again), and the field alone, as its own line, is handed to
   ``on_rejected`` with reason ``store_refused`` and the types.

How types are decided (contract section 5, ``gateway.sinks.lineprotocol``): every number
is a float (``21`` and ``21.5`` never conflict), booleans are booleans, strings strings.
A conflict is thus a field that changed kind (number / boolean / string) over time; the
store keeps the kind it saw first and only the readings of another kind lose that field.

This module parses the lines the gateway's own encoder writes (names and tag values never
contain a raw backslash; string values escape ``\\`` and ``"``).
"""

from __future__ import annotations

import re

from gateway.sinks.base import WriteRefused

__all__ = ["FieldTypeConflict", "refusal", "strip_field", "value_type", "split_line"]

_CONFLICT_RE = re.compile(
    r'field type conflict: input field "(?P<field>.*?)" on measurement "(?P<meas>.*?)" '
    r"is type (?P<got>\w+), already exists as type (?P<stored>\w+)"
)


class FieldTypeConflict(WriteRefused):
    """The store refused ``field`` of ``measurement``: type ``got``, stored as ``stored``."""

    def __init__(self, message: str, measurement: str, field: str, got: str, stored: str) -> None:
        super().__init__(message)
        self.measurement = measurement
        self.field = field
        self.got = got
        self.stored = stored

    def reason(self) -> str:
        """The dead letter's detail: the field and both types, then the store's words."""
        return (
            f"field type conflict: field {self.field!r} on measurement {self.measurement!r}"
            f" is type {self.got}, already stored as type {self.stored} ({self})"
        )[:1000]


def refusal(text: str) -> WriteRefused:
    """The exception for a refused write whose error text is ``text``."""
    m = _CONFLICT_RE.search(text)
    if m is None:
        return WriteRefused(text)
    return FieldTypeConflict(text, m["meas"], m["field"], m["got"], m["stored"])


def _scan(line: str, start: int, stops: str) -> int:
    """Index of the first unescaped character of ``stops`` at or after ``start``."""
    i, n = start, len(line)
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in stops:
            return i
        i += 1
    return n


def split_line(line: str) -> tuple[str, list[str], str]:
    """``(measurement+tags, ["key=value", ...], timestamp)`` of one line."""
    sp = _scan(line, 0, " ")
    prefix = line[:sp]
    fields: list[str] = []
    i, n = sp + 1, len(line)
    start, quoted = i, False
    while i < n:
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and c == ",":
            fields.append(line[start:i])
            start = i + 1
        elif not quoted and c == " ":
            break
        i += 1
    fields.append(line[start:i])
    return prefix, fields, line[i + 1 :] if i < n else ""


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def value_type(raw: str) -> str:
    """InfluxDB's name for the type of a raw field value (``float``, ``string``, ...)."""
    if raw.startswith('"'):
        return "string"
    if raw[:1] in ("t", "T", "f", "F"):
        return "boolean"
    if raw.endswith("i"):
        return "integer"
    if raw.endswith("u"):
        return "unsigned"
    return "float"


def strip_field(line: str, conflict: FieldTypeConflict) -> tuple[str | None, str] | None:
    """Take the conflicting field out of ``line``.

    None when ``line`` does not carry ``conflict.field`` with the refused type on that
    measurement; else ``(rest, removed)``: ``rest`` is the line without the field (None
    when it was the only one) and ``removed`` the field alone as a line of its own.
    """
    prefix, fields, ts = split_line(line)
    if _unescape(prefix[: _scan(prefix, 0, ",")]) != conflict.measurement:
        return None
    for k, pair in enumerate(fields):
        eq = _scan(pair, 0, "=")
        if _unescape(pair[:eq]) != conflict.field:
            continue
        if value_type(pair[eq + 1 :]) != conflict.got:
            return None
        rest = fields[:k] + fields[k + 1 :]
        tail = f" {ts}" if ts else ""
        removed = f"{prefix} {pair}{tail}"
        return (f"{prefix} {','.join(rest)}{tail}" if rest else None), removed
    return None
