"""Decoders: raw MQTT messages in, validated :mod:`gateway.model` objects out.

A decoder is the first adapter of the pipeline. This one speaks the contract's own format
(``sitewatch/<site>/<system>/<device>/<kind>``, JSON payloads); foreign formats plug in as
other :class:`Decoder` implementations. A decoder never raises on input: every message
either decodes or comes back as a :class:`~gateway.model.Rejected` with a reason from
:data:`REASONS`, which the pipeline counts and republishes to the dead-letter topic.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any, Protocol

from gateway.model import SYSTEMS, Event, Message, Rejected, Status, Telemetry, Value
from gateway.site import ID_RE as SITE_ID_RE

ID_RE = re.compile(SITE_ID_RE)  # device, event type, point, zone: the site file's ids
FIELD_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
MAX_PAYLOAD = 64 * 1024
MAX_STRING = 256
MAX_FIELDS = 200
FUTURE_LIMIT_MS = 5 * 60 * 1000
KINDS = ("telemetry", "event", "status")

REASONS: dict[str, str] = {
    "bad_topic": "topic is not sitewatch/<site>/<system>/<device>/<kind>",
    "unknown_system": "system is not lighting, hvac, access or fire",
    "bad_device": "device id does not match [A-Za-z0-9_.-]{1,64}",
    "unknown_kind": "kind is not telemetry, event or status",
    "too_large": "payload larger than 64 KiB",
    "bad_encoding": "payload is not UTF-8",
    "bad_json": "payload is not valid JSON",
    "not_object": "payload is not a JSON object",
    "bad_ts": "ts is neither epoch milliseconds (integer) nor an RFC 3339 string",
    "ts_future": "ts more than 5 minutes ahead of the gateway's clock",
    "bad_value": "a value is not a number, boolean or short string",
    "bad_field": "a field name is empty, too long or has control characters",
    "no_values": "telemetry carries no values",
    "bad_event": "event has no valid type",
    "bad_status": "status is neither online nor offline",
}


class Decoder(Protocol):
    def decode(self, topic: str, payload: bytes | bytearray, now_ms: int) -> Message | Rejected: ...


class _Reject(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail or REASONS[reason]


def _reject_constant(name: str) -> Any:
    raise _Reject("bad_value", f"{name} is not a finite number")


# one decoder for every message: json.loads(..., parse_constant=...) would build a new one
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def parse_ts(raw: Any, now_ms: int) -> int:
    """Epoch ms (int) or RFC 3339 string -> epoch ms; ``None`` -> now."""
    if raw is None:
        return now_ms
    if isinstance(raw, bool):
        raise _Reject("bad_ts", "ts is a boolean")
    if isinstance(raw, int):
        ts = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise _Reject("bad_ts", f"ts {raw[:40]!r} is not RFC 3339") from None
        if dt.tzinfo is None:
            raise _Reject("bad_ts", f"ts {raw[:40]!r} has no time zone offset")
        ts = round(dt.timestamp() * 1000)
    else:
        raise _Reject("bad_ts", f"ts is a {type(raw).__name__}")
    if ts < 0 or ts > 253_402_300_799_000:  # year 9999
        raise _Reject("bad_ts", f"ts {ts} out of range")
    if ts > now_ms + FUTURE_LIMIT_MS:
        raise _Reject("ts_future", f"ts is {(ts - now_ms) / 1000:.0f} s ahead of the gateway")
    return ts


def _value(name: Any, v: Any) -> Value:
    if not isinstance(name, str) or not FIELD_RE.fullmatch(name):
        raise _Reject("bad_field", f"field name {str(name)[:40]!r} is not allowed")
    if isinstance(v, bool | str):
        if isinstance(v, str) and len(v) > MAX_STRING:
            raise _Reject("bad_value", f"{name}: string longer than {MAX_STRING} characters")
        return v
    if isinstance(v, int):
        return float(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _Reject("bad_value", f"{name} is not a finite number")
        return v
    raise _Reject("bad_value", f"{name} is a {type(v).__name__}")


def _values(obj: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Value]:
    if len(obj) > MAX_FIELDS:
        raise _Reject("bad_value", f"more than {MAX_FIELDS} fields")
    return {k: _value(k, v) for k, v in obj.items() if k not in skip}


class ContractDecoder:
    """The contract's topics and payloads (``../shared/contract.md`` section 2)."""

    __slots__ = ("site",)

    def __init__(self, site: str) -> None:
        self.site = site

    def decode(self, topic: str, payload: bytes | bytearray, now_ms: int) -> Message | Rejected:
        try:
            return self._decode(topic, payload, now_ms)
        except _Reject as r:
            return Rejected(topic, bytes(payload), r.reason, r.detail, now_ms)
        except RecursionError:
            return Rejected(topic, bytes(payload), "bad_json", "JSON nested too deeply", now_ms)

    def _decode(self, topic: str, payload: bytes | bytearray, now_ms: int) -> Message:
        parts = topic.split("/")
        if len(parts) != 5 or parts[0] != "sitewatch" or parts[1] != self.site:
            raise _Reject("bad_topic")
        _, site, system, device, kind = parts
        if system not in SYSTEMS:
            raise _Reject("unknown_system", f"unknown system {system[:40]!r}")
        if not ID_RE.fullmatch(device):
            raise _Reject("bad_device")
        if kind not in KINDS:
            raise _Reject("unknown_kind", f"unknown kind {kind[:40]!r}")
        if len(payload) > MAX_PAYLOAD:
            raise _Reject("too_large")
        if kind == "status":
            try:
                text = payload.decode("utf-8").strip().strip('"').lower()
            except UnicodeDecodeError:
                raise _Reject("bad_encoding") from None
            if text not in ("online", "offline"):
                raise _Reject("bad_status", f"status {text[:40]!r} is neither online nor offline")
            return Status(site, system, device, text == "online", now_ms)
        try:
            obj = _JSON.decode(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise _Reject("bad_encoding") from None
        except ValueError as exc:
            raise _Reject("bad_json", f"invalid JSON: {str(exc)[:80]}") from None
        if not isinstance(obj, dict):
            raise _Reject("not_object", f"payload is a JSON {type(obj).__name__}")
        ts = parse_ts(obj.get("ts"), now_ms)
        if kind == "telemetry":
            inner = obj.get("values")
            if isinstance(inner, dict):
                values = _values(inner, ())
            elif "values" in obj:
                raise _Reject("bad_value", "values is not an object")
            else:
                values = _values(obj, ("ts",))
            if not values:
                raise _Reject("no_values")
            return Telemetry(site, system, device, ts, values, now_ms)
        etype = obj.get("type")
        if not isinstance(etype, str) or not ID_RE.fullmatch(etype):
            raise _Reject("bad_event", "event type missing or not [A-Za-z0-9_.-]{1,64}")
        point = obj.get("point")
        zone = obj.get("zone")
        for name, v in (("point", point), ("zone", zone)):
            if v is not None and (not isinstance(v, str) or not ID_RE.fullmatch(v)):
                raise _Reject("bad_event", f"{name} is not [A-Za-z0-9_.-]{{1,64}}")
        attrs = _values(obj, ("ts", "type", "point", "zone"))
        return Event(site, system, device, ts, etype, now_ms, point, zone, attrs)
