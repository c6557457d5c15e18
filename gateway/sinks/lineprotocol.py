"""InfluxDB line protocol for :class:`~rules.model.Telemetry` and :class:`~rules.model.Event`.

The schema is the contract's (section 5):

* telemetry: measurement = the system (``hvac``, ``lighting``, ``access``, ``fire``), tags
  ``device``, ``site`` and ``zone`` (when known), one field per value;
* events: measurement ``events``, tags ``device``, ``point``, ``site``, ``system``, ``type``,
  ``zone`` (``point``/``zone`` when known), field ``count=1.0`` beside the event's attrs;
* every number (``int`` or ``float``, never ``bool``) is written as a float (``21`` ->
  ``21.0``; never an ``i`` suffix, so ``21`` and ``21.5`` never conflict), booleans as
  ``true``/``false``, strings double-quoted with ``"`` and ``\\`` escaped;
* the time is the reading's own ``ts`` in nanoseconds (write with ``precision=ns``).

Tags are written sorted by key (what InfluxDB recommends for its index).

What is refused, and why (each refusal carries a reason string):

* a *field* that cannot be written is dropped and reported in ``dropped`` as
  ``("<device> <field>=<value>", reason)``: NaN or infinite numbers, integers beyond a
  float's range, a string containing a line break (line protocol cannot carry one
  unambiguously across InfluxDB 1.x/2.x and VictoriaMetrics, so we refuse rather than
  silently rewrite the value), a string over 64 KiB, a value of another type, and a field
  key that is empty, is ``time``, or contains a backslash or a control character;
* the whole *point* is refused (:class:`LineProtocolError`) when no field is left, when a
  tag value or the measurement is not encodable (backslash or control character) or when
  the timestamp is outside InfluxDB's range (years 1677-2262).

Backslashes are refused in names and tag values because InfluxDB 1.x does not unescape
``\\\\`` there: a value ending in a backslash, or with one before an escaped character,
would be misparsed. Device and site ids cannot contain one anyway (contract section 2).

Hot path (:func:`telemetry_line`): the tag values and field keys that need no escape are
remembered (one dict slot each, no string kept per device: a reading's prefix is written
in place; the few tag sets with something escaped keep their prefix), so encoding a
reading of floats and booleans is a few dict lookups, orjson's text of the values and one
``translate`` (about 1.2 µs for a 6-field reading); anything else takes the general path
(one ``repr`` per number).
"""

from __future__ import annotations

import math
import sys

try:  # optional: the fast path's writer of field sets
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - the general path alone
    _dumps = None  # type: ignore[assignment]

from rules.model import Event, Telemetry, Value

__all__ = [
    "LineProtocolError",
    "encode_telemetry",
    "telemetry_line",
    "encode_event",
    "encode",
    "escape_measurement",
    "escape_tag",
    "format_value",
    "MAX_STRING_LEN",
]

MAX_STRING_LEN = 64 * 1024
"""InfluxDB 1.x refuses string fields longer than 64 KiB."""

# InfluxDB stores int64 nanoseconds; the extremes are reserved (min+1 .. max-1 usable).
_MIN_TS_MS = -9_223_372_036_854
_MAX_TS_MS = 9_223_372_036_854
_CACHE_LIMIT = 100_000


class LineProtocolError(ValueError):
    """A point that cannot be written at all; ``str(err)`` is the reason."""


# the fast path: orjson's {"k":v,...} of plain keys -> k=v,...
_JSON_TO_FIELDS = bytes.maketrans(b":", b"=")
_JSON_DELETE = b'{}"'
_JSON_SPECIAL = frozenset('"{}:')
_FLOAT_BOOL = frozenset((float, bool))

_MEAS_TABLE = str.maketrans({",": "\\,", " ": "\\ "})
_TAG_TABLE = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\="})


