"""A compiled rule pack: what the engine runs and the alarm service reads.

Lifecycle: built once by the compiler (``rules.pack``, one :class:`Rule` per rule of the
YAML by ``rules.pack_rule``) and never changed after: the engine indexes its rules when it
starts, the alarm service reads each rule's :class:`rules.model.RuleSpec`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rules.lang import Condition, Fn
from rules.model import RuleSpec
from rules.template import Template
from rules.timewin import WindowSpec


@dataclass(frozen=True, slots=True)
class Guard:
    """Do not raise while ``rule`` is active for the same zone / device / site."""

    rule: str
    same: str


@dataclass(frozen=True, slots=True)
class Derived:
    """A value the engine derives from several fields of a reading (``derive:``), kept
    on the device like a field it sent: the first ``cases`` condition that is true gives
    its value (else ``default``), or ``expr`` computes it. ``fields`` are what it reads."""

    name: str
    system: str | None
    device_types: frozenset[str] | None
    cases: tuple[tuple[Fn, str | float], ...]
    default: str | float | None
    expr: Fn | None
    fields: frozenset[str]
    history: dict[str, int]
    line: int

    def applies_to(self, system: str, device_type: str | None) -> bool:
        if self.system is not None and self.system != system:
            return False
        return self.device_types is None or device_type in self.device_types

    def value(self, values: Any, dev: Any) -> Any:
        """Three-valued: a case that is unknown makes the value unknown, unless an
        earlier case was true."""
        if self.expr is not None:
            return self.expr(values, dev)
        for fn, v in self.cases:
            x = fn(values, dev)
            if x is True:
                return v
            if x is None:
                return None
        return self.default


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
    message_zh: Template | None = None  # the Chinese template, when the pack has one
    clear_message_zh: Template | None = None
    value_fn: Fn | None = None  # `value:` given as an expression (a residual)
    context_fns: tuple[tuple[str, Fn], ...] = ()  # `context:` figures put on the hit

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
    derived: tuple[Derived, ...] = ()  # `derive:` values, in the order they are computed

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
