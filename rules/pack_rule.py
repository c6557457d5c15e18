"""One rule of a pack: a YAML mapping validated and compiled into a :class:`Rule`.

Lifecycle: :func:`compile_rule` runs once per rule when a pack is built (``rules.pack``).
It checks every key (an unknown one gets a "did you mean" hint), compiles the conditions
(``rules.lang``), templates (``rules.template``) and time windows (``rules.timewin``),
checks that the fields and template names it uses exist, and reports every problem it
finds (not only the first) with its line; it returns ``None`` when there was any.
"""

from __future__ import annotations

import difflib
from typing import Any, cast

from rules.lang import (
    Condition,
    Fn,
    RuleError,
    compile_condition,
    compile_expression,
    parse_duration_ms,
)
from rules.model import CrewDispatch, RuleSpec
from rules.pack_fields import (
    ALL_STANDARD_FIELDS,
    ID_RE,
    RULE_KEYS,
    SCOPES,
    STANDARD_FIELDS,
    TEMPLATE_BUILTINS,
    bilingual,
    first_field,
    parse_crews,
    str_list,
    templates,
)
from rules.pack_model import Guard, Rule
from rules.pack_yaml import Errors, LDict, line_of
from rules.timewin import WindowSpec, parse_window
from rules.vocab import PRIORITIES, SYSTEMS, Priority