def _bad_name(name: str) -> str | None:
    """Why ``name`` (measurement, tag key/value, field key) cannot be written, or None."""
    if not name:
        return "empty name"
    if "\\" in name:
        return "backslash in name or tag value"
    for ch in name:
        if ch < " " or ch == "\x7f":
            return "control character (line break, tab, ...) in name or tag value"
    return None


def escape_measurement(name: str) -> str:
    """Escape a measurement name (comma, space); raises LineProtocolError if impossible."""
    why = _bad_name(name)
    if why is not None:
        raise LineProtocolError(f"measurement {name!r}: {why}")
    return name.translate(_MEAS_TABLE)


def escape_tag(text: str) -> str:
    """Escape a tag key, tag value or field key (comma, equals, space)."""
    why = _bad_name(text)
    if why is not None:
        raise LineProtocolError(f"{text!r}: {why}")
    return text.translate(_TAG_TABLE)


def format_value(v: object) -> str:
    """One field value as line protocol; raises LineProtocolError with the reason."""
    tv = type(v)
    if tv is float:
        if math.isfinite(v):  # type: ignore[arg-type]
            return repr(v)
        raise LineProtocolError(f"not a finite number: {v!r}")
    if tv is bool:
        return "true" if v else "false"
    if tv is int:
        try:
            f = float(v)  # type: ignore[arg-type]
        except OverflowError:
            raise LineProtocolError("integer too large for a float") from None
        return repr(f)
    if tv is str:
        s: str = v  # type: ignore[assignment]
        if "\n" in s or "\r" in s:
            raise LineProtocolError("string contains a line break")
        if len(s) > MAX_STRING_LEN:
            raise LineProtocolError(f"string longer than {MAX_STRING_LEN} characters")
        if "\\" in s or '"' in s:
            s = s.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + s + '"'
    # subclasses (numpy floats, IntEnum, ...) and anything else
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return format_value(float(v)) if isinstance(v, float) else format_value(int(v))
    if isinstance(v, str):
        return format_value(str(v))
    raise LineProtocolError(f"unsupported value type {tv.__name__}")


# caches: escaped field keys (or the reason a key is refused) and tag-set prefixes
_field_keys: dict[str, str] = {}
_plain_keys: set[str] = set()  # keys written as they are, orjson's text of them too
_bad_field_keys: dict[str, str] = {}
# tag values (devices, sites, zones) and measurements (systems) found writable as they
# are (not empty, nothing to escape): a reading whose tags all are has its tag-set prefix
# written in place, and nothing is kept per device but its slot here (dicts, not sets:
# a str-keyed dict's slot is 16 B and its table 2/3 full, a set's 16 B at most 3/5 full
# and grown fourfold)
_plain_tags: dict[str, None] = {}
_plain_measurements: dict[str, None] = {}
_prefixes: dict[tuple[str, str, str, str | None], str] = {}  # the other tag sets' prefixes
_event_prefixes: dict[tuple[str, str, str, str, str | None, str | None], str] = {}


def _field_key(k: str) -> str | None:
    """Escaped field key, or None (reason in ``_bad_field_keys``)."""
    if k in _bad_field_keys:
        return None
    why = _bad_name(k) if isinstance(k, str) else "field key is not a string"
    if why is None and k == "time":
        why = "'time' cannot be a field key"
    if why is not None:
        if len(_bad_field_keys) > _CACHE_LIMIT:
            _bad_field_keys.clear()
        _bad_field_keys[k] = why
        return None
    if len(_field_keys) > _CACHE_LIMIT:
        _field_keys.clear()
        _plain_keys.clear()
    ek = _field_keys[k] = k.translate(_TAG_TABLE)
    if ek == k and not _JSON_SPECIAL.intersection(k):
        _plain_keys.add(k)
    return ek


def _tags(pairs: list[tuple[str, str | None]]) -> str:
    out = []
    for key, val in sorted(pairs):
        if val is None or val == "":
            continue
        why = _bad_name(val)
        if why is not None:
            raise LineProtocolError(f"tag {key}={val!r}: {why}")
        out.append(f"{key}={val.translate(_TAG_TABLE)}")
    return ",".join(out)


