"""ThingsBoard's MQTT device and gateway APIs.

Lifecycle: built once from its spec; per message the topic picks the API.

* ``v1/devices/me/telemetry`` (or its short form ``v2/t``): the device is known to
  ThingsBoard by the MQTT username (its access token), which a decoder never sees, so the
  device must come from the config:
  a constant (``device: boiler-01``), a topic segment, or a payload field. Payloads:
  ``{key: value}``, ``{"ts": ms, "values": {...}}``, or a list of either; a list gives one
  Telemetry per entry.
* ``v1/gateway/telemetry``: ``{"Device A": [{"ts": ms, "values": {...}}, ...], ...}`` -> one
  Telemetry per entry, the device from its name (lookup table, or the name made an id),
  whatever ``device.from`` says (that is for the device API).
* ``v1/gateway/connect`` / ``disconnect`` ``{"device": "Device A"}`` -> Status online/offline.

Keys keep their names (renamed by the config's ``fields``); a JSON object as a value is
flattened to ``key.sub``; lists are dropped. Timestamps are epoch ms. The system defaults
to the config's; without one the message is rejected (``no_system``).
"""

from __future__ import annotations

from typing import Any

from gateway.adapters.base import Adapter, Target, load_json, load_object, one_or_many, scalar
from gateway.adapters.units import Unmappable, ts_ms
from rules.model import Message, Value

DEVICE_TELEMETRY = "v1/devices/me/telemetry"
GATEWAY_TELEMETRY = "v1/gateway/telemetry"
SHORT_TELEMETRY = "v2/t"  # the short form of the device topic
MAX_ENTRIES = 1000


class ThingsBoard(Adapter):
    kind = "thingsboard"

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        if topic in (DEVICE_TELEMETRY, SHORT_TELEMETRY):
            data = load_json(payload)
            t = self.target(None, topic, data if isinstance(data, dict) else None)
            return one_or_many(self._entries(t, data, now_ms))
        if topic == GATEWAY_TELEMETRY:
            obj = load_object(payload)
            out: list[Message] = []
            for name, entries in obj.items():
                out.extend(
                    self._entries(self.target(name, topic, obj, named=True), entries, now_ms)
                )
            return one_or_many(out)
        if topic in ("v1/gateway/connect", "v1/gateway/disconnect"):
            obj = load_object(payload)
            dev = obj.get("device")
            if not isinstance(dev, str):
                raise Unmappable("no_device", "connect/disconnect without a device name")
            return self.status(
                self.target(dev, topic, obj, named=True), topic.endswith("/connect"), now_ms
            )
        raise Unmappable("unsupported_topic", f"{topic[:60]} is not a telemetry or connect topic")

    def _entries(self, t: Target, data: Any, now_ms: int) -> list[Message]:
        entries = data if isinstance(data, list) else [data]
        if len(entries) > MAX_ENTRIES:
            raise Unmappable("too_many", f"more than {MAX_ENTRIES} entries")
        out: list[Message] = []
        for e in entries:
            if not isinstance(e, dict):
                raise Unmappable("not_object", f"an entry is a JSON {type(e).__name__}")
            ts = now_ms
            body: Any = e
            if "values" in e:
                body = e["values"]
                if not isinstance(body, dict):
                    raise Unmappable("bad_value", "values is not an object")
                if e.get("ts") is not None:
                    ts = ts_ms(e["ts"], "ms", now_ms)
            values: dict[str, Value] = {}
            self._flatten(values, "", body)
            out.append(self.telemetry(t, ts, values, now_ms))
        return out

    def _flatten(self, values: dict[str, Value], prefix: str, obj: dict[str, Any]) -> None:
        put = self.put
        for k, v in obj.items():
            cls = v.__class__
            if (cls is float and v - v == 0.0) or cls is bool:  # a finite float or a boolean
                put(values, prefix + k, v)
            elif isinstance(v, dict):
                if len(prefix) < 128:
                    self._flatten(values, f"{prefix}{k}.", v)
            elif scalar(v) is not None:
                put(values, prefix + k, v)
            elif not isinstance(v, list) and v is not None:
                raise Unmappable("bad_value", f"{prefix}{k}: not a contract value")
