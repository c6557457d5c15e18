"""The rule engine's saved state: pending timers and per-device parts, by name.

Life of a part: the runtime saves the engine's core (``engine``) and one part per
changed device in one transaction (:meth:`RuleStateStore.save_rule_state_parts`); at
start it loads the core and every part of a prefix back. A save replaces the part of the
same name; nothing here deletes one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.db import reader
from gateway.store.sql import upsert


class RuleStateStore:
    """The ``rule_state`` table of the state store behind ``engine``."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._clock = clock

    def save_rule_state(self, data: Mapping[str, Any], name: str = "engine") -> None:
        """Persist the rule engine's pending timers (any JSON-able mapping)."""
        self.save_rule_state_parts({name: data})

    def save_rule_state_parts(self, parts: Mapping[str, Mapping[str, Any]]) -> None:
        """Persist several named parts of the rule engine's state in one transaction
        (an incremental save: the engine's core plus one part per changed device)."""
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            for name, data in parts.items():
                row = {"name": name, "saved_at_ms": now, "data": jr.json_safe(data)}
                upsert(conn, m.rule_state, row, ["name"])

    def load_rule_state_parts(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every part whose name starts with ``prefix``: ``{name: data}``."""
        q = sa.select(m.rule_state.c.name, m.rule_state.c.data).where(
            m.rule_state.c.name.startswith(prefix, autoescape=True)
        )
        with self._reader.connect() as conn:
            return {name: dict(data) for name, data in conn.execute(q) if data}

    def load_rule_state(self, name: str = "engine") -> dict[str, Any]:
        """What :meth:`save_rule_state` saved last (``{}`` if nothing)."""
        q = sa.select(m.rule_state.c.data).where(m.rule_state.c.name == name)
        with self._reader.connect() as conn:
            data = conn.execute(q).scalar()
        return dict(data) if data else {}
