"""Tasmota: ``tele/<topic>/SENSOR``, ``tele/<topic>/STATE``, ``tele/<topic>/LWT`` (and
``stat/<topic>/POWER``, ``stat/<topic>/RESULT``).

Lifecycle: built once from its spec (the ``timezone`` of the devices' ``Time``, which
Tasmota sends without an offset); per message the last topic level picks the handler.

* ``SENSOR``: ``ENERGY.Power`` (W) -> ``power_w`` (a list, one per channel: ``power_w``,
  ``power_w_2``, ...), ``ENERGY.Total``/``Today`` (kWh) -> ``energy_kwh``/``energy_today_kwh``,
  ``Voltage``, ``Current``, ``Factor`` -> ``voltage``, ``current``, ``power_factor``; every
  sensor object's ``Temperature`` -> the system's temperature field for the first sensor
  (``zone_temp`` on hvac, ``heat`` on fire, else ``temperature``) and
  ``<sensor>_temperature`` for the others, converted to °C when ``TempUnit`` is ``F``;
  ``Humidity`` -> ``humidity``, ``Pressure`` (hPa) -> ``pressure_pa``, ``DewPoint``,
  ``Illuminance``; top-level ``Switch<n>`` ON/OFF -> ``switch<n>``.
* ``STATE``: ``POWER``/``POWER1`` ON/OFF -> ``on`` (``POWER2``... -> ``on_2``...), ``Dimmer``
  -> ``level``, ``Wifi.RSSI`` (a quality, %) -> ``wifi_quality``.
* ``LWT``: ``Online``/``Offline`` -> Status.
* ``Time``: with an offset it is used as is; without, in ``timezone`` when configured,
  else the receive time is used.

The system defaults to lighting (Tasmota is mostly plugs and relays) unless configured.
"""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from gateway.adapters.base import Adapter, Target, load_object, load_text, scalar, temp_field
from gateway.adapters.units import Unmappable, f_to_c, on_off, ts_ms
from rules.model import Message, Value
from rules.vocab import System

_POWER = re.compile(r"POWER(\d{0,2})")
_SWITCH = re.compile(r"Switch(\d{1,2})")
_ENERGY = {
    "Total": "energy_kwh",
    "Today": "energy_today_kwh",
    "Voltage": "voltage",
    "Current": "current",
    "Factor": "power_factor",
}
_SENSOR = {
    "Humidity": "humidity",
    "DewPoint": "dew_point",
    "Illuminance": "illuminance",
    "CarbonDioxide": "co2",
}


class Tasmota(Adapter):
    kind = "tasmota"

    def __init__(self, spec: Any, site: str) -> None:
        super().__init__(spec, site)
        self._tz = ZoneInfo(spec.timezone) if spec.timezone else None

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        parts = topic.split("/")
        if len(parts) < 3:
            raise Unmappable("bad_topic", "topic is not <prefix>/<topic>/<command>")
        prefix, name, what = parts[0], "/".join(parts[1:-1]), parts[-1]
        if prefix == "tele" and what == "LWT":
            text = load_text(payload).lower()
            if text not in ("online", "offline"):
                raise Unmappable("bad_status", f"LWT {text[:40]!r} is not Online/Offline")
            return self.status(
                self.target(name, topic, None, System.LIGHTING), text == "online", now_ms
            )
        if prefix == "stat" and what.startswith("POWER"):
            t = self.target(name, topic, None, System.LIGHTING)
            values: dict[str, Value] = {}
            self._power(values, what, load_text(payload))
            return self.telemetry(t, now_ms, values, now_ms)
        if (prefix, what) not in (("tele", "SENSOR"), ("tele", "STATE"), ("stat", "RESULT")):
            raise Unmappable("unsupported_topic", f"{prefix}/.../{what[:40]} is not decoded")
        obj = load_object(payload)
        t = self.target(name, topic, obj, System.LIGHTING)
        ts = self._time(obj.get("Time"), now_ms)
        values = {}
        if what == "SENSOR":
            self._sensor(t, obj, values)
        else:
            self._state(obj, values)
        return self.telemetry(t, ts, values, now_ms)

    def _time(self, raw: Any, now_ms: int) -> int:
        if not isinstance(raw, str):
            return now_ms
        if self._tz is None:
            text = raw.strip()
            if not text.endswith(("Z", "z")) and not (
                len(text) > 6 and text[-6] in "+-" and text[-3] == ":"
            ):
                return now_ms  # no offset, so not RFC 3339: a local time in an unknown zone
            try:
                return ts_ms(raw, "iso", now_ms)
            except Unmappable as u:
                if u.why == "ts_future":
                    raise
                return now_ms  # a local time in an unknown zone: the receive time
        return ts_ms(raw, "iso", now_ms, self._tz)

    def _power(self, values: dict[str, Value], key: str, v: Any) -> None:
        m = _POWER.fullmatch(key)
        if m is None:
            return
        n = int(m.group(1) or "1")
        self.put(values, "on" if n == 1 else f"on_{n}", on_off(v))

    def _state(self, obj: dict[str, Any], values: dict[str, Value]) -> None:
        for k, v in obj.items():
            if k.startswith("POWER"):
                self._power(values, k, v)
            elif k == "Dimmer":
                self.put(values, "level", v)
        wifi = obj.get("Wifi")
        if isinstance(wifi, dict) and scalar(wifi.get("RSSI")) is not None:
            self.put(values, "wifi_quality", wifi["RSSI"])

    def _sensor(self, t: Target, obj: dict[str, Any], values: dict[str, Value]) -> None:
        fahrenheit = obj.get("TempUnit") == "F"
        first_temp = True
        for k, v in obj.items():
            if k == "ENERGY" and isinstance(v, dict):
                self._energy(v, values)
            elif isinstance(v, dict):
                temp = v.get("Temperature")
                if temp is not None:
                    c = f_to_c(temp) if fahrenheit else temp
                    field = temp_field(t.system) if first_temp else f"{_slug(k)}_temperature"
                    self.put(values, field, c)
                    first_temp = False
                if v.get("Pressure") is not None:
                    p = scalar(v["Pressure"])
                    if not isinstance(p, float):
                        raise Unmappable("bad_value", f"{k}.Pressure is not a number")
                    self.put(values, "pressure_pa", round(p * 100.0, 3))
                for src, dst in _SENSOR.items():
                    if v.get(src) is not None:
                        self.put(values, dst, v[src])
            elif (m := _SWITCH.fullmatch(k)) is not None:
                self.put(values, f"switch{m.group(1)}", on_off(v))

    def _energy(self, e: dict[str, Any], values: dict[str, Value]) -> None:
        power = e.get("Power")
        if isinstance(power, list):
            for i, p in enumerate(power, start=1):
                self.put(values, "power_w" if i == 1 else f"power_w_{i}", p)
        elif power is not None:
            self.put(values, "power_w", power)
        for src, dst in _ENERGY.items():
            v = e.get(src)
            if isinstance(v, list):
                v = v[0] if v else None
            if v is not None:
                self.put(values, dst, v)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "sensor"