def _plain_tag(val: str | None) -> bool:
    return type(val) is str and val != "" and val.translate(_TAG_TABLE) == val


def _telemetry_prefix(t: Telemetry) -> str:
    """The tag-set prefix of a reading (``<system>,device=..,site=..[,zone=..]``);
    raises :class:`LineProtocolError` for a tag set that cannot be written."""
    device = t.device
    site = t.site
    system = t.system
    zone = t.zone
    if (
        device in _plain_tags
        and site in _plain_tags
        and system in _plain_measurements
        and (zone is None or zone in _plain_tags)
    ):
        if zone is None:
            return f"{system},device={device},site={site}"
        return f"{system},device={device},site={site},zone={zone}"
    key = (system, site, device, zone)
    prefix = _prefixes.get(key)
    if prefix is not None:
        return prefix
    prefix = (
        escape_measurement(system)
        + ","
        + _tags([("device", device), ("site", site), ("zone", zone)])
    )
    if (
        type(system) is str
        and system.translate(_MEAS_TABLE) == system
        and _plain_tag(device)
        and _plain_tag(site)
        and (zone is None or _plain_tag(zone))
    ):
        if len(_plain_tags) > _CACHE_LIMIT:
            _plain_tags.clear()
        if len(_plain_measurements) > _CACHE_LIMIT:
            _plain_measurements.clear()
        # the strings shared with the rest of the gateway, not this message's copies
        _plain_measurements[sys.intern(system)] = None
        _plain_tags[sys.intern(device)] = None
        _plain_tags[sys.intern(site)] = None
        if zone is not None:
            _plain_tags[sys.intern(zone)] = None
        return prefix
    if len(_prefixes) > _CACHE_LIMIT:
        _prefixes.clear()
    _prefixes[key] = prefix
    return prefix


def _fields(
    values: dict[str, Value], device: str, dropped: list[tuple[str, str]] | None, parts: list[str]
) -> None:
    fk = _field_keys
    for k, v in values.items():
        ek = fk.get(k)
        if ek is None:
            ek = _field_key(k)
            if ek is None:
                if dropped is not None:
                    dropped.append((f"{device} {k!r}", _bad_field_keys.get(k, "bad field key")))
                continue
        tv = type(v)
        if tv is float:
            if v - v == 0.0:  # type: ignore[operator]  # false for NaN and +-inf
                parts.append(f"{ek}={v!r}")
                continue
        elif tv is bool:
            parts.append(f"{ek}=true" if v else f"{ek}=false")
            continue
        elif tv is int and -(2**53) <= v <= 2**53:  # type: ignore[operator]
            parts.append(f"{ek}={float(v)!r}")  # type: ignore[arg-type]
            continue
        try:
            parts.append(f"{ek}={format_value(v)}")
        except LineProtocolError as exc:
            if dropped is not None:
                dropped.append((f"{device} {k}={v!r}"[:300], str(exc)))


def _check_ts(ts_ms: int) -> int:
    if type(ts_ms) is not int or not _MIN_TS_MS < ts_ms < _MAX_TS_MS:
        raise LineProtocolError(f"timestamp {ts_ms!r} ms is outside InfluxDB's range")
    return ts_ms * 1_000_000


