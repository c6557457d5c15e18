"""The condition language's words: durations and the tokenizer (and its error type).

Lifecycle: :func:`tokenize` runs once per condition, when a rule pack is compiled (the
parser, ``rules.lang_parser``, reads its tokens); :func:`parse_duration_ms` once per
duration a pack names (``for``, ``clear_for``, ``after``, ``offline.min``). Errors are
:class:`RuleError`, with the column of the offending character for a condition.

Numbers are decimal (``3``, ``2.5``, ``.5``, ``1e3``); a number followed directly by a unit
is a ``DURATION``: ``300s``, ``10m``, ``1h``, ``500ms``, ``1d`` (only allowed as a
``rate``/``delta`` window). Names are ASCII letters, digits and ``_``; ``and``, ``or``,
``not``, ``true`` and ``false`` are keywords (any case). Strings are quoted with ``"`` or
``'``. The operators of other languages (``&&``, ``||``, ``!``, ``=``) are refused with the
word to write instead.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any


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
                raise RuleError(f"column {col}: malformed number {text[i : j + 1]!r}", col=col)
            try:
                num = float(num_text)
            except ValueError as exc:  # pragma: no cover - the regex only matches floats
                raise RuleError(f"column {col}: malformed number {num_text!r}", col=col) from exc
            if not math.isfinite(num):
                raise RuleError(f"column {col}: number out of range {num_text!r}", col=col)
            if unit is not None:
                toks.append(Token("dur", text[i:j], col, int(round(num * _DUR_UNITS[unit]))))
            else:
                val: float | int = (
                    int(num)
                    if num.is_integer() and "." not in num_text and "e" not in num_text.lower()
                    else num
                )
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
