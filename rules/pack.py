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
      value: "abs(sat - mat)"          # or an expression: the alarm's value (a residual)
      context: {mode: mode, waste_kw: "3.6 * abs(sat - mat)"}   # figures put on the hit

A pack may also name constants (``params:``, e.g. published thresholds) every condition
may use, and values derived from several fields (``derive:``, e.g. an air handler's
operating mode) every rule may read like a field: see ``rules.pack_derive``. Several packs
run together as one (:func:`load_packs`, :func:`merge_packs`: ``default,fdd``).

Each of the five texts is either one text (in whatever language the operator writes) or
both languages of the pages, ``{en: "...", zh: "..."}`` (either may be left out). The
Chinese text lands in the spec's ``*_zh`` fields (and ``Rule.message_zh`` for the template);
the other field holds the English text, or the Chinese one when there is no English.

Lifecycle: a pack is read once, when the gateway starts (:func:`load_pack`,
:func:`load_default_pack`), or checked by ``sitewatch rules check`` (:func:`check_file`:
every error, each as ``PATH:LINE: message``), and never changes after. This module checks
the pack as a whole (top-level keys, version, duplicate ids, guards naming unknown rules);
the rest has its own modules:

* ``rules.pack_yaml``: YAML with line numbers, so errors carry the line they come from;
* ``rules.pack_fields``: the keys of a rule, the standard fields, the template names, and
  parsers of name lists, crews and texts in one or two languages;
* ``rules.pack_rule``: one rule validated and compiled;
* ``rules.pack_model``: the compiled :class:`Rule` and :class:`RulePack`.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from rules.lang import RuleError
from rules.pack_derive import compile_derived, compile_params
from rules.pack_fields import (
    ALL_STANDARD_FIELDS,
    CREW_RE,
    ID_RE,
    SCOPES,
    STANDARD_FIELDS,
    TEMPLATE_BUILTINS,
    TEXT_LANGS,
    TOP_KEYS,
)
from rules.pack_model import Derived, Guard, Rule, RulePack
from rules.pack_rule import compile_rule
from rules.pack_yaml import Errors, LList, line_of, load_yaml

__all__ = [
    "ALL_STANDARD_FIELDS",
    "CREW_RE",
    "DEFAULT_PACK",
    "ID_RE",
    "SCOPES",
    "STANDARD_FIELDS",
    "TEMPLATE_BUILTINS",
    "TEXT_LANGS",
    "Derived",
    "Guard",
    "Rule",
    "RulePack",
    "check_file",
    "check_text",
    "default_pack_text",
    "load_default_pack",
    "load_pack",
    "load_packs",
    "merge_packs",
    "pack_text",
]


def _build(text: str, origin: str) -> tuple[RulePack | None, list[str]]:
    data, yaml_errors = load_yaml(text)
    err = Errors()
    for line, msg in yaml_errors:
        err.add(line, msg)
    rules: list[Rule] = []
    derived: tuple[Derived, ...] = ()
    if data is None and not err.items:
        err.add(1, "empty rule pack")
    elif data is not None and not isinstance(data, dict):
        err.add(1, "a rule pack is a mapping with `rules:`")
    elif isinstance(data, dict):
        for key in data:
            if key not in TOP_KEYS:
                err.add(line_of(data, key), f"unknown top-level key {key!r} (version, rules)")
        version = data.get("version", 1)
        if version != 1:
            err.add(line_of(data, "version"), f"version: {version!r} is not supported (1)")
        params = compile_params(data.get("params"), err, line_of(data, "params"))
        derived = compile_derived(data.get("derive"), params, err, line_of(data, "derive"))
        dnames = frozenset(x.name for x in derived)
        items = data.get("rules")
        if not isinstance(items, list) or not items:
            err.add(line_of(data, "rules"), "rules: a non-empty list of rules")
            items = []
        lines = items.lines if isinstance(items, LList) else [0] * len(items)
        seen: dict[str, int] = {}
        for i, (item, line) in enumerate(zip(items, lines, strict=True)):
            rule = compile_rule(item, i, line, err, params, dnames)
            rid = item.get("id") if isinstance(item, dict) else None
            if isinstance(rid, str):
                if rid in seen:
                    err.add(
                        line_of(item, "id"),
                        f"rule {rid!r}: duplicate id (first on line {seen[rid]})",
                    )
                    rule = None
                else:
                    seen[rid] = line_of(item, "id")
            if rule is not None:
                rules.append(rule)
        by_id = {r.id: r for r in rules}
        for r in rules:
            if r.guard is not None:
                target = by_id.get(r.guard.rule)
                if r.guard.rule == r.id:
                    err.add(r.line, f"rule {r.id!r}: unless_active: a rule cannot guard itself")
                elif target is None and r.guard.rule not in seen:
                    err.add(r.line, f"rule {r.id!r}: unless_active: unknown rule {r.guard.rule!r}")
    errors = [f"{origin}:{line}: {msg}" for line, msg in sorted(err.items, key=lambda x: x[0])]
    if errors:
        return None, errors
    return RulePack(tuple(rules), origin, 1, derived), []


def _read(source: str | Path) -> tuple[str, str]:
    if isinstance(source, Path) or (
        "\n" not in source and not source.lstrip().startswith(("rules:", "version:", "{"))
    ):
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


def pack_text(name: str) -> str:
    """The text of a pack shipped in ``rules/packs`` (``default``, ``fdd``)."""
    if not name.replace("_", "").replace("-", "").isalnum():
        raise RuleError(f"{name!r} is not a rule pack name")
    res = resources.files("rules.packs").joinpath(f"{name}.yaml")
    if not res.is_file():
        raise RuleError(f"no rule pack named {name!r} (shipped: default, fdd)")
    return res.read_text(encoding="utf-8")


def merge_packs(packs: list[RulePack]) -> RulePack:
    """Several packs run as one: their rules in order (renumbered), their derived values
    in order. Raises :class:`RuleError` on a rule id or derived name given twice."""
    if len(packs) == 1:
        return packs[0]
    rules: list[Rule] = []
    derived: list[Derived] = []
    ids: dict[str, str] = {}
    for p in packs:
        for r in p.rules:
            if r.id in ids:
                raise RuleError(f"rule {r.id!r} is in both {ids[r.id]} and {p.origin}")
            ids[r.id] = p.origin
            rules.append(replace(r, index=len(rules)))
        for x in p.derived:
            if any(y.name == x.name for y in derived):
                raise RuleError(f"derived value {x.name!r} is defined twice ({p.origin})")
            derived.append(x)
    origin = ",".join(p.origin for p in packs)
    return RulePack(tuple(rules), origin, 1, tuple(derived))


def load_packs(spec: str) -> RulePack:
    """``"default,fdd"``: the packs named (shipped names or file paths), merged."""
    packs: list[RulePack] = []
    for part in (x.strip() for x in spec.split(",")):
        if not part:
            continue
        if part == "default":
            packs.append(load_default_pack())
        elif "/" in part or part.endswith((".yaml", ".yml")):
            packs.append(load_pack(Path(part)))
        else:
            pack, errors = _build(pack_text(part), f"rules/packs/{part}.yaml")
            if pack is None:
                raise RuleError(f"pack {part!r} is invalid:\n" + "\n".join(errors), errors=errors)
            packs.append(pack)
    if not packs:
        raise RuleError("no rule pack named (e.g. default,fdd)")
    return merge_packs(packs)
