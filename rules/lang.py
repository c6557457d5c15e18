"""The condition language of rule packs: a tokenizer and a recursive-descent parser that
compile a condition once into small closures. Nothing is ever ``eval``-ed.

Grammar (whitelisted operators only)::

    condition := or
    or        := and ("or" and)*
    and       := not ("and" not)*
    not       := "not" not | compare
    compare   := arith [("<" | "<=" | ">" | ">=" | "==" | "!=") arith]
    arith     := term (("+" | "-") term)*
    term      := unary (("*" | "/") unary)*
    unary     := ("-" | "+") unary | primary
    primary   := NUMBER | STRING | "true" | "false" | FIELD
               | FUNC "(" args ")" | "(" condition ")"
    FUNC      := rate(FIELD, DURATION) | delta(FIELD, DURATION) | abs(arith)

``FIELD`` is a telemetry field of the device (its latest value, whenever it was sent);
``DURATION`` is ``300s``, ``10m``, ``1h``, ``500ms``, ``1d``. ``delta(f, W)`` is the change
of ``f`` over the last ``W`` (latest value minus the newest value at least ``W`` older);
``rate(f, W)`` is the same change expressed per minute.

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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_EXPR_LEN = 2000
MAX_DEPTH = 40

Value = float | int | bool | str
Fn = Callable[[Mapping[str, Any], Any], Any]


class RuleError(ValueError):
    """A rule pack or a condition is invalid. ``errors`` lists every problem found."""

    def __init__(self, message: str, *, col: int | None = None, errors: list[str] | None = None):
        super().__init__(message)
        self.col = col
        self.errors = errors if errors is not None else [message]


_DUR_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DUR_RE = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*)+$")
_DUR_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")


def parse_duration_ms(value: object) -> int:
    """``300`` / ``300s`` / ``5m`` / ``1h30m`` / ``500ms`` -> milliseconds (a bare number
    is seconds). Raises :class:`RuleError`."""
    if isinstance(value, bool):
        raise RuleError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise RuleError(f"not a duration: {value!r}")
        return int(round(value * 1000))
    if isinstance(value, str):
        if _DUR_RE.match(value):
            total = 0.0
            for num, unit in _DUR_PART.findall(value):
                total += float(num) * _DUR_UNITS[unit]
            if not math.isfinite(total):
                raise RuleError(f"not a duration: {value!r}")
            return int(round(total))
        try:
            secs = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(secs) and secs >= 0:
                return int(round(secs * 1000))
    raise RuleError(f"not a duration: {value!r} (write e.g. 300s, 5m, 1h)")


# --------------------------------------------------------------------------- tokens

_KEYWORDS = {"and", "or", "not", "true", "false"}
_FUNCS = {"rate", "delta", "abs"}
_OPS2 = {">=", "<=", "==", "!="}
_OPS1 = set("<>+-*/(),")
_DIGITS = frozenset("0123456789")
_NUM_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_UNIT_RE = re.compile(r"ms|s|m|h|d")
_HINTS = {"&&": "and", "||": "or", "=": "==", "!": "not", "&": "and", "|": "or"}


@dataclass(slots=True)
class Token:
    kind: str  # num dur name kw str op end
    text: str
    col: int
    value: Any = None


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        col = i + 1
        if c in _DIGITS or (c == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUM_RE.match(text, i)
            assert m is not None
            num_text = m.group(0)
            j = m.end()
            unit_m = _UNIT_RE.match(text, j)
            unit = None
            if unit_m is not None:
                k = unit_m.end()
                if k >= n or not (text[k].isalnum() or text[k] == "_"):
                    unit = unit_m.group(0)
                    j = k
            if j < n and (text[j].isalnum() or text[j] == "_"):
                raise RuleError(f"column {col}: malformed number {text[i:j + 1]!r}", col=col)
            try:
                num = float(num_text)
            except ValueError as exc:  # pragma: no cover - the regex only matches floats
                raise RuleError(f"column {col}: malformed number {num_text!r}", col=col) from exc
            if not math.isfinite(num):
                raise RuleError(f"column {col}: number out of range {num_text!r}", col=col)
            if unit is not None:
                toks.append(Token("dur", text[i:j], col, int(round(num * _DUR_UNITS[unit]))))
            else:
                val: float | int = int(num) if num.is_integer() and "." not in num_text \
                    and "e" not in num_text.lower() else num
                toks.append(Token("num", num_text, col, val))
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_") and text[j].isascii():
                j += 1
            word = text[i:j]
            if not word.isascii():
                raise RuleError(f"column {col}: unexpected character {c!r}", col=col)
            low = word.lower()
            if low in _KEYWORDS:
                toks.append(Token("kw", low, col))
            else:
                toks.append(Token("name", word, col))
            i = j
            continue
        if c in "\"'":
            j = text.find(c, i + 1)
            if j < 0:
                raise RuleError(f"column {col}: unterminated string", col=col)
            toks.append(Token("str", text[i : j + 1], col, text[i + 1 : j]))
            i = j + 1
            continue
        two = text[i : i + 2]
        if two in _OPS2:
            toks.append(Token("op", two, col))
            i += 2
            continue
        if two in _HINTS:
            raise RuleError(f"column {col}: {two!r} is not allowed, write {_HINTS[two]!r}", col=col)
        if c in _OPS1:
            toks.append(Token("op", c, col))
            i += 1
            continue
        if c in _HINTS:
            raise RuleError(f"column {col}: {c!r} is not allowed, write {_HINTS[c]!r}", col=col)
        raise RuleError(f"column {col}: unexpected character {c!r}", col=col)
    toks.append(Token("end", "", n + 1))
    return toks


# --------------------------------------------------------------------------- nodes

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


def _const(kind: str, value: Any) -> Node:
    return Node(kind, lambda v, d: value, const=True, value=value)


def _merge(*nodes: Node) -> tuple[frozenset[str], dict[str, int]]:
    fields: frozenset[str] = frozenset()
    hist: dict[str, int] = {}
    for n in nodes:
        fields |= n.fields
        for f, w in n.history.items():
            hist[f] = max(hist.get(f, 0), w)
    return fields, hist


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
}


def _eq(op: Callable[[Any, Any], bool], x: Any, y: Any) -> Any:
    # booleans only equal booleans (``fault_code == true`` is not ``fault_code == 1``)
    if (x.__class__ is bool) != (y.__class__ is bool):
        return op is operator.ne
    return op(x, y)


class _Parser:
    def __init__(self, text: str, defaults: Mapping[str, Any]):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.depth = 0
        self.defaults = defaults

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def error(self, msg: str, tok: Token | None = None) -> RuleError:
        t = tok or self.tok
        return RuleError(f"column {t.col}: {msg}", col=t.col)

    def expect_op(self, op: str) -> Token:
        t = self.tok
        if t.kind != "op" or t.text != op:
            raise self.error(f"expected {op!r}, found {t.text or 'end of condition'!r}")
        self.i += 1
        return t

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("condition nested too deeply")

    def as_bool(self, n: Node, tok: Token) -> Node:
        if n.kind == BOOL:
            return n
        if n.kind == FIELD:
            name = n.name
            if name is not None:
                dflt = self.defaults.get(name)
                return Node(BOOL, lambda v, d: truth(v.get(name, dflt)), n.fields,
                            history=n.history)
            fn = n.fn
            return Node(BOOL, lambda v, d: truth(fn(v, d)), n.fields, history=n.history)
        raise self.error(f"expected a condition, found a {n.kind} value", tok)

    # -- grammar
    def parse(self) -> Node:
        first = self.tok
        if first.kind == "end":
            raise self.error("empty condition")
        n = self.parse_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}")
        return self.as_bool(n, first)

    def parse_or(self) -> Node:
        self.enter()
        start = self.tok
        left = self.parse_and()
        if self.tok.kind == "kw" and self.tok.text == "or":
            parts = [self.as_bool(left, start)]
            while self.tok.kind == "kw" and self.tok.text == "or":
                self.i += 1
                t = self.tok
                parts.append(self.as_bool(self.parse_and(), t))
            left = _or(parts)
        self.depth -= 1
        return left

    def parse_and(self) -> Node:
        start = self.tok
        left = self.parse_not()
        if self.tok.kind == "kw" and self.tok.text == "and":
            parts = [self.as_bool(left, start)]
            while self.tok.kind == "kw" and self.tok.text == "and":
                self.i += 1
                t = self.tok
                parts.append(self.as_bool(self.parse_not(), t))
            left = _and(parts)
        return left

    def parse_not(self) -> Node:
        if self.tok.kind == "kw" and self.tok.text == "not":
            self.i += 1
            self.enter()
            t = self.tok
            inner = self.as_bool(self.parse_not(), t)
            self.depth -= 1
            if inner.const:
                return _const(BOOL, None if inner.value is None else not inner.value)
            fn = inner.fn

            def f_not(v: Mapping[str, Any], d: Any) -> Any:
                x = fn(v, d)
                return None if x is None else not x

            return Node(BOOL, f_not, inner.fields, history=inner.history)
        return self.parse_compare()

    def parse_compare(self) -> Node:
        left = self.parse_arith()
        t = self.tok
        if t.kind == "op" and t.text in _CMP:
            self.i += 1
            right = self.parse_arith()
            nt = self.tok
            if nt.kind == "op" and nt.text in _CMP:
                raise self.error("chained comparisons are not allowed, use 'and'", nt)
            return self.compare(t, left, right)
        return left

    def compare(self, t: Token, a: Node, b: Node) -> Node:
        opname = t.text
        op = _CMP[opname]
        ordered = opname not in ("==", "!=")
        for n in (a, b):
            if ordered and n.kind == BOOL:
                raise self.error(f"{opname!r} needs numbers, not a condition or boolean", t)
        if ordered and {a.kind, b.kind} == {NUM, STR}:
            raise self.error(f"cannot compare a number and a string with {opname!r}", t)
        fields, hist = _merge(a, b)
        if a.const and b.const:
            try:
                return _const(BOOL, _eq(op, a.value, b.value) if not ordered
                              else op(a.value, b.value))
            except TypeError as exc:
                raise self.error(f"cannot compare {a.value!r} with {b.value!r}", t) from exc
        if a.const and b.name is not None:  # constant OP field -> field (flipped OP) constant
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
            return self.compare(Token("op", flipped[opname], t.col), b, a)
        if a.name is not None and b.const:
            return Node(BOOL, _cmp_field_const(a.name, self.defaults.get(a.name), op, b.value,
                                               ordered), fields, history=hist)
        if a.name is not None and b.offset is not None and ordered:
            bname, off = b.offset
            return Node(BOOL, _cmp_field_offset(a.name, self.defaults.get(a.name), op, bname,
                                                self.defaults.get(bname), off), fields,
                        history=hist)
        fa, fb = a.fn, b.fn
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

        else:

            def f_cmp(v: Mapping[str, Any], d: Any) -> Any:
                x = fa(v, d)
                if x is None:
                    return None
                y = fb(v, d)
                if y is None:
                    return None
                return _eq(op, x, y)

        return Node(BOOL, f_cmp, fields, history=hist)

    def parse_arith(self) -> Node:
        left = self.parse_term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            t = self.tok
            self.i += 1
            right = self.parse_term()
            left = self.arith(t, left, right)
        return left

    def parse_term(self) -> Node:
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            t = self.tok
            self.i += 1
            right = self.parse_unary()
            left = self.arith(t, left, right)
        return left

    def arith(self, t: Token, a: Node, b: Node) -> Node:
        for n in (a, b):
            if n.kind in (BOOL, STR):
                raise self.error(f"{t.text!r} needs numbers, not a {n.kind}", t)
        op = _ARITH[t.text]
        fields, hist = _merge(a, b)
        if a.const and b.const:
            try:
                val = op(a.value, b.value)
            except ZeroDivisionError as exc:
                raise self.error("division by zero", t) from exc
            if not math.isfinite(val):
                raise self.error("number out of range", t)
            return _const(NUM, val)
        if a.name is not None and b.const and t.text in ("+", "-"):
            name, dflt = a.name, self.defaults.get(a.name)
            c = b.value if t.text == "+" else -b.value
            off = _arith_field_const(name, dflt, c)
            return Node(NUM, off, fields, offset=(name, c), history=hist)
        fa, fb = a.fn, b.fn

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

        return Node(NUM, f_arith, fields, history=hist)

    def parse_unary(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.text in ("-", "+"):
            self.i += 1
            self.enter()
            inner = self.parse_unary()
            self.depth -= 1
            if inner.kind in (BOOL, STR):
                raise self.error(f"unary {t.text!r} needs a number", t)
            if t.text == "+":
                return inner
            if inner.const:
                return _const(NUM, -inner.value)
            fn = inner.fn

            def f_neg(v: Mapping[str, Any], d: Any) -> Any:
                x = fn(v, d)
                return -x if x is not None and x.__class__ in _NUMERIC else None

            return Node(NUM, f_neg, inner.fields, history=inner.history)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return _const(NUM, t.value)
        if t.kind == "str":
            self.i += 1
            return _const(STR, t.value)
        if t.kind == "kw" and t.text in ("true", "false"):
            self.i += 1
            return _const(BOOL, t.text == "true")
        if t.kind == "dur":
            raise self.error(f"a duration ({t.text}) is only allowed as a rate/delta window")
        if t.kind == "name":
            self.i += 1
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.parse_call(t)
            name = t.text
            dflt = self.defaults.get(name)
            if dflt is None:
                fn: Fn = lambda v, d: v.get(name)  # noqa: E731
            else:
                fn = lambda v, d: v.get(name, dflt)  # noqa: E731
            return Node(FIELD, fn, frozenset((name,)), name=name)
        if t.kind == "op" and t.text == "(":
            self.i += 1
            self.enter()
            inner = self.parse_or()
            self.depth -= 1
            self.expect_op(")")
            return inner
        if t.kind == "end":
            raise self.error("unexpected end of condition")
        raise self.error(f"unexpected {t.text!r}")

    def parse_call(self, name_tok: Token) -> Node:
        fname = name_tok.text
        if fname not in _FUNCS:
            raise self.error(f"unknown function {fname!r} (known: abs, delta, rate)", name_tok)
        self.expect_op("(")
        if fname == "abs":
            self.enter()
            inner = self.parse_arith()
            self.depth -= 1
            self.expect_op(")")
            if inner.kind in (BOOL, STR):
                raise self.error("abs() needs a number", name_tok)
            if inner.const:
                return _const(NUM, abs(inner.value))
            fn = inner.fn

            def f_abs(v: Mapping[str, Any], d: Any) -> Any:
                x = fn(v, d)
                return abs(x) if x is not None and x.__class__ in _NUMERIC else None

            return Node(NUM, f_abs, inner.fields, history=inner.history)
        ft = self.tok
        if ft.kind != "name":
            raise self.error(f"{fname}() needs a field name first", ft)
        self.i += 1
        self.expect_op(",")
        wt = self.tok
        if wt.kind != "dur":
            raise self.error(f"{fname}() needs a window like 10m as second argument", wt)
        self.i += 1
        self.expect_op(")")
        window = int(wt.value)
        if window <= 0:
            raise self.error(f"{fname}() window must be positive", wt)
        fld = ft.text
        per_minute = fname == "rate"

        def f_change(v: Mapping[str, Any], d: Any) -> Any:
            return d.change(fld, window, per_minute) if d is not None else None

        return Node(NUM, f_change, frozenset((fld,)), history={fld: window})


def _or(parts: list[Node]) -> Node:
    fields, hist = _merge(*parts)
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


def _and(parts: list[Node]) -> Node:
    fields, hist = _merge(*parts)
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


def _cmp_field_const(name: str, dflt: Any, op: Callable[[Any, Any], bool], c: Any,
                     ordered: bool) -> Fn:
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


def _cmp_field_offset(a: str, da: Any, op: Callable[[Any, Any], bool], b: str, db: Any,
                      off: float) -> Fn:
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


def _arith_field_const(name: str, dflt: Any, c: float) -> Fn:
    def f(v: Mapping[str, Any], d: Any) -> Any:
        x = v.get(name, dflt)
        if x is None or x.__class__ not in _NUMERIC:
            return None
        return x + c

    return f


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition. ``fn(values, device)`` returns True, False or None (unknown);
    ``device`` only needs a ``change(field, window_ms, per_minute)`` method (for
    ``rate``/``delta``) and may be ``None``."""

    text: str
    fn: Fn
    fields: frozenset[str]
    history: Mapping[str, int]  # field -> longest window (ms) that rate/delta look back

    def __call__(self, values: Mapping[str, Any], device: Any = None) -> bool | None:
        r = self.fn(values, device)
        return None if r is None else bool(r)


def compile_condition(text: object, defaults: Mapping[str, Any] | None = None) -> Condition:
    """Compile ``text`` or raise :class:`RuleError` (and nothing else)."""
    if not isinstance(text, str):
        raise RuleError(f"a condition must be a string, not {type(text).__name__}")
    if len(text) > MAX_EXPR_LEN:
        raise RuleError(f"condition longer than {MAX_EXPR_LEN} characters")
    try:
        node = _Parser(text, defaults or {}).parse()
    except RecursionError as exc:  # pragma: no cover - MAX_DEPTH keeps us far from it
        raise RuleError("condition nested too deeply") from exc
    if node.const:
        raise RuleError("condition is constant (it reads no field)")
    return Condition(text, node.fn, node.fields, dict(node.history))
