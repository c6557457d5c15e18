"""Shelly Gen2 (Plus/Pro): ``<id>/status/<component>:<n>``, ``<id>/online``, ``<id>/events/rpc``.

Lifecycle: built once from its spec; per message the topic's tail picks the handler; the
device's name is the topic prefix (by default the device id, e.g. ``shellyplus1-a8032ab1``).

* ``<id>/online``: ``true``/``false`` -> Status.
* ``<id>/status/switch:<n>`` ``{output, apower, voltage, current, aenergy.total (Wh),
  temperature.tC}`` -> ``on``, ``power_w``, ``voltage``, ``current``, ``energy_kwh``,
  ``device_temp`` (the relay's own temperature, not the room's). Channel ``n`` > 0 adds
  ``_<n>`` to every name. ``light:<n>`` ``{output, brightness}`` -> ``on``, ``level``;
  ``input:<n>`` ``{state}`` -> ``input``; ``temperature:<n>`` ``{tC}`` -> the system's
  temperature field; ``humidity:<n>`` ``{rh}`` -> ``humidity``; ``devicepower:<n>``
  ``{battery.percent}`` -> ``battery``; ``cover:<n>`` ``{current_pos}`` -> ``position``.
* ``<id>/events/rpc``: ``NotifyStatus``/``NotifyFullStatus`` carry the same component
  objects (with ``params.ts``, epoch seconds: the reading's time); ``NotifyEvent`` turns
  each ``params.events[]`` entry into an event of that name, its component as the point.

The system defaults to lighting unless configured.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.adapters.base import Adapter, Target, get_path, load_object, load_text, one_or_many
from gateway.adapters.base import temp_field as _temp_field
from gateway.adapters.units import Unmappable, on_off, ts_ms
from rules.model import Message, Value
from rules.vocab import ID_RE as _ID_RE
from rules.vocab import System

_COMPONENTS = ("switch", "light", "input", "temperature", "humidity", "devicepower", "cover")
_EVENT_RE = re.compile(_ID_RE)


class Shelly(Adapter):
    kind = "shelly"

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        if topic.endswith("/online"):
            text = load_text(payload).lower()
            if text not in ("true", "false"):
                raise Unmappable("bad_status", f"online {text[:40]!r} is not true/false")
            t = self.target(topic[: -len("/online")], topic, None, System.LIGHTING)
            return self.status(t, text == "true", now_ms)
        if topic.endswith("/events/rpc"):
            return self._rpc(topic[: -len("/events/rpc")], topic, payload, now_ms)
        head, sep, comp = topic.rpartition("/status/")
        if not sep or not head:
            raise Unmappable("unsupported_topic", "not <id>/status/<component>, online or rpc")
        obj = load_object(payload)
        t = self.target(head, topic, obj, System.LIGHTING)
        values: dict[str, Value] = {}
        self._component(t, comp, obj, values)
        return self.telemetry(t, now_ms, values, now_ms)

    def _component(self, t: Target, comp: str, obj: Any, values: dict[str, Value]) -> None:
        kind, _, n = comp.partition(":")
        if kind not in _COMPONENTS or not n.isdigit() or not isinstance(obj, dict):
            raise Unmappable("unsupported_component", f"component {comp[:40]!r} is not decoded")
        sfx = "" if n == "0" else f"_{int(n)}"
        put = self.put

        def opt(src: str, dst: str) -> None:
            v = get_path(obj, src)
            if v is not None:
                put(values, dst + sfx, v)

        if kind in ("switch", "light"):
            if obj.get("output") is not None:
                put(values, "on" + sfx, on_off(obj["output"]))
            opt("apower", "power_w")
            opt("voltage", "voltage")
            opt("current", "current")
            opt("brightness", "level")
            opt("temperature.tC", "device_temp")
            total = get_path(obj, "aenergy.total")
            if total is not None:
                if isinstance(total, bool) or not isinstance(total, int | float):
                    raise Unmappable("bad_value", "aenergy.total is not a number")
                put(values, "energy_kwh" + sfx, round(total / 1000.0, 6))
        elif kind == "input":
            if obj.get("state") is not None:
                put(values, "input" + sfx, on_off(obj["state"]))
            opt("percent", "input_percent")
        elif kind == "temperature":
            opt("tC", _temp_field(t.system))
        elif kind == "humidity":
            opt("rh", "humidity")
        elif kind == "devicepower":
            opt("battery.percent", "battery")
        else:
            opt("current_pos", "position")

    def _rpc(self, head: str, topic: str, payload: bytes | bytearray, now_ms: int) -> Any:
        obj = load_object(payload)
        method = obj.get("method")
        params = obj.get("params")
        if not isinstance(params, dict):
            raise Unmappable("bad_rpc", "notification without params")
        ts = now_ms if params.get("ts") is None else ts_ms(params["ts"], "s", now_ms)
        if method in ("NotifyStatus", "NotifyFullStatus"):
            t = self.target(head, topic, obj, System.LIGHTING)
            values: dict[str, Value] = {}
            for comp, body in params.items():
                if comp != "ts" and comp.partition(":")[0] in _COMPONENTS:
                    self._component(t, comp, body, values)
            return self.telemetry(t, ts, values, now_ms)
        if method == "NotifyEvent":
            events = params.get("events")
            if not isinstance(events, list):
                raise Unmappable("bad_rpc", "NotifyEvent without events")
            t = self.target(head, topic, obj, System.LIGHTING)
            out: list[Message] = []
            for e in events:
                name = e.get("event") if isinstance(e, dict) else None
                if not isinstance(name, str) or not _EVENT_RE.fullmatch(name):
                    raise Unmappable("bad_event", "an event without a valid name")
                ets = ts if e.get("ts") is None else ts_ms(e["ts"], "s", now_ms)
                comp = e.get("component")
                point = comp if isinstance(comp, str) else None
                out.append(self.event(t, ets, name, now_ms, point))
            return one_or_many(out)
        raise Unmappable("unsupported_rpc", f"method {str(method)[:40]!r} is not decoded")
