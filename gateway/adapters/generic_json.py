"""Generic JSON: any JSON object mapped by dotted field paths, unit conversions, value maps.

Lifecycle: built once from its spec: every field's path, conversion (``"degF->degC"``, see
:data:`gateway.adapters.units.CONVERSIONS`) and value map are compiled to one callable per
output field, and the timestamp's path, unit (``s``, ``ms``, ``iso`` or ``auto``) and zone
to another. Per message: the payload is parsed, each output field read (a field missing
from the message is skipped, unless ``required``, then the message is rejected:
``missing_field``), mapped (a value map is applied first: ``{"ON": true}``; keys are
compared as text, so ``1`` and ``"1"`` match the same entry), converted, and checked; the
timestamp read (missing: the receive time). With no ``fields`` configured, every scalar of
the object is taken, nested objects flattened to ``a.b``.

Example::

    - name: ahu-json
      kind: json
      topic: bms/+/points
      device: segment:1
      system: hvac
      ts: {path: meta.time, unit: s}
      fields:
        zone_temp: {path: data.rat_f, convert: degF->degC}
        fan: {path: data.fan, map: {"ON": true, "OFF": false}}
        filter_dp: {path: data.filter_kpa, convert: kPa->Pa}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from gateway.adapters.base import Adapter, get_path, load_object, scalar
from gateway.adapters.config import FieldSpec
from gateway.adapters.units import Unmappable, converter, ts_ms
from gateway.decode import FIELD_RE
from rules.model import Message, Value

_Reader = Callable[[dict[str, Any]], Any]
_MISSING = object()


def _field(out: str, spec: str | FieldSpec) -> _Reader:
    fs = spec if isinstance(spec, FieldSpec) else FieldSpec(path=spec)
    path = fs.path
    steps = path.split(".")
    conv = converter(fs.convert) if fs.convert else None
    vmap = {str(k): v for k, v in fs.map.items()}
    required = fs.required

    def read(obj: dict[str, Any]) -> Any:
        v: Any = obj
        for step in steps:  # a missing step and a null are alike: None
            if v.__class__ is dict or isinstance(v, dict):  # (the first test is faster)
                v = v.get(step)
            elif isinstance(v, list):
                v = get_path(v, step)
            else:
                v = None
            if v is None:
                if required:
                    raise Unmappable("missing_field", f"{out}: {path} is not in the message")
                return _MISSING
        if vmap:
            key = _key(v)
            if key in vmap:
                v = vmap[key]
        if conv is not None:
            try:
                v = conv(v)
            except Unmappable as u:
                raise Unmappable(u.why, f"{out}: {u.detail}") from None
        return v

    return read


def _key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


class GenericJson(Adapter):
    kind = "json"

    def __init__(self, spec: Any, site: str) -> None:
        super().__init__(spec, site)
        for out in spec.fields:
            if not FIELD_RE.fullmatch(out):
                raise ValueError(f"adapter {self.name}: field name {out!r} is not allowed")
        self._fields = [(out, _field(out, fs)) for out, fs in spec.fields.items()]
        ts = spec.ts
        self._ts_path: str | None = ts.path if ts else None
        self._ts_unit: str = ts.unit if ts else "auto"
        self._tz = ZoneInfo(ts.timezone) if ts and ts.timezone else None

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        obj = load_object(payload)
        t = self.target(None, topic, obj)
        ts = now_ms
        if self._ts_path is not None:
            raw = get_path(obj, self._ts_path)
            if raw is not None:
                ts = ts_ms(raw, self._ts_unit, now_ms, self._tz)
        values: dict[str, Value] = {}
        if self._fields:
            for out, read in self._fields:
                v = read(obj)
                if v is not _MISSING:
                    self.put(values, out, v)
        else:
            self._flatten(values, "", obj)
        return self.telemetry(t, ts, values, now_ms)

    def _flatten(self, values: dict[str, Value], prefix: str, obj: dict[str, Any]) -> None:
        for k, v in obj.items():
            name = prefix + k
            if name == self._ts_path:
                continue
            if isinstance(v, dict):
                if len(prefix) < 128:
                    self._flatten(values, name + ".", v)
            elif scalar(v) is not None:
                self.put(values, name, v)
