"""The contract's decoder: raw MQTT messages in, validated :mod:`rules.model` objects out.

A decoder is the first adapter of the pipeline (the interface is
:class:`gateway.stages.Decoder`). This one speaks the contract's own format
(``sitewatch/<site>/<system>/<device>/<kind>``, JSON payloads); foreign formats plug in as
other decoders. A decoder never raises on input: every message either decodes or comes
back as a :class:`~rules.model.Rejected` with a reason from :data:`REASONS`, which the
pipeline counts and republishes to the dead-letter topic.

Lifecycle of a message: topic checked (site, system, device, kind), size checked
(:data:`MAX_PAYLOAD`), UTF-8 and JSON parsed (``NaN``/``Infinity`` refused, nesting too
deep refused), ``ts`` read (:func:`gateway.clock.parse_rfc3339_ms` for text), values
checked (finite, within a float's range, short strings). A telemetry topic found valid is
remembered (at most :data:`TOPIC_CACHE_MAX`) and its later readings take a fast path that
gives the checked path's answer or hands the message to it (the tests compare the two on
arbitrary JSON). Anything the decoder did not foresee is caught, logged once per kind and
rejected with reason ``internal`` (the pipeline's name for a stage's failure) rather than
raised. The rejection carries the payload as received; the pipeline caps what of it the
dead letter echoes.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
from typing import Any

try:  # optional: several times faster than json, and reads bytes as they came
    import orjson
except ImportError:  # pragma: no cover - the standard decoder alone
    orjson = None  # type: ignore[assignment]

from gateway.clock import parse_rfc3339_ms
from rules.model import FLOATS, Event, Message, Rejected, Status, Telemetry, Value
from rules.vocab import ID_RE as VOCAB_ID_RE
from rules.vocab import Kind, System

log = logging.getLogger("gateway.decode")

ID_RE = re.compile(VOCAB_ID_RE)  # device, event type, point, zone: the site file's ids
FIELD_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
MAX_PAYLOAD = 64 * 1024
MAX_STRING = 256
MAX_FIELDS = 200
FUTURE_LIMIT_MS = 5 * 60 * 1000
MAX_TS_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z
_SYSTEM_NAMES = tuple(s.value for s in System)
SYSTEMS = frozenset(_SYSTEM_NAMES)
_SYSTEM_STR = {name: sys.intern(name) for name in _SYSTEM_NAMES}
# a known topic's system, from its first letter (the names' first letters differ)
_SYSTEM_BY_INITIAL = {name[0]: _SYSTEM_STR[name] for name in _SYSTEM_NAMES}
if len(_SYSTEM_BY_INITIAL) != len(_SYSTEM_NAMES):  # pragma: no cover - a vocabulary change
    raise RuntimeError("two systems share a first letter: the topic cache needs another key")
#: topics remembered as valid (their split and checks skipped); past this, checked anew
TOPIC_CACHE_MAX = 20_000
KINDS = frozenset(k.value for k in Kind)

REASONS: dict[str, str] = {
    "bad_topic": "topic is not sitewatch/<site>/<system>/<device>/<kind>",
    "unknown_system": f"system is not {', '.join(_SYSTEM_NAMES[:-1])} or {_SYSTEM_NAMES[-1]}",
    "bad_device": "device id does not match [A-Za-z0-9_.-]{1,64}",
    "unknown_kind": f"kind is not {Kind.TELEMETRY}, {Kind.EVENT} or {Kind.STATUS}",
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
    "internal": "the decoder failed on this message (a bug: see the gateway log)",
}


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
        try:
            ts = parse_rfc3339_ms(raw)
        except ValueError as exc:
            raise _Reject("bad_ts", f"ts {exc}") from None
    else:
        raise _Reject("bad_ts", f"ts is a {type(raw).__name__}")
    if ts < 0 or ts > MAX_TS_MS:
        raise _Reject("bad_ts", f"ts {str(ts)[:40]} out of range (1970 to 9999)")
    if ts > now_ms + FUTURE_LIMIT_MS:
        raise _Reject("ts_future", f"ts is {(ts - now_ms) / 1000:.0f} s ahead of the gateway")
    return ts


# field names already found good (a site has few): the regex is skipped for them
_GOOD_FIELDS: set[str] = set()
_GOOD_FIELDS_MAX = 4096
# a JSON integer 0 <= n < _N_FLOATS becomes the one float of its value (rules.model.FLOATS):
# the rule engine keeps every device's latest values (~70 B a device with three such fields)
_FLOATS = FLOATS
_N_FLOATS = len(FLOATS)


def _value(name: Any, v: Any) -> Value:
    if name not in _GOOD_FIELDS:
        if not isinstance(name, str) or not FIELD_RE.fullmatch(name):
            raise _Reject("bad_field", f"field name {str(name)[:40]!r} is not allowed")
        if len(_GOOD_FIELDS) < _GOOD_FIELDS_MAX:
            _GOOD_FIELDS.add(name)
    if isinstance(v, bool | str):
        if isinstance(v, str) and len(v) > MAX_STRING:
            raise _Reject("bad_value", f"{name}: string longer than {MAX_STRING} characters")
        return v
    if isinstance(v, int):
        if 0 <= v < _N_FLOATS:
            return _FLOATS[v]
        try:
            return float(v)
        except OverflowError:  # a JSON integer beyond ~1.8e308
            raise _Reject("bad_value", f"{name} is out of a float's range") from None
    if isinstance(v, float):
        if not math.isfinite(v):
            raise _Reject("bad_value", f"{name} is not a finite number")
        return v
    raise _Reject("bad_value", f"{name} is a {type(v).__name__}")


def _values(obj: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Value]:
    if len(obj) > MAX_FIELDS:
        raise _Reject("bad_value", f"more than {MAX_FIELDS} fields")
    return {k: _value(k, v) for k, v in obj.items() if k not in skip}


_logged: set[str] = set()


def _log_once(exc: Exception, topic: str) -> None:
    """Log a decoder bug with its traceback, once per exception type (a flood of one
    poison message must not flood the log)."""
    kind = type(exc).__name__
    if kind not in _logged and len(_logged) < 64:
        _logged.add(kind)
        log.error("decoder raised %s on %.200s; rejected as internal", kind, topic, exc_info=exc)


def _parse_json(payload: bytes | bytearray) -> Any:
    """JSON text -> Python values, orjson first when installed. Whatever orjson refuses
    (bad UTF-8 or JSON, ``NaN``, integers past 64 bits, lone surrogates, deep nesting) is
    parsed again by the standard decoder, so each refusal keeps its own reason."""
    if orjson is not None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    try:
        return _JSON.decode(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Reject("bad_encoding") from None
    except ValueError as exc:
        raise _Reject("bad_json", f"invalid JSON: {str(exc)[:80]}") from None


class ContractDecoder:
    """The contract's topics and payloads (``../shared/contract.md`` section 2).

    Two paths give the same answer: :meth:`_decode` (the checked path) checks everything
    in the order the module docstring gives and is the one that rejects; the fast path
    (:meth:`_telemetry`) takes only a telemetry message on a topic already seen valid, a
    JSON object orjson parses, an integer ``ts`` in range and values that need no
    conversion but int to float, and hands anything else to the checked path (rejections
    are rare, so parsing such a payload twice costs nothing that matters)."""

    __slots__ = ("_system_at", "_telemetry_topics", "site")

    def __init__(self, site: str) -> None:
        self.site = site
        # telemetry topic -> its device id (interned), for topics found valid (bounded);
        # the site is this decoder's and the system is read from the topic's letter at
        # ``_system_at`` (no tuple kept per device)
        self._telemetry_topics: dict[str, str] = {}
        self._system_at = len("sitewatch/") + len(site) + 1

    def decode(self, topic: str, payload: bytes | bytearray, now_ms: int) -> Message | Rejected:
        try:
            device = self._telemetry_topics.get(topic)
            if device is not None:
                system = _SYSTEM_BY_INITIAL[topic[self._system_at]]
                return self._telemetry(system, device, payload, now_ms) or self._decode(
                    topic, payload, now_ms
                )
            return self._decode(topic, payload, now_ms)
        except _Reject as r:
            return Rejected(topic, bytes(payload), r.reason, r.detail, now_ms)
        except RecursionError:
            return Rejected(topic, bytes(payload), "bad_json", "JSON nested too deeply", now_ms)
        except Exception as exc:  # never raise on input: a raise here is a poison message
            _log_once(exc, topic)
            detail = f"decoder: {type(exc).__name__}: {exc}"[:500]
            return Rejected(topic, bytes(payload), "internal", detail, now_ms)

    def _telemetry(
        self, system: str, device: str, payload: bytes | bytearray, now_ms: int
    ) -> Telemetry | None:
        """The fast path: a :class:`Telemetry`, or ``None`` for the checked path to judge
        (it raises nothing of its own but what :func:`parse_ts` raises for a ``ts`` that
        is not an integer in range, which the checked path would raise the same way)."""
        if len(payload) > MAX_PAYLOAD or orjson is None:
            return None
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        if type(obj) is not dict or len(obj) > MAX_FIELDS:
            return None
        ts = obj.get("ts")
        if type(ts) is not int or ts < 0 or ts > MAX_TS_MS or ts > now_ms + FUTURE_LIMIT_MS:
            ts = parse_ts(ts, now_ms)
        values = obj.get("values")
        if values is None:
            if "values" in obj:
                return None
            obj.pop("ts", None)
            values = obj
        elif type(values) is not dict or len(values) > MAX_FIELDS:
            return None
        if not values:
            return None
        good = _GOOD_FIELDS
        # in place: a value is only ever replaced (int -> float), the dict never resized
        for k, v in values.items():
            if k not in good:
                if not FIELD_RE.fullmatch(k):  # orjson's keys are always str
                    return None
                if len(good) < _GOOD_FIELDS_MAX:
                    good.add(k)
            tv = type(v)
            if tv is float:
                if v - v != 0.0:  # NaN or infinite (orjson refuses both: never seen)
                    return None
            elif tv is int:  # orjson's ints fit 64 bits (larger ones come as floats)
                values[k] = _FLOATS[v] if 0 <= v < _N_FLOATS else float(v)
            elif tv is str:
                if len(v) > MAX_STRING:
                    return None
            elif tv is not bool:
                return None
        return Telemetry(self.site, system, device, ts, values, now_ms)

    def _decode(self, topic: str, payload: bytes | bytearray, now_ms: int) -> Message:
        """The checked path (every reject reason is decided here)."""
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
        if kind == Kind.TELEMETRY:
            known = self._telemetry_topics
            if topic not in known and len(known) < TOPIC_CACHE_MAX:
                # the device's id interned: every message of this topic, the engine and
                # the sink share the one string
                known[topic] = sys.intern(device)
        if len(payload) > MAX_PAYLOAD:
            raise _Reject("too_large")
        if kind == Kind.STATUS:
            try:
                text = payload.decode("utf-8").strip().strip('"').lower()
            except UnicodeDecodeError:
                raise _Reject("bad_encoding") from None
            if text not in ("online", "offline"):
                raise _Reject("bad_status", f"status {text[:40]!r} is neither online nor offline")
            return Status(site, system, device, text == "online", now_ms)
        obj = _parse_json(payload)
        if not isinstance(obj, dict):
            raise _Reject("not_object", f"payload is a JSON {type(obj).__name__}")
        ts = parse_ts(obj.get("ts"), now_ms)
        if kind == Kind.TELEMETRY:
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