def compile_rule(  # noqa: C901
    d: Any,
    index: int,
    line: int,
    err: Errors,
    params: dict[str, float] | None = None,
    derived: frozenset[str] = frozenset(),
) -> Rule | None:
    """The rule ``d`` (``rules[index]``, on YAML line ``line``), or ``None`` after adding
    every problem it has to ``err``. ``params`` are the pack's named constants and
    ``derived`` the names of its derived values (fields every rule may read)."""
    if not isinstance(d, dict):
        err.add(line, f"rules[{index}]: a rule is a mapping, not {type(d).__name__}")
        return None
    rid = d.get("id")
    label = f"rule {rid!r}" if isinstance(rid, str) else f"rules[{index}]"
    n_before = len(err.items)

    def bad(key: str, msg: str) -> None:
        err.add(line_of(d, key), f"{label}: {msg}")

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
        if key not in RULE_KEYS:
            close = difflib.get_close_matches(str(key), sorted(RULE_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            bad(key, f"unknown key {key!r}{hint}")

    if not isinstance(rid, str) or not ID_RE.match(rid):
        if isinstance(rid, bool):
            bad("id", "id: YAML reads yes/no/on/off as booleans; quote the id")
        elif "id" in d:
            bad("id", "id: 1 to 64 letters, digits, '.', '_' or '-'")
        else:
            err.add(d.line if isinstance(d, LDict) else line, f"{label}: id: required")
        rid = f"rules[{index}]"

    system = d.get("system")
    if system in ("any", "all"):
        system = None
    if system is not None and system not in SYSTEMS:
        bad("system", f"system: {system!r} is not one of {', '.join(SYSTEMS)}")
        system = None

    device_types = get("device_types", lambda v: frozenset(str_list(v, "device_types")))

    raises = d.get("raises", "alarm")
    if raises not in ("alarm", "ticket", "both"):
        bad("raises", f"raises: {raises!r} is not alarm, ticket or both")
        raises = "alarm"

    priority = d.get("priority")
    if priority not in PRIORITIES:
        if "priority" in d:
            bad("priority", f"priority: {priority!r} is not one of {', '.join(PRIORITIES)}")
        else:
            err.add(d.line if isinstance(d, LDict) else line, f"{label}: priority: required")
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
    declared = get("fields", lambda v: frozenset(str_list(v, "fields"))) or frozenset()

    def cond(key: str) -> Condition | None:
        return get(key, lambda v: compile_condition(v, defaults, params))

    when = cond("when")
    clear = cond("clear")
    events = get("event", lambda v: frozenset(str_list(v, "event"))) or frozenset()
    clear_events = (
        get("clear_event", lambda v: frozenset(str_list(v, "clear_event"))) or frozenset()
    )
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
        err.add(
            d.line if isinstance(d, LDict) else line,
            f"{label}: needs a trigger: `when`, `event` or `offline`",
        )
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
        if (
            not isinstance(v, dict)
            or not isinstance(v.get("rule"), str)
            or set(v) - {"rule", "same"}
        ):
            bad("unless_active", "unless_active: {rule: RULE_ID, same: zone|device|site}")
        elif v.get("same", "zone") not in SCOPES:
            bad(
                "unless_active",
                f"unless_active: same: {v.get('same')!r} is not zone, device or site",
            )
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
    known = (STANDARD_FIELDS[system] if system else ALL_STANDARD_FIELDS) | declared | derived
    # `value:` as an expression (a residual) and `context:` figures put on the hit
    value_fn: Fn | None = None
    value_raw = d.get("value")
    if isinstance(value_raw, str) and value_raw not in known and not value_raw.isidentifier():
        try:
            vexpr = compile_expression(value_raw, defaults, params)
        except RuleError as exc:
            bad("value", f"value: {exc}")
        else:
            value_fn = vexpr.fn
            fields |= vexpr.fields
            for f_, w in vexpr.history.items():
                history[f_] = max(history.get(f_, 0), w)
    context_fns: list[tuple[str, Fn]] = []
    ctx_raw = d.get("context")
    if ctx_raw is not None and not isinstance(ctx_raw, dict):
        bad("context", "context: a mapping of name to expression")
    elif isinstance(ctx_raw, dict):
        for name, text in ctx_raw.items():
            if not isinstance(name, str) or not name.isidentifier():
                bad("context", f"context: {name!r} is not a name")
                continue
            try:
                cexpr = compile_expression(text, defaults, params)
            except RuleError as exc:
                bad("context", f"context: {name}: {exc}")
                continue
            context_fns.append((name, cexpr.fn))
            fields |= cexpr.fields
            for f_, w in cexpr.history.items():
                history[f_] = max(history.get(f_, 0), w)
    checked = fields | set(defaults)
    if kind == "event":  # an event rule's `when` may read the event's own attributes
        checked = (clear.fields if clear is not None else frozenset()) | declared
        known = known | (when.fields if when is not None else frozenset())
    for f_ in sorted(checked):
        if f_ not in known:
            where = (
                "clear"
                if clear is not None
                and f_ in clear.fields
                and (when is None or f_ not in when.fields)
                else "when"
            )
            if f_ in defaults and f_ not in fields:
                where = "defaults"
            bad(
                where,
                f"unknown field {f_!r} for {system or 'any system'} "
                f"(declare custom fields under `fields:`)",
            )
    value_field = d.get("value") if value_fn is None else None
    if value_field is not None and (not isinstance(value_field, str) or value_field not in known):
        bad("value", f"value: {value_field!r} is not a field of the rule")
        value_field = None
    if value_field is None and value_fn is None and when is not None:
        value_field = first_field(when.text, when.fields)

    crews: tuple[CrewDispatch, ...] = get("crews", lambda v: parse_crews(v, "crews")) or ()
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
                    cbs.append((s, parse_crews(cv, f"crew_by_system.{s}")))
                except RuleError as exc:
                    bad("crew_by_system", str(exc))
    if raises in ("ticket", "both") and not crews and not cbs:
        bad("raises", f"raises: {raises} needs `crews`")

    # texts, each in one language or as {en: ..., zh: ...}
    message, message_zh = get("message", templates) or (None, None)
    if "message" not in d:
        err.add(d.line if isinstance(d, LDict) else line, f"{label}: message: required")
    clear_message, clear_message_zh = get("clear_message", templates) or (None, None)
    allowed = TEMPLATE_BUILTINS | known | {name for name, _ in context_fns}
    for key, tpl in (
        ("message", message),
        ("message", message_zh),
        ("clear_message", clear_message),
        ("clear_message", clear_message_zh),
    ):
        if tpl is None or kind == "event":  # event attributes are free-form
            continue
        for name in sorted(tpl.names - allowed):
            bad(key, f"{key}: unknown name {{{name}}} in the template")
    texts: dict[str, str] = {}
    for key in ("action", "cause", "consequence"):
        try:
            v, zh = bilingual(d.get(key, ""))
        except RuleError as exc:
            bad(key, f"{key}: {exc}")
            v, zh = "", None
        if not isinstance(v, str) or not isinstance(zh, str | None):
            bad(key, f"{key}: a text, or {{en: ..., zh: ...}}")
            v, zh = "", None
        texts[key] = v.strip()
        texts[f"{key}_zh"] = (zh or "").strip()
    if not texts["action"]:
        if "action" in d:
            bad("action", "action: must not be empty")
        else:
            err.add(
                d.line if isinstance(d, LDict) else line,
                f"{label}: action: required (what the operator should do)",
            )

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
        message_zh=message_zh.text if message_zh is not None else "",
        action_zh=texts["action_zh"],
        cause_zh=texts["cause_zh"],
        consequence_zh=texts["consequence_zh"],
        crews=crews,
        clears_on_ack=clears_on_ack,
        priority_by_system=tuple(pbs),
        crew_by_system=tuple(cbs),
    )
    return Rule(
        spec=spec,
        index=index,
        kind=kind,
        system=system,
        device_types=device_types,
        when=when,
        clear=clear,
        events=events,
        clear_events=clear_events,
        delay_ms=int(delay_ms),
        clear_delay_ms=int(clear_delay_ms),
        window=window,
        guard=guard,
        value_field=value_field,
        message=message,
        clear_message=clear_message,
        offline_factor=offline_factor,
        offline_min_ms=offline_min_ms,
        fields=fields,
        history=history,
        line=d.line if isinstance(d, LDict) else line,
        message_zh=message_zh,
        clear_message_zh=clear_message_zh,
        value_fn=value_fn,
        context_fns=tuple(context_fns),
    )
