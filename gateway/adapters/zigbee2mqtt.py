"""Zigbee2MQTT: ``<base>/<friendly_name>`` state JSON and ``<base>/<friendly_name>/availability``.

Lifecycle: built once from its spec; per message the topic is split into the friendly
name (which may itself contain ``/``) and an optional ``availability`` suffix.

* State (a JSON object, the device's full state on every report):
  ``occupancy`` -> ``occupancy``; ``contact`` -> ``door_open`` (``contact: false`` is an
  open door); ``temperature`` (°C) -> ``zone_temp`` (hvac), ``heat`` (fire) or
  ``temperature``; ``state`` ON/OFF -> ``on``; ``brightness`` 0-254 -> ``level`` (%);
  ``power`` (W) -> ``power_w``; ``energy`` (kWh) -> ``energy_kwh``; ``smoke`` (a boolean) ->
  ``smoke_detected``; ``battery`` (%), ``tamper`` and any other scalar keep their names;
  nested objects are dropped.
  ``tamper`` turning true adds an event ``tamper``; ``smoke`` turning true adds an event
  ``pre_alarm`` (a detector, not a panel-confirmed fire) and back to false a ``reset``
  (edges, because Zigbee2MQTT repeats the whole state on every report). ``last_seen``
  (when the bridge enables it: ISO 8601 or epoch ms) is the reading's time.
* Availability: ``online``/``offline`` as plain text (legacy) or ``{"state": "online"}``
  -> Status.
* The system, unless configured, follows the payload: smoke -> fire, contact or tamper
  -> access, occupancy or state -> lighting, temperature -> hvac.
* ``<base>/bridge/...`` and ``.../set``, ``.../get`` are not device reports: rejected.
"""

from __future__ import annotations

from typing import Any

from gateway.adapters.base import (
    MAX_REMEMBERED,
    Adapter,
    Target,
    load_object,
    load_text,
    one_or_many,
    scalar,
    temp_field,
)
from gateway.adapters.units import Unmappable, on_off, ts_ms
from rules.model import Message, Value
from rules.vocab import System

_SKIP = frozenset({"last_seen", "linkquality_percent"})


def _hint(obj: dict[str, Any]) -> str | None:
    if "smoke" in obj:
        return System.FIRE
    if "contact" in obj or "tamper" in obj:
        return System.ACCESS
    if "occupancy" in obj or "state" in obj or "brightness" in obj:
        return System.LIGHTING
    if "temperature" in obj:
        return System.HVAC
    return None


class Zigbee2Mqtt(Adapter):
    kind = "zigbee2mqtt"

    def __init__(self, spec: Any, site: str) -> None:
        super().__init__(spec, site)
        self._base = spec.base_topic.rstrip("/") + "/"
        self._edges: dict[tuple[str, str], bool] = {}

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        if not topic.startswith(self._base):
            raise Unmappable("bad_topic", f"topic is not under {self._base}")
        name = topic[len(self._base) :]
        if name.startswith("bridge/") or name == "bridge":
            raise Unmappable("bridge_topic", "a bridge topic, not a device report")
        if name.endswith(("/set", "/get")) or "/set/" in name:
            raise Unmappable("command_topic", "a command to the device, not a report")
        if name.endswith("/availability"):
            return self._availability(name[: -len("/availability")], topic, payload, now_ms)
        if not name:
            raise Unmappable("no_device", "no friendly name in the topic")
        obj = load_object(payload)
        t = self.target(name, topic, obj, _hint(obj))
        ts = now_ms
        seen = obj.get("last_seen")
        if seen is not None:
            ts = ts_ms(seen, "auto", now_ms)
        values: dict[str, Value] = {}
        put = self.put
        out: list[Message] = []
        for k, v in obj.items():
            if k in _SKIP or v is None:
                continue
            if k == "contact":
                put(values, "door_open", not on_off(v))
            elif k == "occupancy":
                put(values, "occupancy", on_off(v))
            elif k == "temperature":
                put(values, temp_field(t.system), v)
            elif k == "state":
                put(values, "on", on_off(v))
            elif k == "brightness":
                put(values, "level", round(float(scalar(v) or 0.0) * 100.0 / 254.0, 1))
            elif k == "power":
                put(values, "power_w", v)
            elif k == "energy":
                put(values, "energy_kwh", v)
            elif k in ("tamper", "smoke"):
                now_on = on_off(v)
                # a detector's boolean, not the contract's smoke obscuration (%/m)
                put(values, "smoke_detected" if k == "smoke" else k, now_on)
                self._edge(out, t, k, now_on, ts, now_ms)
            elif scalar(v) is not None:
                put(values, k, v)
        msgs: list[Message] = [self.telemetry(t, ts, values, now_ms)] if values else []
        return one_or_many(msgs + out)

    def _edge(
        self, out: list[Message], t: Target, key: str, now_on: bool, ts: int, now_ms: int
    ) -> None:
        mark = (t.device, key)
        before = self._edges.get(mark, False)
        if now_on != before and len(self._edges) < MAX_REMEMBERED:
            self._edges[mark] = now_on
        if now_on and not before:
            out.append(self.event(t, ts, "tamper" if key == "tamper" else "pre_alarm", now_ms))
        elif before and not now_on and key == "smoke":
            out.append(self.event(t, ts, "reset", now_ms))

    def _availability(
        self, name: str, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message:
        text = load_text(payload)
        if text.startswith("{"):
            state = load_object(payload).get("state")
        else:
            state = text.strip('"')
        if state not in ("online", "offline"):
            shown = str(state)[:40]
            raise Unmappable("bad_status", f"availability {shown!r} is not online/offline")
        return self.status(self.target(name, topic), state == "online", now_ms)
