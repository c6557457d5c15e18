"""The words of a rule mapping, and the small parsers of its values.

Lifecycle: constants and pure functions, used while a pack is compiled (``rules.pack_rule``):
which keys a rule may have, the contract's standard fields per system (a condition may read
only those, plus the fields a rule declares), the names every message template may use,
and parsers for name lists, crews and texts in one or two languages (``{en: ..., zh: ...}``).
Each parser raises :class:`rules.lang.RuleError`, which the compiler turns into an error
line.
"""

from __future__ import annotations

import re
from typing import Any

from rules import vocab
from rules.lang import RuleError, parse_duration_ms
from rules.model import CrewDispatch
from rules.template import Template, parse_template

#: the contract's air-handler points (section 13) and a fan-coil's water temperatures
AHU_FIELDS = frozenset(
    {
        "oat",
        "rat",
        "mat",
        "sat",
        "sat_sp",
        "heat_valve",
        "cool_valve",
        "oa_damper",
        "fan_speed",
        "duct_static",
        "duct_static_sp",
        "ewt",
        "lwt",
    }
)
STANDARD_FIELDS: dict[str, frozenset[str]] = {
    "hvac": frozenset(
        {"zone_temp", "setpoint", "supply_temp", "fan", "filter_dp", "fault_code", "power_kw"}
    )
    | AHU_FIELDS,
    "lighting": frozenset({"on", "level", "power_w", "lamp_fault", "occupancy", "lamp_hours"}),
    "access": frozenset({"door_open", "locked", "secure"}),
    "fire": frozenset({"smoke", "heat"}),
}
ALL_STANDARD_FIELDS = frozenset().union(*STANDARD_FIELDS.values())
# names every message template may use, besides the device's fields
TEMPLATE_BUILTINS = frozenset(
    {
        "device",
        "device_name",
        "device_type",
        "zone",
        "point",
        "site",
        "system",
        "rule",
        "value",
        "priority",
        "event",
        "reason",
        "silent_s",
        "interval_s",
        "timeout_s",
    }
)
ID_RE = re.compile(vocab.ID_RE)
CREW_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SCOPES = ("zone", "device", "site")

RULE_KEYS = {
    "id",
    "system",
    "device_types",
    "raises",
    "priority",
    "priority_by_system",
    "when",
    "event",
    "offline",
    "for",
    "clear",
    "clear_for",
    "clear_event",
    "defaults",
    "fields",
    "inside",
    "outside",
    "days",
    "unless_active",
    "value",
    "crews",
    "crew_by_system",
    "message",
    "clear_message",
    "action",
    "cause",
    "consequence",
    "description",
    "context",
}
TOP_KEYS = {"version", "rules", "description", "params", "derive"}
TEXT_LANGS = ("en", "zh")  # the languages a rule text may carry, as {en: ..., zh: ...}


def str_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
        return list(value)
    raise RuleError(f"{what}: a name or a non-empty list of names")


def parse_crews(value: Any, what: str) -> tuple[CrewDispatch, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise RuleError(f"{what}: a list of crews like [hvac, {{crew: security, after: 300s}}]")
    out: list[CrewDispatch] = []
    for item in value:
        crew: Any
        if isinstance(item, str):
            crew, after_ms = item, 0
        elif isinstance(item, dict):
            extra = set(item) - {"crew", "after"}
            if extra:
                raise RuleError(f"{what}: unknown key {sorted(map(str, extra))[0]!r} (crew, after)")
            crew = item.get("crew")
            after_ms = parse_duration_ms(item.get("after", 0))
        else:
            raise RuleError(f"{what}: {item!r} is not a crew")
        if not isinstance(crew, str) or not CREW_RE.match(crew):
            raise RuleError(f"{what}: bad crew id {crew!r}")
        if any(c.crew == crew for c in out):
            raise RuleError(f"{what}: crew {crew!r} listed twice")
        out.append(CrewDispatch(crew, after_ms / 1000))
    return tuple(out)


def bilingual(value: Any) -> tuple[Any, Any]:
    """A rule text: one text, or ``{en: ..., zh: ...}`` (at least one of the two).
    Returns (the main text: English, else Chinese; the Chinese text or None)."""
    if not isinstance(value, dict):
        return value, None
    extra = set(value) - set(TEXT_LANGS)
    if extra:
        raise RuleError(f"unknown language {sorted(map(str, extra))[0]!r} (en, zh)")
    en, zh = value.get("en"), value.get("zh")
    if en is None and zh is None:
        raise RuleError("a text, or {en: ..., zh: ...}")
    return (en if en is not None else zh), zh


def templates(value: Any) -> tuple[Template, Template | None]:
    main, zh = bilingual(value)
    return parse_template(main), (parse_template(zh) if zh is not None else None)


def first_field(text: str, fields: frozenset[str]) -> str | None:
    """The field ``text`` names first: a rule's value when it does not name one."""
    best: tuple[int, str] | None = None
    for f in fields:
        m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(f)}(?![A-Za-z0-9_])", text)
        pos = m.start() if m else len(text)
        if best is None or pos < best[0]:
            best = (pos, f)
    return best[1] if best else None
