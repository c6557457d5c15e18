"""What every adapter shares: device, system and zone resolution, value checks, messages.

Lifecycle: :class:`Adapter` is built once per entry of the adapters file (from its
validated spec, :mod:`gateway.adapters.config`) and compiles its device source and lookup
table. Per message, :class:`gateway.adapters.decoder.AdapterDecoder` calls the subclass's
``decode(topic, payload, now_ms)``, which parses the payload, resolves the device with
:meth:`Adapter.target`, checks values with :meth:`Adapter.put` and builds the contract's
messages with :meth:`Adapter.telemetry`, :meth:`Adapter.event` and :meth:`Adapter.status`.
Anything it cannot map raises :class:`~gateway.adapters.units.Unmappable`; the decoder
turns that into a rejection with reason ``adapter:<name>:<why>``.

Adapters may keep state between messages (Sparkplug B's aliases and sequence numbers,
edge detection of Zigbee2MQTT's ``tamper``): the state lives on the adapter, is bounded,
and is touched only from the event loop (one message at a time).
"""

from __future__ import annotations

import json
import math
import re

try:  # optional, as in gateway.decode: several times faster than json on bytes
    import orjson
except ImportError:  # pragma: no cover - the standard decoder alone
    orjson = None  # type: ignore[assignment]
from typing import Any, ClassVar, NamedTuple

from gateway.adapters.config import DeviceEntry
from gateway.adapters.units import Unmappable
from gateway.decode import FIELD_RE, ID_RE, MAX_FIELDS, MAX_PAYLOAD, MAX_STRING
from rules.model import Event, Message, Status, Telemetry, Value
from rules.vocab import System

_BAD_ID_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
#: the contract's standard fields (section 2) and their types: an adapter never sends a
#: rule a text where it compares numbers, or a number where it tests a boolean
NUMBER_FIELDS = frozenset(
    {"zone_temp", "setpoint", "supply_temp", "filter_dp", "fault_code", "power_kw", "level",
     "power_w", "lamp_hours", "smoke", "heat", "temperature", "humidity", "battery",
     "energy_kwh", "device_temp", "voltage", "current"}
)  # fmt: skip
BOOL_FIELDS = frozenset(
    {"fan", "on", "lamp_fault", "occupancy", "door_open", "locked", "secure", "tamper",
     "smoke_detected"}
)  # fmt: skip
#: at most this many foreign names are remembered (device cache, remembered systems)
MAX_REMEMBERED = 50_000


