"""Rule packs: YAML files of rules, validated once and compiled.

A pack is ``{version: 1, rules: [...]}``; each rule is a mapping::

    - id: hvac.zone_temp_high          # unique; [A-Za-z0-9_.-]
      system: hvac                     # lighting | hvac | access | fire; omit for every system
      device_types: [fcu, ahu]         # optional filter on the site's device type
      raises: alarm                    # alarm | ticket | both          (default alarm)
      priority: medium                 # critical | high | medium | low
      priority_by_system: {fire: high} # optional per-system override
      # exactly one trigger:
      when: zone_temp > setpoint + 3 and fan != false    # a condition on telemetry, or
      event: door_forced               # an event type (or a list), or
      offline: {factor: 3, min: 60s}   # silence / status offline
      for: 300s                        # on-delay (telemetry), measured on device time
      clear: zone_temp < setpoint + 2  # deadband clear condition (default: `when` is false)
      clear_for: 60s                   # off-delay
      clear_event: reset               # event rules: event of the same device that clears
      defaults: {fan: true}            # how a field the device never sent counts
      fields: [custom_field]           # fields outside the contract's standard ones
      inside: "22:00-06:00"            # or outside: "08:00-20:00" (site time), days: [mon]
      unless_active: {rule: fire.alarm, same: zone}   # guard: do not raise while ...
      value: zone_temp                 # the field reported as the alarm's value
      crews: [hvac, {crew: security, after: 300s}]
      crew_by_system: {fire: [fire-safety]}
      message: "{device} zone temperature {zone_temp:.1f} °C above setpoint {setpoint:.1f} °C"
      clear_message: "..."             # optional; default "cleared: <raise message>"
      action: what the operator does   # ISA-18.2 rationalization: action, cause, consequence
      cause: ...
      consequence: ...

Errors carry the YAML line they come from (the pack is composed to nodes first).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from rules.lang import Condition, RuleError, compile_condition, parse_duration_ms
from rules.model import PRIORITIES, CrewDispatch, Priority, RuleSpec
from rules.template import Template, parse_template
from rules.timewin import WindowSpec, parse_window

SYSTEMS = ("lighting", "hvac", "access", "fire")
STANDARD_FIELDS: dict[str, frozenset[str]] = {
    "hvac": frozenset(
        {"zone_temp", "setpoint", "supply_temp", "fan", "filter_dp", "fault_code", "power_kw"}
    ),
    "lighting": frozenset({"on", "level", "power_w", "lamp_fault", "occupancy", "lamp_hours"}),
    "access": frozenset({"door_open", "locked", "secure"}),
    "fire": frozenset({"smoke", "heat"}),
}
ALL_STANDARD_FIELDS = frozenset().union(*STANDARD_FIELDS.values())
# names every message template may use, besides the device's fields
TEMPLATE_BUILTINS = frozenset(
    {"device", "device_name", "device_type", "zone", "point", "site", "system", "rule",
     "value", "priority", "event", "reason", "silent_s", "interval_s", "timeout_s"}
)
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CREW_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
SCOPES = ("zone", "device", "site")

_KEYS = {
    "id", "system", "device_types", "raises", "priority", "priority_by_system", "when",
    "event", "offline", "for", "clear", "clear_for", "clear_event", "defaults", "fields",
    "inside", "outside", "days", "unless_active", "value", "crews", "crew_by_system",
    "message", "clear_message", "action", "cause", "consequence", "description",
}
_TOP_KEYS = {"version", "rules", "description"}


@dataclass(frozen=True, slots=True)
class Guard:
    """Do not raise while ``rule`` is active for the same zone / device / site."""

    rule: str
    same: str


@dataclass(eq=False, slots=True)
class Rule:
    """A compiled rule (what the engine runs); ``spec`` is what the alarm service reads."""

    spec: RuleSpec
    index: int
    kind: str  # "telemetry" | "event" | "offline"
    system: str | None
    device_types: frozenset[str] | None
    when: Condition | None
    clear: Condition | None
    events: frozenset[str]
    clear_events: frozenset[str]
    delay_ms: int
    clear_delay_ms: int
    window: WindowSpec | None
    guard: Guard | None
    value_field: str | None
    message: Template
    clear_message: Template | None
    offline_factor: float
    offline_min_ms: int
    fields: frozenset[str]  # telemetry fields whose change re-evaluates the rule
    history: dict[str, int]  # field -> window (ms) kept for rate/delta
    line: int

    @property
    def id(self) -> str:
        return self.spec.id

    def applies_to(self, system: str, device_type: str | None) -> bool:
        if self.system is not None and self.system != system:
            return False
        if self.device_types is not None and device_type not in self.device_types:
            return False
        return True


@dataclass(frozen=True, slots=True)
class RulePack:
    rules: tuple[Rule, ...]
    origin: str = "<text>"
    version: int = 1

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    @property
    def specs(self) -> dict[str, RuleSpec]:
        return {r.id: r.spec for r in self.rules}

    def spec(self, rule_id: str) -> RuleSpec:
        """The rule's metadata (priority, crews, texts); ``KeyError`` if unknown."""
        return self.rule(rule_id).spec

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


