"""The condition language of rule packs: a condition is compiled once into small closures.
Nothing is ever ``eval``-ed.

Lifecycle: :func:`compile_condition` runs once per ``when``/``clear`` when a rule pack is
loaded (``rules.pack``) and returns a :class:`Condition`; the engine calls its ``fn`` for
every fresh reading of a device the rule applies to. Compiling goes through three parts,
each with its own module:

* ``rules.lang_tokens``: durations (``300s``, ``5m``) and the tokenizer, and
  :class:`RuleError`, the one error of every part of a rule pack;
* ``rules.lang_parser``: the grammar (whitelisted operators only), a recursive-descent
  parser that type-checks and folds constants;
* ``rules.lang_closures``: the closures a condition is made of, and their three-valued
  (Kleene) evaluation: a field the device never sent is *unknown*, and missing data never
  raises or clears anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.lang_closures import Fn, Node, truth
from rules.lang_parser import MAX_DEPTH, Parser
from rules.lang_tokens import RuleError, Token, parse_duration_ms, tokenize

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPR_LEN",
    "Condition",
    "Expression",
    "Fn",
    "Node",
    "RuleError",
    "Token",
    "Value",
    "compile_condition",
    "compile_expression",
    "parse_duration_ms",
    "tokenize",
    "truth",
]

MAX_EXPR_LEN = 2000

Value = float | int | bool | str


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


@dataclass(frozen=True, slots=True)
class Expression:
    """A compiled expression of any kind (``kind`` is ``num``, ``str``, ``bool`` or
    ``field``): a derived value, an alarm's ``value`` or a context figure. ``fn(values,
    device)`` returns its value or ``None`` (unknown)."""

    text: str
    fn: Fn
    fields: frozenset[str]
    history: Mapping[str, int]
    kind: str

    def __call__(self, values: Mapping[str, Any], device: Any = None) -> Any:
        return self.fn(values, device)


def compile_expression(
    text: object,
    defaults: Mapping[str, Any] | None = None,
    params: Mapping[str, float] | None = None,
) -> Expression:
    """Compile an expression (``abs(sat - mat)``, ``mode``, ``2 * min(a, b)``) or raise
    :class:`RuleError`. Unlike a condition it may be a number or a string."""
    if isinstance(text, bool) or isinstance(text, int | float):
        text = str(text).lower()
    if not isinstance(text, str):
        raise RuleError(f"an expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_EXPR_LEN:
        raise RuleError(f"expression longer than {MAX_EXPR_LEN} characters")
    try:
        node = Parser(text, defaults or {}, params).parse_value()
    except RecursionError as exc:  # pragma: no cover - MAX_DEPTH keeps us far from it
        raise RuleError("expression nested too deeply") from exc
    return Expression(text, node.fn, node.fields, dict(node.history), node.kind)


def compile_condition(
    text: object,
    defaults: Mapping[str, Any] | None = None,
    params: Mapping[str, float] | None = None,
) -> Condition:
    """Compile ``text`` or raise :class:`RuleError` (and nothing else). ``params`` are
    the pack's named constants."""
    if not isinstance(text, str):
        raise RuleError(f"a condition must be a string, not {type(text).__name__}")
    if len(text) > MAX_EXPR_LEN:
        raise RuleError(f"condition longer than {MAX_EXPR_LEN} characters")
    try:
        node = Parser(text, defaults or {}, params).parse()
    except RecursionError as exc:  # pragma: no cover - MAX_DEPTH keeps us far from it
        raise RuleError("condition nested too deeply") from exc
    if node.const:
        raise RuleError("condition is constant (it reads no field)")
    return Condition(text, node.fn, node.fields, dict(node.history))