def _reject_constant(name: str) -> Any:
    raise Unmappable("bad_value", f"{name} is not a finite number")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def load_json(payload: bytes | bytearray) -> Any:
    """UTF-8 JSON (``NaN`` and ``Infinity`` refused) or :class:`Unmappable`.

    orjson first when installed; whatever it refuses (bad UTF-8 or JSON, ``NaN``,
    integers past 64 bits, lone surrogates, deep nesting) is parsed again by the standard
    decoder, so each refusal keeps its own reason, as in :mod:`gateway.decode`."""
    if len(payload) > MAX_PAYLOAD:
        raise Unmappable("too_large", "payload larger than 64 KiB")
    if orjson is not None:
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    try:
        return _JSON.decode(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise Unmappable("bad_encoding", "payload is not UTF-8") from None
    except ValueError as exc:
        raise Unmappable("bad_json", f"invalid JSON: {str(exc)[:80]}") from None


def load_object(payload: bytes | bytearray) -> dict[str, Any]:
    obj = load_json(payload)
    if not isinstance(obj, dict):
        raise Unmappable("not_object", f"payload is a JSON {type(obj).__name__}")
    return obj


def load_text(payload: bytes | bytearray) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise Unmappable("too_large", "payload larger than 64 KiB")
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Unmappable("bad_encoding", "payload is not UTF-8") from None


def get_path(obj: Any, path: str) -> Any:
    """``a.b.0.c`` in nested objects and lists; ``None`` where a step is missing."""
    for step in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(step)
        elif isinstance(obj, list) and step.isdigit() and int(step) < len(obj):
            obj = obj[int(step)]
        else:
            return None
    return obj


def scalar(v: Any) -> Value | None:
    """A valid contract value (ints become floats) or ``None`` (not a scalar, NaN, long)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:
            return None
    if isinstance(v, str) and len(v) <= MAX_STRING:
        return v
    return None


def temp_field(system: str) -> str:
    """The contract's name of a temperature on ``system`` (hvac: zone, fire: heat)."""
    if system == System.HVAC:
        return "zone_temp"
    if system == System.FIRE:
        return "heat"
    return "temperature"


def _number_text(field: str, text: str) -> float:
    try:
        f = float(text)
    except ValueError:
        raise Unmappable("bad_value", f"{field}: {text[:40]!r} is not a number") from None
    if not math.isfinite(f):
        raise Unmappable("bad_value", f"{field}: {text[:40]!r} is not a finite number")
    return f


def _checked(name: str, v: Any) -> Value:
    val = scalar(v)
    if val is None:
        raise Unmappable("bad_value", f"{name}: {str(v)[:40]!r} is not a contract value")
    return val


class Target(NamedTuple):
    """Where a message goes (a named tuple: built per message, cheaper than a frozen
    dataclass)."""

    device: str
    system: str
    zone: str | None


class Adapter:
    """One entry of the adapters file. Subclasses implement :meth:`decode`."""

    kind: ClassVar[str] = ""

    def __init__(self, spec: Any, site: str) -> None:
        self.spec = spec
        self.name: str = spec.name
        self.site = site
        dev = spec.device
        self._from: str = dev.from_
        self._segment = int(self._from[8:]) if self._from.startswith("segment:") else None
        self._field = self._from[6:] if self._from.startswith("field:") else None
        self._map: dict[str, DeviceEntry] = {
            k: v if isinstance(v, DeviceEntry) else DeviceEntry(device=v)
            for k, v in dev.map.items()
        }
        self._only_mapped: bool = dev.only_mapped
        self._system: str | None = spec.system.value if spec.system else None
        self._zone: str | None = spec.zone
        # the generic JSON adapter's ``fields`` are its field specs, not renames
        self._rename: dict[str, str | None] = {} if spec.kind == "json" else dict(spec.fields)
        for new in self._rename.values():
            if new is not None and not FIELD_RE.fullmatch(new):
                raise ValueError(f"adapter {self.name}: field name {new!r} is not allowed")
        self._cache: dict[str, tuple[str, str | None, str | None]] = {}
        self._names: dict[str, tuple[str | None, type | None]] = {}
        self._remembered: dict[str, str] = {}

    # -- per message ------------------------------------------------------------------
    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        raise NotImplementedError  # pragma: no cover - abstract

    def target(
        self,
        name: str | None,
        topic: str,
        obj: Any = None,
        hint: str | None = None,
        *,
        named: bool = False,
    ) -> Target:
        """The device, system and zone of a message whose foreign device name is ``name``.

        ``hint`` is the system the payload suggests (used when neither the lookup table
        nor the config gives one); the last system seen for a device is remembered for
        messages that suggest none (an availability topic). ``named``: the message names
        its device itself (a gateway API), whatever the configured source says."""
        if named:
            key: Any = name
        elif self._segment is not None:
            parts = topic.split("/")
            n = self._segment
            key = parts[n] if -len(parts) <= n < len(parts) else None
        elif self._field is not None:
            key = get_path(obj, self._field)
            if isinstance(key, int | float) and not isinstance(key, bool):
                key = str(key)
        elif self._from == "name":
            key = name
        else:
            key = self._from
        if not isinstance(key, str) or not key:
            raise Unmappable("no_device", f"no device name ({self._from})")
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(key)
        device, system, zone = hit
        system = system or self._system or hint or self._remembered.get(device)
        if system is None:
            raise Unmappable("no_system", f"no system for {device!r}: set system in the config")
        if hint is not None and len(self._remembered) < MAX_REMEMBERED:
            self._remembered[device] = system
        return Target(device, str(system), zone or self._zone)

    def _resolve(self, key: str) -> tuple[str, str | None, str | None]:
        entry = self._map.get(key)
        if entry is not None:
            hit = (entry.device, entry.system.value if entry.system else None, entry.zone)
        elif self._only_mapped:
            raise Unmappable("unknown_device", f"{key[:64]!r} is not in the device map")
        elif ID_RE.fullmatch(key):
            hit = (key, None, None)
        else:
            device = _BAD_ID_CHARS.sub("_", key).strip("_")[:64]
            if not device:
                raise Unmappable("bad_device", f"{key[:64]!r} gives no device id")
            hit = (device, None, None)
        if len(self._cache) < MAX_REMEMBERED:
            self._cache[key] = hit
        return hit

    def put(self, values: dict[str, Value], field: str, v: Any) -> None:
        """``values[field] = v``, renamed by the config's ``fields`` and checked."""
        kind = self._names.get(field)
        if kind is None:
            kind = self._name(field)
        name, want = kind
        if name is None:
            return
        t = type(v)
        if t is float:
            if v - v != 0.0:  # inf or nan
                raise Unmappable("bad_value", f"{name} is not a finite number")
            val: Value = v
        elif t is bool:
            val = v
        else:
            val = _checked(name, v)
        if want is not None and type(val) is not want:
            if want is float and type(val) is str:
                val = _number_text(name, val)  # "100.00": older firmware sends text
            else:
                what = "number" if want is float else "boolean"
                raise Unmappable("bad_value", f"{name}: {str(v)[:40]!r} is not a {what}")
        if len(values) >= MAX_FIELDS:
            raise Unmappable("bad_value", f"more than {MAX_FIELDS} fields")
        values[name] = val

    def _name(self, field: str) -> tuple[str | None, type | None]:
        """A foreign field name -> (its output name or None to drop, the type it must be);
        checked once and remembered."""
        if field in self._rename:
            name = self._rename[field]
        elif FIELD_RE.fullmatch(field):
            name = field
        else:
            raise Unmappable("bad_field", f"field name {field[:40]!r} is not allowed")
        want = float if name in NUMBER_FIELDS else bool if name in BOOL_FIELDS else None
        if len(self._names) < MAX_REMEMBERED:
            self._names[field] = (name, want)
        return name, want

    def telemetry(self, t: Target, ts: int, values: dict[str, Value], now_ms: int) -> Telemetry:
        if not values:
            raise Unmappable("no_values", "nothing in the message maps to a telemetry field")
        return Telemetry(self.site, t.system, t.device, ts, values, now_ms, t.zone)

    def event(self, t: Target, ts: int, etype: str, now_ms: int, point: str | None = None) -> Event:
        if point is not None and not ID_RE.fullmatch(point):
            point = _BAD_ID_CHARS.sub("_", point).strip("_")[:64] or None
        return Event(self.site, t.system, t.device, ts, etype, now_ms, point, t.zone)

    def status(self, t: Target, online: bool, now_ms: int) -> Status:
        return Status(self.site, t.system, t.device, online, now_ms)


def one_or_many(msgs: list[Message]) -> Message | list[Message]:
    """A single message as itself (the decoder protocol's usual answer), more as a list."""
    if not msgs:
        raise Unmappable("no_values", "nothing in the message maps to the contract")
    return msgs[0] if len(msgs) == 1 else msgs
