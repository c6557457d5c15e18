"""A pack's named constants (``params:``) and derived values (``derive:``).

Lifecycle: :func:`compile_params` and :func:`compile_derived` run once per pack, before its
rules are compiled (``rules.pack``): the params become constants every condition of the
pack may name, and each derived value becomes a :class:`rules.pack_model.Derived` the
engine computes for every reading of a device it applies to (``rules.engine``), and a field
the pack's rules may read like any other::

    params:                      # published thresholds, one place to tune them
      eps_sat: 1.1               # a number (or a list, where a rule wants several)
    derive:
      - name: mode               # a string from the first case that holds
        system: hvac
        device_types: [ahu]
        cases:
          - {when: "fan == false", value: "off"}
          - {when: "heat_valve > 2", value: heating}
        else: unknown
      - name: os                 # or a number computed by an expression
        expr: "..."

A case that is unknown (a field never sent) makes the value unknown, so a derived value
never claims more than the readings say.
"""

from __future__ import annotations

import math
from typing import Any

from rules.lang import RuleError, compile_condition, compile_expression
from rules.pack_fields import ALL_STANDARD_FIELDS, ID_RE, STANDARD_FIELDS, str_list
from rules.pack_model import Derived
from rules.pack_yaml import Errors, LDict, line_of
from rules.vocab import SYSTEMS

_DERIVE_KEYS = {"name", "system", "device_types", "cases", "else", "expr", "fields", "description"}


def compile_params(data: Any, err: Errors, line: int) -> dict[str, float]:
    """``params:`` -> name -> number (every bad entry goes to ``err``)."""
    out: dict[str, float] = {}
    if data is None:
        return out
    if not isinstance(data, dict):
        err.add(line, "params: a mapping of name to number")
        return out
    for k, v in data.items():
        if not isinstance(k, str) or not ID_RE.match(k) or "." in k or "-" in k:
            err.add(line_of(data, k), f"params: {k!r} is not a name (letters, digits, _)")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            err.add(line_of(data, k), f"params: {k}: {v!r} is not a number")
        else:
            out[k] = v
    return out


def compile_derived(
    data: Any, params: dict[str, float], err: Errors, line: int
) -> tuple[Derived, ...]:
    """``derive:`` -> the derived values in order (a later one may read an earlier one)."""
    if data is None:
        return ()
    if not isinstance(data, list):
        err.add(line, "derive: a list of {name, cases | expr}")
        return ()
    out: list[Derived] = []
    names: set[str] = set()
    for i, d in enumerate(data):
        dl = d.line if isinstance(d, LDict) else line
        if not isinstance(d, dict):
            err.add(dl, f"derive[{i}]: a mapping")
            continue
        n_before = len(err.items)
        name = d.get("name")
        label = f"derive {name!r}" if isinstance(name, str) else f"derive[{i}]"
        for k in d:
            if k not in _DERIVE_KEYS:
                err.add(line_of(d, k), f"{label}: unknown key {k!r}")
        if not isinstance(name, str) or not ID_RE.match(name) or name in params:
            err.add(dl, f"{label}: name: a field name not used by params")
            continue
        if name in names or name in ALL_STANDARD_FIELDS:
            err.add(dl, f"{label}: {name!r} is already a field")
            continue
        system = d.get("system")
        if system is not None and system not in SYSTEMS:
            err.add(line_of(d, "system"), f"{label}: system: {system!r} is not a system")
            system = None
        device_types = None
        try:
            if "device_types" in d:
                device_types = frozenset(str_list(d["device_types"], "device_types"))
            declared = frozenset(str_list(d["fields"], "fields")) if "fields" in d else frozenset()
        except RuleError as exc:
            err.add(dl, f"{label}: {exc}")
            continue
        known = (STANDARD_FIELDS[system] if system else ALL_STANDARD_FIELDS) | declared | names
        fields: frozenset[str] = frozenset()
        hist: dict[str, int] = {}
        cases: list[tuple[Any, str | float]] = []
        expr = None
        if ("cases" in d) == ("expr" in d):
            err.add(dl, f"{label}: give either `cases` or `expr`")
        elif "expr" in d:
            try:
                e = compile_expression(d["expr"], None, params)
                expr, fields, hist = e.fn, e.fields, dict(e.history)
            except RuleError as exc:
                err.add(line_of(d, "expr"), f"{label}: expr: {exc}")
        else:
            items = d["cases"]
            if not isinstance(items, list) or not items:
                err.add(line_of(d, "cases"), f"{label}: cases: a list of {{when, value}}")
                items = []
            for c in items:
                cl = line_of(c, "when") if isinstance(c, dict) else line_of(d, "cases")
                if not isinstance(c, dict) or set(c) != {"when", "value"}:
                    err.add(cl, f"{label}: a case is {{when: CONDITION, value: VALUE}}")
                    continue
                v = c["value"]
                if isinstance(v, bool) or not isinstance(v, str | int | float):
                    err.add(cl, f"{label}: value: a string or a number")
                    continue
                try:
                    cond = compile_condition(c["when"], None, params)
                except RuleError as exc:
                    err.add(cl, f"{label}: when: {exc}")
                    continue
                fields |= cond.fields
                for f, w in cond.history.items():
                    hist[f] = max(hist.get(f, 0), w)
                cases.append((cond.fn, v))
        for f in sorted(fields - known):
            err.add(dl, f"{label}: unknown field {f!r} (declare it under `fields:`)")
        default = d.get("else")
        if default is not None and (
            isinstance(default, bool) or not isinstance(default, str | int | float)
        ):
            err.add(line_of(d, "else"), f"{label}: else: a string or a number")
        if len(err.items) > n_before:
            continue
        names.add(name)
        out.append(
            Derived(name, system, device_types, tuple(cases), default, expr, fields, hist, dl)
        )
    return tuple(out)