# --------------------------------------------------------------------------- YAML with lines


class _LDict(dict[Any, Any]):
    line: int = 0
    lines: dict[Any, int]


class _LList(list[Any]):
    line: int = 0
    lines: list[int]


class _Loader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.dup_errors: list[tuple[int, str]] = []


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[_LDict]:
    d = _LDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    yield d
    loader.flatten_mapping(node)
    for k_node, v_node in node.value:
        key = loader.construct_object(k_node, deep=True)
        line = k_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            loader.dup_errors.append((line, "a mapping key must be a plain value"))
            continue
        if key in d:
            loader.dup_errors.append((line, f"duplicate key {key!r}"))
        d[key] = loader.construct_object(v_node, deep=True)
        d.lines[key] = v_node.start_mark.line + 1 if isinstance(v_node, yaml.ScalarNode) \
            else line
    return


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Iterator[_LList]:
    seq = _LList()
    seq.line = node.start_mark.line + 1
    seq.lines = []
    yield seq
    for item in node.value:
        seq.append(loader.construct_object(item, deep=True))
        seq.lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)  # type: ignore[arg-type]
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)  # type: ignore[arg-type]


def _load_yaml(text: str) -> tuple[Any, list[tuple[int, str]]]:
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        return None, [(line, f"YAML syntax: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [(0, f"YAML: {exc}")]
    finally:
        loader.dispose()
    return data, loader.dup_errors


# --------------------------------------------------------------------------- validation


class _Errors:
    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []

    def add(self, line: int, msg: str) -> None:
        self.items.append((line, msg))


def _line(d: Any, key: str) -> int:
    if isinstance(d, _LDict):
        return d.lines.get(key, d.line)
    return 0


def _str_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) and x for x in value):
        return list(value)
    raise RuleError(f"{what}: a name or a non-empty list of names")


def _crews(value: Any, what: str) -> tuple[CrewDispatch, ...]:
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


