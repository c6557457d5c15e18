"""Message templates: ``"{device} zone temperature {zone_temp:.1f} °C"``.

A template is parsed once (``str.format`` syntax, plain names only: no attribute or index
access, no nested specs) and rendered without ever raising: a missing name renders as
``?`` and a value its format spec does not fit renders with ``str()``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rules.lang import RuleError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    parts: tuple[tuple[str, str | None, str | None, str], ...]  # literal, name, conv, spec

    @property
    def names(self) -> frozenset[str]:
        return frozenset(p[1] for p in self.parts if p[1] is not None)

    def render(self, ctx: Mapping[str, Any]) -> str:
        out: list[str] = []
        for literal, name, conv, spec in self.parts:
            out.append(literal)
            if name is None:
                continue
            val = ctx.get(name)
            if val is None:
                out.append("?")
                continue
            if conv == "r":
                val = repr(val)
            elif conv in ("s", "a"):
                val = str(val) if conv == "s" else ascii(val)
            try:
                out.append(format(val, spec))
            except (ValueError, TypeError):
                out.append(str(val))
        return "".join(out)


def parse_template(text: object) -> Template:
    if not isinstance(text, str):
        raise RuleError(f"a message template is a string, not {type(text).__name__}")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise RuleError(f"bad template {text!r}: {exc}") from exc
    parts: list[tuple[str, str | None, str | None, str]] = []
    for literal, name, spec, conv in parsed:
        if name is None:
            parts.append((literal, None, None, ""))
            continue
        if not _NAME_RE.match(name):
            raise RuleError(f"bad template field {{{name}}}: use a plain name like {{device}}")
        if spec and ("{" in spec or "}" in spec):
            raise RuleError(f"bad template field {{{name}}}: nested format specs are not allowed")
        if conv not in (None, "r", "s", "a"):
            raise RuleError(f"bad template field {{{name}}}: unknown conversion !{conv}")
        try:
            format(1.0, spec or "")
        except ValueError:
            try:
                format("x", spec or "")
            except ValueError as exc:
                raise RuleError(f"bad format spec {spec!r} in {{{name}}}") from exc
        parts.append((literal, name, conv, spec or ""))
    return Template(text, tuple(parts))