def telemetry_line(t: Telemetry) -> str | None:
    """:func:`encode_telemetry`'s answer for a reading with nothing to refuse, or None.

    The fast path, for a reading whose tag prefix is cached, whose field keys are all
    plain (cached as needing no escape, with no ``"`` ``:`` ``{`` ``}``) and whose values
    are all floats and booleans, its time in range: orjson writes the values as
    ``{"k":v,...}`` (floats as their shortest round-trip text, booleans as
    ``true``/``false``, NaN and infinities as ``null``), and one ``translate`` makes that
    ``k=v,...``. Anything else (a string, an int, a new tag set or field key, a value to
    drop) is None: :func:`encode_telemetry` then decides."""
    values = t.values
    if (
        _dumps is None
        or not values.keys() <= _plain_keys
        or not _FLOAT_BOOL.issuperset(map(type, values.values()))
    ):
        return None
    ts = t.ts_ms
    if type(ts) is not int or not _MIN_TS_MS < ts < _MAX_TS_MS:
        return None
    # one name at a time (a 4-name unpack builds a tuple, which is what this path avoids)
    device = t.device
    site = t.site
    system = t.system
    zone = t.zone
    if (
        device in _plain_tags
        and site in _plain_tags
        and system in _plain_measurements
        and (zone is None or zone in _plain_tags)
    ):
        prefix = None
    else:
        prefix = _prefixes.get((system, site, device, zone))
        if prefix is None:
            return None
    body = _dumps(values)
    if b":n" in body or len(body) < 3:  # a NaN or infinity (null), or no field at all
        return None
    fields = body.translate(_JSON_TO_FIELDS, _JSON_DELETE).decode()
    if prefix is not None:
        return f"{prefix} {fields} {ts * 1_000_000}"
    if zone is None:
        return f"{system},device={device},site={site} {fields} {ts * 1_000_000}"
    return f"{system},device={device},site={site},zone={zone} {fields} {ts * 1_000_000}"


def encode_telemetry(t: Telemetry, dropped: list[tuple[str, str]] | None = None) -> str:
    """One line (no trailing newline) for a reading.

    Fields that cannot be written are left out and appended to ``dropped`` as
    ``(description, reason)``. Raises :class:`LineProtocolError` when nothing can be
    written (no field left, bad tag, timestamp out of range).
    """
    line = telemetry_line(t)
    if line is not None:
        return line
    prefix = _telemetry_prefix(t)
    parts: list[str] = []
    _fields(t.values, t.device, dropped, parts)
    if not parts:
        raise LineProtocolError(
            f"{t.device}: no field can be written" if t.values else f"{t.device}: no fields"
        )
    ts = t.ts_ms
    if type(ts) is not int or not _MIN_TS_MS < ts < _MAX_TS_MS:
        _check_ts(ts)
    return f"{prefix} {','.join(parts)} {ts * 1_000_000}"


def encode_event(e: Event, dropped: list[tuple[str, str]] | None = None) -> str:
    """One line for an event: measurement ``events``, field ``count=1.0`` plus attrs.

    An attr named ``count`` is dropped (reported in ``dropped``): ``count`` is always 1.0.
    """
    key = (e.site, e.system, e.device, e.type, e.point, e.zone)
    prefix = _event_prefixes.get(key)
    if prefix is None:
        prefix = "events," + _tags(
            [
                ("device", e.device),
                ("point", e.point),
                ("site", e.site),
                ("system", e.system),
                ("type", e.type),
                ("zone", e.zone),
            ]
        )
        if len(_event_prefixes) > _CACHE_LIMIT:
            _event_prefixes.clear()
        _event_prefixes[key] = prefix
    parts = ["count=1.0"]
    if e.attrs:
        attrs = e.attrs
        if "count" in attrs:
            if dropped is not None:
                dropped.append((f"{e.device} count={attrs['count']!r}", "'count' is reserved"))
            attrs = {k: v for k, v in attrs.items() if k != "count"}
        _fields(attrs, e.device, dropped, parts)
    return f"{prefix} {','.join(parts)} {_check_ts(e.ts_ms)}"


def encode(msg: Telemetry | Event, dropped: list[tuple[str, str]] | None = None) -> str:
    """:func:`encode_telemetry` or :func:`encode_event`, by type."""
    if type(msg) is Telemetry:
        return encode_telemetry(msg, dropped)
    if isinstance(msg, Event):
        return encode_event(msg, dropped)
    if isinstance(msg, Telemetry):
        return encode_telemetry(msg, dropped)
    raise LineProtocolError(f"cannot encode {type(msg).__name__}")
