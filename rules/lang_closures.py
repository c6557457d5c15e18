"""The closures a compiled condition is made of, and how they evaluate (three-valued).

Lifecycle: the parser (``rules.lang_parser``) builds one :class:`Node` per piece of a
condition while it parses, folding constants and picking a specialised closure where one
fits (``field OP constant``, ``field OP field + constant``); the finished condition keeps
only the root's ``fn``, which the engine then calls for every reading as
``fn(values, device)``. Nothing here is ever ``eval``-ed, and no closure raises.

Evaluation is three-valued (Kleene): a field the device never sent is *unknown*
(``None``), and so is anything computed from it (``unknown and false`` is false,
``unknown or true`` is true). A rule raises only on a definite ``true``, and a rule
without an explicit ``clear`` clears only on a definite ``false``; so missing data never
raises or clears anything. A rule can give fields a default (``defaults: {fan: true}``)
to say how a field the device does not report should count. Type mismatches at run time
(a string compared with a number, a division by zero) are unknown, never an exception.
A bare field in a boolean position is its truth value (numbers: non-zero; strings
``true/on/yes/1`` and ``false/off/no/0``; anything else unknown).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Fn = Callable[[Mapping[str, Any], Any], Any]
Op = Callable[[Any, Any], Any]

BOOL, NUM, STR, FIELD = "bool", "num", "str", "field"
_NUMERIC = (int, float)


@dataclass(slots=True)
class Node:
    kind: str
    fn: Fn
    fields: frozenset[str] = frozenset()
    const: bool = False
    value: Any = None
    name: str | None = None  # a bare field
    offset: tuple[str, float] | None = None  # "field + constant"
    history: dict[str, int] = field(default_factory=dict)  # field -> window ms


def truth(x: Any) -> bool | None:
    """The truth value of a field value (three-valued)."""
    if x is None:
        return None
    cls = x.__class__
    if cls is bool:
        return x  # type: ignore[no-any-return]
    if cls is int or cls is float:
        return x != 0  # type: ignore[no-any-return]
    if cls is str:
        low = x.lower()
        if low in ("true", "on", "yes", "1"):
            return True
        if low in ("false", "off", "no", "0"):
            return False
    return None


def const(kind: str, value: Any) -> Node:
    return Node(kind, lambda v, d: value, const=True, value=value)


def merge(*nodes: Node) -> tuple[frozenset[str], dict[str, int]]:
    """The fields and history windows of several nodes together."""
    fields: frozenset[str] = frozenset()
    hist: dict[str, int] = {}
    for n in nodes:
        fields |= n.fields
        for f, w in n.history.items():
            hist[f] = max(hist.get(f, 0), w)
    return fields, hist


CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ARITH: dict[str, Op] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def eq(op: Callable[[Any, Any], bool], x: Any, y: Any) -> Any:
    # booleans only equal booleans (``fault_code == true`` is not ``fault_code == 1``)
    if (x.__class__ is bool) != (y.__class__ is bool):
        return op is operator.ne
    return op(x, y)


# --------------------------------------------------------------------------- fields


def field_value(name: str, dflt: Any) -> Fn:
    """The latest value of a field (its default when the device never sent it)."""
    if dflt is None:
        return lambda v, d: v.get(name)
    return lambda v, d: v.get(name, dflt)


def field_truth(name: str, dflt: Any) -> Fn:
    def f_truth(v: Mapping[str, Any], d: Any) -> Any:
        x = v.get(name, dflt)
        return x if x.__class__ is bool else truth(x)  # a boolean field is its own truth

    return f_truth


def truth_of(fn: Fn) -> Fn:
    return lambda v, d: truth(fn(v, d))


def change(fld: str, window: int, per_minute: bool) -> Fn:
    """``delta`` (or, per minute, ``rate``) of ``fld`` over ``window`` ms: asks the device."""

    def f_change(v: Mapping[str, Any], d: Any) -> Any:
        return d.change(fld, window, per_minute) if d is not None else None

    return f_change


def window_stat(fld: str, window: int, kind: str) -> Fn:
    """``avg``/``changes``/``reversals`` of ``fld`` over ``window`` ms: asks the device."""

    def f_window(v: Mapping[str, Any], d: Any) -> Any:
        return d.window_stat(fld, window, kind) if d is not None else None

    return f_window


# --------------------------------------------------------------------------- logic


def not_(fn: Fn) -> Fn:
    def f_not(v: Mapping[str, Any], d: Any) -> Any:
        x = fn(v, d)
        return None if x is None else not x

    return f_not


def or_all(parts: list[Node]) -> Node:
    fields, hist = merge(*parts)
    fns = tuple(p.fn for p in parts)

    def f_or(v: Mapping[str, Any], d: Any) -> Any:
        unknown = False
        for fn in fns:
            x = fn(v, d)
            if x is True:
                return True
            if x is None:
                unknown = True
        return None if unknown else False

    return Node(BOOL, f_or, fields, history=hist)


def and_all(parts: list[Node]) -> Node:
    fields, hist = merge(*parts)
    if len(parts) == 2:
        f1, f2 = parts[0].fn, parts[1].fn

        def f_and2(v: Mapping[str, Any], d: Any) -> Any:
            x = f1(v, d)
            if x is False:
                return False
            y = f2(v, d)
            if y is False:
                return False
            if x is None or y is None:
                return None
            return True

        return Node(BOOL, f_and2, fields, history=hist)
    fns = tuple(p.fn for p in parts)

    def f_and(v: Mapping[str, Any], d: Any) -> Any:
        unknown = False
        for fn in fns:
            x = fn(v, d)
            if x is False:
                return False
            if x is None:
                unknown = True
        return None if unknown else True

    return Node(BOOL, f_and, fields, history=hist)


# --------------------------------------------------------------------------- comparisons


def cmp_any(op: Callable[[Any, Any], bool], ordered: bool, fa: Fn, fb: Fn) -> Fn:
    """``a OP b`` for any two operands (unknown when either is, or they do not compare)."""
    if ordered:

        def f_cmp(v: Mapping[str, Any], d: Any) -> Any:
            x = fa(v, d)
            if x is None:
                return None
            y = fb(v, d)
            if y is None:
                return None
            try:
                return op(x, y)
            except TypeError:
                return None

        return f_cmp

    def f_eq(v: Mapping[str, Any], d: Any) -> Any:
        x = fa(v, d)
        if x is None:
            return None
        y = fb(v, d)
        if y is None:
            return None
        return eq(op, x, y)

    return f_eq


def cmp_field_const(
    name: str, dflt: Any, op: Callable[[Any, Any], bool], c: Any, ordered: bool
) -> Fn:
    """``field OP constant``: the common case, one dict lookup and one comparison."""
    if ordered:

        def f(v: Mapping[str, Any], d: Any) -> Any:
            x = v.get(name, dflt)
            if x is None:
                return None
            try:
                return op(x, c)
            except TypeError:
                return None

        return f
    c_is_bool = c.__class__ is bool
    is_ne = op is operator.ne

    def f_eq(v: Mapping[str, Any], d: Any) -> Any:
        x = v.get(name, dflt)
        if x is None:
            return None
        if (x.__class__ is bool) != c_is_bool:
            return is_ne
        return op(x, c)

    return f_eq


def cmp_field_offset(
    a: str, da: Any, op: Callable[[Any, Any], bool], b: str, db: Any, off: float
) -> Fn:
    """``field OP other_field + constant`` (``zone_temp > setpoint + 3``)."""

    def f(v: Mapping[str, Any], d: Any) -> Any:
        x = v.get(a, da)
        if x is None:
            return None
        y = v.get(b, db)
        if y is None or y.__class__ not in _NUMERIC:
            return None
        try:
            return op(x, y + off)
        except TypeError:
            return None

    return f


# --------------------------------------------------------------------------- arithmetic


def arith_any(op: Op, fa: Fn, fb: Fn) -> Fn:
    """``a OP b`` on numbers (unknown for anything else, a division by zero, an overflow)."""

    def f_arith(v: Mapping[str, Any], d: Any) -> Any:
        x = fa(v, d)
        if x is None or x.__class__ not in _NUMERIC:
            return None
        y = fb(v, d)
        if y is None or y.__class__ not in _NUMERIC:
            return None
        try:
            return op(x, y)
        except (ZeroDivisionError, OverflowError):
            return None

    return f_arith


def arith_field_const(name: str, dflt: Any, c: float) -> Fn:
    def f(v: Mapping[str, Any], d: Any) -> Any:
        x = v.get(name, dflt)
        if x is None or x.__class__ not in _NUMERIC:
            return None
        return x + c

    return f


def neg(fn: Fn) -> Fn:
    def f_neg(v: Mapping[str, Any], d: Any) -> Any:
        x = fn(v, d)
        return -x if x is not None and x.__class__ in _NUMERIC else None

    return f_neg


def abs_of(fn: Fn) -> Fn:
    def f_abs(v: Mapping[str, Any], d: Any) -> Any:
        x = fn(v, d)
        return abs(x) if x is not None and x.__class__ in _NUMERIC else None

    return f_abs


def sqrt_of(fn: Fn) -> Fn:
    def f_sqrt(v: Mapping[str, Any], d: Any) -> Any:
        x = fn(v, d)
        if x is None or x.__class__ not in _NUMERIC or x < 0:
            return None
        return math.sqrt(x)

    return f_sqrt


def min_max(pick: Callable[..., Any], fns: tuple[Fn, ...]) -> Fn:
    """``min(a, b, ...)`` / ``max(a, b, ...)``: unknown when any argument is."""

    def f_pick(v: Mapping[str, Any], d: Any) -> Any:
        xs = []
        for fn in fns:
            x = fn(v, d)
            if x is None or x.__class__ not in _NUMERIC:
                return None
            xs.append(x)
        return pick(xs)

    return f_pick