def _compile_rule(d: Any, index: int, line: int, err: _Errors) -> Rule | None:  # noqa: C901
    if not isinstance(d, dict):
        err.add(line, f"rules[{index}]: a rule is a mapping, not {type(d).__name__}")
        return None
    rid = d.get("id")
    label = f"rule {rid!r}" if isinstance(rid, str) else f"rules[{index}]"
    n_before = len(err.items)

    def bad(key: str, msg: str) -> None:
        err.add(_line(d, key), f"{label}: {msg}")

    def get(key: str, fn: Any) -> Any:
        """Run ``fn(value)`` for a present key, turning RuleError into an error line."""
        if key not in d:
            return None
        try:
            return fn(d[key])
        except RuleError as exc:
            bad(key, f"{key}: {exc}")
            return None

    for key in d:
        if key not in _KEYS:
            close = difflib.get_close_matches(str(key), sorted(_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            bad(key, f"unknown key {key!r}{hint}")

    if not isinstance(rid, str) or not ID_RE.match(rid):
        if isinstance(rid, bool):
            bad("id", "id: YAML reads yes/no/on/off as booleans; quote the id")
        elif "id" in d:
            bad("id", "id: 1 to 64 letters, digits, '.', '_' or '-'")
        else:
            err.add(d.line if isinstance(d, _LDict) else line, f"{label}: id: required")
        rid = f"rules[{index}]"

    system = d.get("system")
    if system in ("any", "all"):
        system = None
    if system is not None and system not in SYSTEMS:
        bad("system", f"system: {system!r} is not one of {', '.join(SYSTEMS)}")
        system = None

    device_types = get("device_types", lambda v: frozenset(_str_list(v, "device_types")))

    raises = d.get("raises", "alarm")
    if raises not in ("alarm", "ticket", "both"):
        bad("raises", f"raises: {raises!r} is not alarm, ticket or both")
        raises = "alarm"

    priority = d.get("priority")
    if priority not in PRIORITIES:
        if "priority" in d:
            bad("priority", f"priority: {priority!r} is not one of {', '.join(PRIORITIES)}")
        else:
            err.add(d.line if isinstance(d, _LDict) else line, f"{label}: priority: required")
        priority = "low"

    pbs: list[tuple[str, Priority]] = []
    if "priority_by_system" in d:
        v = d["priority_by_system"]
        if not isinstance(v, dict):
            bad("priority_by_system", "priority_by_system: a mapping like {fire: high}")
        else:
            for s, p in v.items():
                if s not in SYSTEMS or p not in PRIORITIES:
                    bad("priority_by_system", f"priority_by_system: bad entry {s!r}: {p!r}")
                else:
                    pbs.append((s, p))

    defaults: dict[str, Any] = {}
    if "defaults" in d:
        v = d["defaults"]
        if not isinstance(v, dict) or not all(
            isinstance(k, str) and isinstance(x, bool | int | float | str) for k, x in v.items()
        ):
            bad("defaults", "defaults: a mapping of field to a number, boolean or string")
        else:
            defaults = dict(v)
    declared = get("fields", lambda v: frozenset(_str_list(v, "fields"))) or frozenset()

    def cond(key: str) -> Condition | None:
        return get(key, lambda v: compile_condition(v, defaults))

    when = cond("when")
    clear = cond("clear")
    events = get("event", lambda v: frozenset(_str_list(v, "event"))) or frozenset()
    clear_events = get("clear_event", lambda v: frozenset(_str_list(v, "clear_event"))) \
        or frozenset()
    delay_ms = get("for", parse_duration_ms) or 0
    clear_delay_ms = get("clear_for", parse_duration_ms) or 0

    offline_factor, offline_min_ms = 3.0, 60_000
    if "offline" in d:
        v = d["offline"]
        if v is True:
            v = {}
        if not isinstance(v, dict):
            bad("offline", "offline: a mapping like {factor: 3, min: 60s}")
        else:
            extra = set(v) - {"factor", "min"}
            if extra:
                bad("offline", f"offline: unknown key {sorted(extra, key=str)[0]!r} (factor, min)")
            f = v.get("factor", 3)
            if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1000:
                bad("offline", f"offline: factor {f!r} must be a positive number")
            else:
                offline_factor = float(f)
            try:
                offline_min_ms = parse_duration_ms(v.get("min", 60))
            except RuleError as exc:
                bad("offline", f"offline: min: {exc}")

    # which kind of rule
    triggers = [k for k in ("event", "offline") if k in d]
    kind = "telemetry"
    if len(triggers) > 1:
        bad(triggers[1], "a rule has one trigger: `when`, `event` or `offline`")
    if "event" in d:
        kind = "event"
    elif "offline" in d:
        kind = "offline"
        for k in ("when", "clear", "for", "clear_for", "clear_event", "inside", "outside"):
            if k in d:
                bad(k, f"{k}: not allowed on an offline rule")
    elif "when" not in d:
        err.add(d.line if isinstance(d, _LDict) else line,
                f"{label}: needs a trigger: `when`, `event` or `offline`")
    if kind == "telemetry" and "clear_event" in d:
        bad("clear_event", "clear_event: only for event rules")
    if kind == "event":
        for k in ("for", "clear_for"):
            if k in d:
                bad(k, f"{k}: an event rule cannot be delayed (events are instantaneous)")
        if events & clear_events:
            bad("clear_event", "clear_event: the same event cannot raise and clear")
    if priority == "critical":
        for k in ("for", "clear_for"):
            if k in d:
                bad(k, f"{k}: a critical rule is never delayed")
        delay_ms = clear_delay_ms = 0

    window: WindowSpec | None = None
    if "inside" in d and "outside" in d:
        bad("outside", "use either `inside` or `outside`, not both")
    elif "inside" in d or "outside" in d:
        wkey = "inside" if "inside" in d else "outside"
        try:
            window = parse_window(d[wkey], wkey == "outside", d.get("days"))
        except RuleError as exc:
            bad(wkey if "days" not in d else "days", f"{wkey}: {exc}")
    elif "days" in d:
        bad("days", "days: needs `inside` or `outside`")

    guard: Guard | None = None
    if "unless_active" in d:
        v = d["unless_active"]
        if isinstance(v, str):
            v = {"rule": v}
        if not isinstance(v, dict) or not isinstance(v.get("rule"), str) \
                or set(v) - {"rule", "same"}:
            bad("unless_active", "unless_active: {rule: RULE_ID, same: zone|device|site}")
        elif v.get("same", "zone") not in SCOPES:
            bad("unless_active", f"unless_active: same: {v.get('same')!r} is not zone, "
                                 "device or site")
        else:
            guard = Guard(v["rule"], v.get("same", "zone"))

    # fields
    fields: frozenset[str] = frozenset()
    history: dict[str, int] = {}
    for c in (when, clear):
        if c is not None:
            fields |= c.fields
            for f_, w in c.history.items():
                history[f_] = max(history.get(f_, 0), w)
    known = (STANDARD_FIELDS[system] if system else ALL_STANDARD_FIELDS) | declared
    checked = fields | set(defaults)
    if kind == "event":  # an event rule's `when` may read the event's own attributes
        checked = (clear.fields if clear is not None else frozenset()) | declared
        known = known | (when.fields if when is not None else frozenset())
    for f_ in sorted(checked):
        if f_ not in known:
            where = "clear" if clear is not None and f_ in clear.fields and (
                when is None or f_ not in when.fields) else "when"
            if f_ in defaults and f_ not in fields:
                where = "defaults"
            bad(where, f"unknown field {f_!r} for {system or 'any system'} "
                       f"(declare custom fields under `fields:`)")
    value_field = d.get("value")
    if value_field is not None and (not isinstance(value_field, str) or value_field not in known):
        bad("value", f"value: {value_field!r} is not a field of the rule")
        value_field = None
    if value_field is None and when is not None:
        value_field = _first_field(when.text, when.fields)

    crews: tuple[CrewDispatch, ...] = get("crews", lambda v: _crews(v, "crews")) or ()
    cbs: list[tuple[str, tuple[CrewDispatch, ...]]] = []
    if "crew_by_system" in d:
        v = d["crew_by_system"]
        if not isinstance(v, dict):
            bad("crew_by_system", "crew_by_system: a mapping like {hvac: [hvac]}")
        else:
            for s, cv in v.items():
                if s not in SYSTEMS:
                    bad("crew_by_system", f"crew_by_system: {s!r} is not a system")
                    continue
                try:
                    cbs.append((s, _crews(cv, f"crew_by_system.{s}")))
                except RuleError as exc:
                    bad("crew_by_system", str(exc))
    if raises in ("ticket", "both") and not crews and not cbs:
        bad("raises", f"raises: {raises} needs `crews`")

    # texts
    message = get("message", parse_template)
    if "message" not in d:
        err.add(d.line if isinstance(d, _LDict) else line, f"{label}: message: required")
    clear_message = get("clear_message", parse_template)
    allowed = TEMPLATE_BUILTINS | known
    for key, tpl in (("message", message), ("clear_message", clear_message)):
        if tpl is None or kind == "event":  # event attributes are free-form
            continue
        for name in sorted(tpl.names - allowed):
            bad(key, f"{key}: unknown name {{{name}}} in the template")
    texts: dict[str, str] = {}
    for key in ("action", "cause", "consequence"):
        v = d.get(key, "")
        if not isinstance(v, str):
            bad(key, f"{key}: a text")
            v = ""
        texts[key] = v.strip()
    if not texts["action"]:
        if "action" in d:
            bad("action", "action: must not be empty")
        else:
            err.add(d.line if isinstance(d, _LDict) else line,
                    f"{label}: action: required (what the operator should do)")

    if len(err.items) > n_before or message is None:
        return None
    clears_on_ack = kind == "event" and clear is None and not clear_events
    spec = RuleSpec(
        id=rid,
        system=system,
        priority=cast(Priority, priority),
        raises=raises,
        message=message.text,
        action=texts["action"],
        cause=texts["cause"],
        consequence=texts["consequence"],
        crews=crews,
        clears_on_ack=clears_on_ack,
        priority_by_system=tuple(pbs),
        crew_by_system=tuple(cbs),
    )
    return Rule(
        spec=spec, index=index, kind=kind, system=system, device_types=device_types,
        when=when, clear=clear, events=events, clear_events=clear_events,
        delay_ms=int(delay_ms), clear_delay_ms=int(clear_delay_ms), window=window,
        guard=guard, value_field=value_field, message=message, clear_message=clear_message,
        offline_factor=offline_factor, offline_min_ms=offline_min_ms, fields=fields,
        history=history, line=d.line if isinstance(d, _LDict) else line,
    )


def _first_field(text: str, fields: frozenset[str]) -> str | None:
    best: tuple[int, str] | None = None
    for f in fields:
        m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(f)}(?![A-Za-z0-9_])", text)
        pos = m.start() if m else len(text)
        if best is None or pos < best[0]:
            best = (pos, f)
    return best[1] if best else None


def _build(text: str, origin: str) -> tuple[RulePack | None, list[str]]:
    data, yaml_errors = _load_yaml(text)
    err = _Errors()
    for line, msg in yaml_errors:
        err.add(line, msg)
    rules: list[Rule] = []
    if data is None and not err.items:
        err.add(1, "empty rule pack")
    elif data is not None and not isinstance(data, dict):
        err.add(1, "a rule pack is a mapping with `rules:`")
    elif isinstance(data, dict):
        for key in data:
            if key not in _TOP_KEYS:
                err.add(_line(data, key), f"unknown top-level key {key!r} (version, rules)")
        version = data.get("version", 1)
        if version != 1:
            err.add(_line(data, "version"), f"version: {version!r} is not supported (1)")
        items = data.get("rules")
        if not isinstance(items, list) or not items:
            err.add(_line(data, "rules"), "rules: a non-empty list of rules")
            items = []
        lines = items.lines if isinstance(items, _LList) else [0] * len(items)
        seen: dict[str, int] = {}
        for i, (item, line) in enumerate(zip(items, lines, strict=True)):
            rule = _compile_rule(item, i, line, err)
            rid = item.get("id") if isinstance(item, dict) else None
            if isinstance(rid, str):
                if rid in seen:
                    err.add(_line(item, "id"),
                            f"rule {rid!r}: duplicate id (first on line {seen[rid]})")
                    rule = None
                else:
                    seen[rid] = _line(item, "id")
            if rule is not None:
                rules.append(rule)
        by_id = {r.id: r for r in rules}
        for r in rules:
            if r.guard is not None:
                target = by_id.get(r.guard.rule)
                if r.guard.rule == r.id:
                    err.add(r.line, f"rule {r.id!r}: unless_active: a rule cannot guard itself")
                elif target is None and r.guard.rule not in seen:
                    err.add(r.line, f"rule {r.id!r}: unless_active: unknown rule "
                                    f"{r.guard.rule!r}")
    errors = [f"{origin}:{line}: {msg}" for line, msg in sorted(err.items, key=lambda x: x[0])]
    if errors:
        return None, errors
    return RulePack(tuple(rules), origin, 1), []


def _read(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path) or ("\n" not in source and not source.lstrip().startswith(
            ("rules:", "version:", "{"))):
        path = Path(source)
        try:
            return path.read_text(encoding="utf-8"), str(source)
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(f"{source}: cannot read rule pack: {exc}") from exc
    return source, "<text>"


def load_pack(source: str | Path) -> RulePack:
    """Load a rule pack from a path or from YAML text (text is anything with a newline).
    Raises :class:`RuleError` whose ``errors`` lists every problem with its line."""
    text, origin = _read(source)
    pack, errors = _build(text, origin)
    if pack is None:
        raise RuleError(
            f"{origin}: {len(errors)} error(s) in rule pack:\n  " + "\n  ".join(errors),
            errors=errors,
        )
    return pack


def check_text(text: str, origin: str = "<text>") -> list[str]:
    return _build(text, origin)[1]


def check_file(path: str | Path) -> list[str]:
    """Every error of the pack at ``path``, each as ``"PATH:LINE: message"``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    return _build(text, str(path))[1]


DEFAULT_PACK = "default.yaml"


def default_pack_text() -> str:
    return resources.files("rules.packs").joinpath(DEFAULT_PACK).read_text(encoding="utf-8")


def load_default_pack() -> RulePack:
    """The contract's default rules (``rules/packs/default.yaml``)."""
    pack, errors = _build(default_pack_text(), "rules/packs/default.yaml")
    if pack is None:  # pragma: no cover - guarded by the tests
        raise RuleError("default pack is invalid:\n" + "\n".join(errors), errors=errors)
    return pack
