"""The adapters file (``SITEWATCH_ADAPTERS_FILE``): a YAML list, validated with pydantic.

Lifecycle: :func:`load_specs` reads the file (or takes an already parsed list), validates
every entry against the model of its ``kind`` (unknown keys refused, the error names the
entry and the key), checks names are unique and every topic filter is a valid MQTT filter,
and returns the specs in file order. Nothing here runs per message; the adapters compile
what they need from their spec once (``gateway.adapters.base.Adapter.__init__``).

One entry::

    - name: z2m                      # [A-Za-z0-9_.-]{1,64}, in the reason adapter:<name>:<why>
      topic: zigbee2mqtt/#           # MQTT filter (+ and #), matched in file order
      kind: zigbee2mqtt              # or tasmota, shelly, thingsboard, sparkplugb, json
      system: access                 # optional: lighting | hvac | access | fire
      zone: lobby                    # optional
      device:                        # optional: "name" (the adapter's own), "segment:N",
        from: name                   #   "field:a.b" (json), a constant id, or this object
        map: {"Front door": {device: door-01, system: access, zone: lobby}}
        only_mapped: false           # true: a device not in map is dead-lettered
      fields: {linkquality: null, temperature: zone_temp}   # rename (null drops)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from gateway.adapters.units import CONVERSIONS
from rules.vocab import ID_PATTERN, ID_RE, System

_ID = re.compile(ID_RE)
_SOURCE = re.compile(rf"name|segment:-?\d{{1,3}}|field:[^\s]{{1,200}}|{ID_PATTERN}")


class AdapterConfigError(ValueError):
    """The adapters file is invalid; the message names the entry and the key."""


def check_filter(topic: str) -> str:
    """An MQTT topic filter: ``+`` alone in a level, ``#`` alone and last."""
    if not topic or len(topic) > 1024 or "\x00" in topic:
        raise ValueError("topic filter is empty, too long or has NUL")
    levels = topic.split("/")
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise ValueError(f"'#' must be a whole last level in {topic!r}")
        if "+" in level and level != "+":
            raise ValueError(f"'+' must be a whole level in {topic!r}")
    return topic


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceEntry(_Strict):
    """A lookup-table row: the foreign name's device id, and optionally system and zone."""

    device: Annotated[str, Field(pattern=ID_RE)]
    system: System | None = None
    zone: Annotated[str, Field(pattern=ID_RE)] | None = None


class DeviceSpec(_Strict):
    """Where the device id comes from (``from``), and a lookup table (``map``)."""

    from_: Annotated[str, Field(alias="from")] = "name"
    map: dict[str, Annotated[str, Field(pattern=ID_RE)] | DeviceEntry] = {}
    only_mapped: bool = False

    @field_validator("from_")
    @classmethod
    def _source(cls, v: str) -> str:
        if not _SOURCE.fullmatch(v):
            raise ValueError("from is name, segment:N, field:PATH or a device id")
        return v


class _Common(_Strict):
    name: Annotated[str, Field(pattern=ID_RE)]
    topic: str
    system: System | None = None
    zone: Annotated[str, Field(pattern=ID_RE)] | None = None
    device: str | DeviceSpec = DeviceSpec()

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        return check_filter(v)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | DeviceSpec) -> DeviceSpec:
        return v if isinstance(v, DeviceSpec) else DeviceSpec.model_validate({"from": v})


class _Base(_Common):
    fields: dict[str, str | None] = {}


class Zigbee2MqttSpec(_Base):
    kind: Literal["zigbee2mqtt"]
    base_topic: str = "zigbee2mqtt"


class TasmotaSpec(_Base):
    kind: Literal["tasmota"]
    #: IANA zone of the devices' ``Time`` (it has no offset); unset: the receive time
    timezone: str | None = None


class ShellySpec(_Base):
    kind: Literal["shelly"]


class ThingsBoardSpec(_Base):
    kind: Literal["thingsboard"]


class SparkplugBSpec(_Base):
    kind: Literal["sparkplugb"]
    #: metrics whose name starts with one of these are not telemetry (Sparkplug's own)
    skip_prefixes: tuple[str, ...] = ("bdSeq", "Node Control/", "Device Control/", "Properties/")


class FieldSpec(_Strict):
    """One output field of the generic JSON adapter."""

    path: Annotated[str, Field(min_length=1, max_length=200)]
    convert: str | None = None
    map: dict[str, float | bool | str] = {}
    required: bool = False

    @field_validator("convert")
    @classmethod
    def _convert(cls, v: str | None) -> str | None:
        if v is not None and v not in CONVERSIONS:
            raise ValueError(f"unknown conversion {v!r} (known: {', '.join(sorted(CONVERSIONS))})")
        return v


class TsSpec(_Strict):
    path: Annotated[str, Field(min_length=1, max_length=200)] = "ts"
    unit: Literal["s", "ms", "iso", "auto"] = "auto"
    timezone: str | None = None


class JsonSpec(_Common):
    kind: Literal["json"]
    #: output field -> dotted path (or a FieldSpec); empty: every scalar, flattened
    fields: dict[str, str | FieldSpec] = {}
    ts: TsSpec | None = None


Spec = Annotated[
    Zigbee2MqttSpec | TasmotaSpec | ShellySpec | ThingsBoardSpec | SparkplugBSpec | JsonSpec,
    Field(discriminator="kind"),
]
_LIST: TypeAdapter[list[Spec]] = TypeAdapter(list[Spec])


def _describe(exc: ValidationError, raw: Sequence[Any]) -> str:
    lines: list[str] = []
    errors = exc.errors()
    branch = {"str", "DeviceSpec", "DeviceEntry", "FieldSpec", "float", "bool", "none"}
    for err in errors:
        if err["type"] == "string_type" and "str" in err["loc"] and len(errors) > 1:
            continue  # the short (string) form of a key given as an object: noise
        loc = [p for p in err["loc"] if p not in branch]
        where = "adapters file"
        first = loc[0] if loc else None
        if isinstance(first, int):
            i = first
            loc.pop(0)
            name = raw[i].get("name") if isinstance(raw[i], dict) else None
            where = f"adapter {i}" + (f" ({name!r})" if name else "")
            if loc and loc[0] in _KINDS:  # the discriminator's tag
                loc.pop(0)
        key = ".".join(str(p) for p in loc) or "(entry)"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        line = f"{where}: {key}: {msg}"
        if line not in lines:
            lines.append(line)
    return "; ".join(lines)


_KINDS = ("zigbee2mqtt", "tasmota", "shelly", "thingsboard", "sparkplugb", "json")


def load_specs(source: str | Path | Sequence[Any]) -> list[Spec]:
    """The adapters file at ``source`` (or an already parsed list) -> validated specs."""
    if isinstance(source, str | Path):
        try:
            raw = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise AdapterConfigError(f"adapters file {source}: {exc}") from None
        if raw is None:
            raw = []
    else:
        raw = source
    if not isinstance(raw, list):
        raise AdapterConfigError("adapters file: expected a YAML list of adapters")
    try:
        specs = _LIST.validate_python(raw)
    except ValidationError as exc:
        raise AdapterConfigError(_describe(exc, raw)) from None
    seen: set[str] = set()
    for i, s in enumerate(specs):
        if s.name in seen:
            raise AdapterConfigError(f"adapter {i} ({s.name!r}): name: used twice")
        seen.add(s.name)
    return specs
