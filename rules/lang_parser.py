"""The condition language's grammar: a recursive-descent parser over the tokens.

Lifecycle: one :class:`Parser` per condition, used once (``rules.lang.compile_condition``)
and dropped; it type-checks the condition as it goes (a number is not a condition, a
string is not a number), folds constants, and returns the root :class:`Node`, whose
closures (``rules.lang_closures``) are all that is kept.

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
               | avg(FIELD, DURATION) | changes(FIELD, DURATION)
               | reversals(FIELD, DURATION) | min(arith, arith) | max(arith, arith)
               | sqrt(arith)

``FIELD`` is a telemetry field of the device (its latest value, whenever it was sent);
``DURATION`` is ``300s``, ``10m``, ``1h``, ``500ms``, ``1d``. ``delta(f, W)`` is the change
of ``f`` over the last ``W`` (latest value minus the newest value at least ``W`` older);
``rate(f, W)`` is the same change expressed per minute. ``avg(f, W)`` is the mean of the
samples of ``f`` in the last ``W`` (a rolling average, as the fault conditions of ASHRAE
Guideline 36 average their sensors); ``changes(f, W)`` counts how often ``f`` took a new
value in the last ``W`` (the operating-state changes of a hunting loop); ``reversals(f,
W)`` counts how often ``f`` turned from rising to falling or back (a control signal that
oscillates). ``min``, ``max`` and ``sqrt`` are the usual functions on numbers. A
``NAME`` that the pack declares under ``params:`` is that constant. Comparisons do not chain
(``a < b < c`` is refused: write ``a < b and b < c``); nesting is limited to
:data:`MAX_DEPTH` levels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from rules.lang_closures import (
    ARITH,
    BOOL,
    CMP,
    FIELD,
    NUM,
    STR,
    Node,
    abs_of,
    and_all,
    arith_any,
    arith_field_const,
    change,
    cmp_any,
    cmp_field_const,
    cmp_field_offset,
    const,
    eq,
    field_truth,
    field_value,
    merge,
    min_max,
    neg,
    not_,
    or_all,
    sqrt_of,
    truth_of,
    window_stat,
)
from rules.lang_tokens import RuleError, Token, tokenize

MAX_DEPTH = 40
_FUNCS = {"rate", "delta", "abs", "avg", "changes", "reversals", "min", "max", "sqrt"}
_WINDOWED = {"rate", "delta", "avg", "changes", "reversals"}


class Parser:
    """One condition's tokens -> its root :class:`Node` (see the grammar above)."""

    def __init__(
        self, text: str, defaults: Mapping[str, Any], params: Mapping[str, float] | None = None
    ):
        self.params = params or {}
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
                return Node(BOOL, field_truth(name, dflt), n.fields, history=n.history)
            return Node(BOOL, truth_of(n.fn), n.fields, history=n.history)
        raise self.error(f"expected a condition, found a {n.kind} value", tok)

    # -- grammar
    def parse_value(self) -> Node:
        """A whole expression of any kind (a number, a string or a condition)."""
        if self.tok.kind == "end":
            raise self.error("empty expression")
        n = self.parse_or()
        if self.tok.kind != "end":
            raise self.error(f"unexpected {self.tok.text!r}")
        return n

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
            left = or_all(parts)
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
            left = and_all(parts)
        return left

    def parse_not(self) -> Node:
        if self.tok.kind == "kw" and self.tok.text == "not":
            self.i += 1
            self.enter()
            t = self.tok
            inner = self.as_bool(self.parse_not(), t)
            self.depth -= 1
            if inner.const:
                return const(BOOL, None if inner.value is None else not inner.value)
            return Node(BOOL, not_(inner.fn), inner.fields, history=inner.history)
        return self.parse_compare()

    def parse_compare(self) -> Node:
        left = self.parse_arith()
        t = self.tok
        if t.kind == "op" and t.text in CMP:
            self.i += 1
            right = self.parse_arith()
            nt = self.tok
            if nt.kind == "op" and nt.text in CMP:
                raise self.error("chained comparisons are not allowed, use 'and'", nt)
            return self.compare(t, left, right)
        return left

    def compare(self, t: Token, a: Node, b: Node) -> Node:
        opname = t.text
        op = CMP[opname]
        ordered = opname not in ("==", "!=")
        for n in (a, b):
            if ordered and n.kind == BOOL:
                raise self.error(f"{opname!r} needs numbers, not a condition or boolean", t)
        if ordered and {a.kind, b.kind} == {NUM, STR}:
            raise self.error(f"cannot compare a number and a string with {opname!r}", t)
        fields, hist = merge(a, b)
        if a.const and b.const:
            try:
                return const(
                    BOOL, eq(op, a.value, b.value) if not ordered else op(a.value, b.value)
                )
            except TypeError as exc:
                raise self.error(f"cannot compare {a.value!r} with {b.value!r}", t) from exc
        if a.const and b.name is not None:  # constant OP field -> field (flipped OP) constant
            flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
            return self.compare(Token("op", flipped[opname], t.col), b, a)
        if a.name is not None and b.const:
            return Node(
                BOOL,
                cmp_field_const(a.name, self.defaults.get(a.name), op, b.value, ordered),
                fields,
                history=hist,
            )
        if a.name is not None and b.offset is not None and ordered:
            bname, off = b.offset
            return Node(
                BOOL,
                cmp_field_offset(
                    a.name, self.defaults.get(a.name), op, bname, self.defaults.get(bname), off
                ),
                fields,
                history=hist,
            )
        return Node(BOOL, cmp_any(op, ordered, a.fn, b.fn), fields, history=hist)

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
        op = ARITH[t.text]
        fields, hist = merge(a, b)
        if a.const and b.const:
            try:
                val = op(a.value, b.value)
            except ZeroDivisionError as exc:
                raise self.error("division by zero", t) from exc
            if not math.isfinite(val):
                raise self.error("number out of range", t)
            return const(NUM, val)
        if a.name is not None and b.const and t.text in ("+", "-"):
            name, dflt = a.name, self.defaults.get(a.name)
            c = b.value if t.text == "+" else -b.value
            off = arith_field_const(name, dflt, c)
            return Node(NUM, off, fields, offset=(name, c), history=hist)
        return Node(NUM, arith_any(op, a.fn, b.fn), fields, history=hist)

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
                return const(NUM, -inner.value)
            return Node(NUM, neg(inner.fn), inner.fields, history=inner.history)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.i += 1
            return const(NUM, t.value)
        if t.kind == "str":
            self.i += 1
            return const(STR, t.value)
        if t.kind == "kw" and t.text in ("true", "false"):
            self.i += 1
            return const(BOOL, t.text == "true")
        if t.kind == "dur":
            raise self.error(f"a duration ({t.text}) is only allowed as a rate/delta window")
        if t.kind == "name":
            self.i += 1
            if self.tok.kind == "op" and self.tok.text == "(":
                return self.parse_call(t)
            name = t.text
            if name in self.params:
                return const(NUM, self.params[name])
            fn = field_value(name, self.defaults.get(name))
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
            known = ", ".join(sorted(_FUNCS))
            raise self.error(f"unknown function {fname!r} (known: {known})", name_tok)
        self.expect_op("(")
        if fname in ("min", "max"):
            return self.parse_min_max(name_tok)
        if fname == "sqrt":
            self.enter()
            inner = self.parse_arith()
            self.depth -= 1
            self.expect_op(")")
            if inner.kind in (BOOL, STR):
                raise self.error("sqrt() needs a number", name_tok)
            if inner.const:
                if inner.value < 0:
                    raise self.error("sqrt() of a negative number", name_tok)
                return const(NUM, math.sqrt(inner.value))
            return Node(NUM, sqrt_of(inner.fn), inner.fields, history=inner.history)
        if fname == "abs":
            self.enter()
            inner = self.parse_arith()
            self.depth -= 1
            self.expect_op(")")
            if inner.kind in (BOOL, STR):
                raise self.error("abs() needs a number", name_tok)
            if inner.const:
                return const(NUM, abs(inner.value))
            return Node(NUM, abs_of(inner.fn), inner.fields, history=inner.history)
        ft = self.tok
        if ft.kind != "name":
            raise self.error(f"{fname}() needs a field name first", ft)
        self.i += 1
        self.expect_op(",")
        wt = self.tok
        if wt.kind != "dur" or fname not in _WINDOWED:
            raise self.error(f"{fname}() needs a window like 10m as second argument", wt)
        self.i += 1
        self.expect_op(")")
        window = int(wt.value)
        if window <= 0:
            raise self.error(f"{fname}() window must be positive", wt)
        fld = ft.text
        if fname in ("rate", "delta"):
            fn = change(fld, window, fname == "rate")
        else:
            fn = window_stat(fld, window, fname)
        return Node(NUM, fn, frozenset((fld,)), history={fld: window})

    def parse_min_max(self, name_tok: Token) -> Node:
        args: list[Node] = []
        self.enter()
        while True:
            t = self.tok
            n = self.parse_arith()
            if n.kind in (BOOL, STR):
                raise self.error(f"{name_tok.text}() needs numbers", t)
            args.append(n)
            if self.tok.kind == "op" and self.tok.text == ",":
                self.i += 1
                continue
            break
        self.depth -= 1
        self.expect_op(")")
        if len(args) < 2:
            raise self.error(f"{name_tok.text}() needs at least two numbers", name_tok)
        pick = min if name_tok.text == "min" else max
        if all(a.const for a in args):
            return const(NUM, pick(a.value for a in args))
        fields, hist = merge(*args)
        return Node(NUM, min_max(pick, tuple(a.fn for a in args)), fields, history=hist)
