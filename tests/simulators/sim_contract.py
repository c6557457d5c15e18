"""An independent reading of the contract (section 2) for the simulator tests.

``violation(topic, payload, site, now_ms)`` returns ``None`` for a message the contract
accepts and a short reason for one it rejects.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SYSTEMS = ("lighting", "hvac", "access", "fire")
KINDS = ("telemetry", "event", "status")
FUTURE_MS = 5 * 60 * 1000

STANDARD_FIELDS = {
    "hvac": {"zone_temp", "setpoint", "supply_temp", "fan", "filter_dp", "fault_code", "power_kw"},
    "lighting": {"on", "level", "power_w", "lamp_fault", "occupancy", "lamp_hours"},
    "access": {"door_open", "locked", "secure"},
    "fire": {"smoke", "heat"},
}
STANDARD_EVENTS = {
    "access": {"door_forced", "badge_denied", "tamper"},
    "fire": {"fire_alarm", "pre_alarm", "fault", "supervisory", "disablement", "reset"},
}


def _ts(raw: Any, now_ms: int) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "bad_ts"
    if isinstance(raw, int):
        ts = raw
    elif isinstance(raw, str):
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return "bad_ts"
        if dt.tzinfo is None:
            return "bad_ts"
        ts = int(dt.timestamp() * 1000)
    else:
        return "bad_ts"
    if ts > now_ms + FUTURE_MS:
        return "ts_future"
    return None


def _value_ok(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, int | float):
        return math.isfinite(v)
    return isinstance(v, str) and len(v) <= 256


def violation(topic: str, payload: bytes, site: str, now_ms: int) -> str | None:
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "sitewatch" or parts[1] != site:
        return "bad_topic"
    _, _, system, device, kind = parts
    if system not in SYSTEMS:
        return "unknown_system"
    if not ID.match(device):
        return "bad_device"
    if kind not in KINDS:
        return "unknown_kind"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    if kind == "status":
        return None if text in ("online", "offline") else "bad_status"
    try:
        obj = json.loads(text, parse_constant=lambda c: math.nan)
    except ValueError:
        return "bad_json"
    if not isinstance(obj, dict):
        return "not_object"
    bad = _ts(obj.get("ts"), now_ms)
    if bad:
        return bad
    if kind == "telemetry":
        if "values" in obj:
            values = obj["values"]
            if not isinstance(values, dict):
                return "bad_values"
        else:
            values = {k: v for k, v in obj.items() if k != "ts"}
        if not values:
            return "no_values"
        if not all(isinstance(k, str) and k and _value_ok(v) for k, v in values.items()):
            return "bad_value"
        return None
    etype = obj.get("type")
    if not isinstance(etype, str) or not ID.match(etype):
        return "bad_event"
    for name in ("point", "zone"):
        if name in obj and (not isinstance(obj[name], str) or not ID.match(obj[name])):
            return "bad_event"
    return None


def values_of(payload: bytes) -> dict[str, Any]:
    obj = json.loads(payload)
    if "values" in obj:
        return dict(obj["values"])
    return {k: v for k, v in obj.items() if k != "ts"}
