"""The rule engine's saved state: pending timers and per-device parts, by name.

Life of a part: the runtime saves the engine's core (``engine``) and one part per
changed device in one transaction (:meth:`RuleStateStore.save_rule_state_parts`); at
start it loads the core and every part of a prefix back. A save replaces the part of the
same name; nothing here deletes one.

A save runs before acknowledgements are released, several times a second under load,
so it is one statement built once per store (an ``INSERT ... ON CONFLICT DO UPDATE``
on SQLite and PostgreSQL) executed with every part as one batch (``executemany``); on
SQLite each part's JSON is made once here (``json.dumps`` refusing non-finite floats,
:func:`gateway.store.journal.json_safe` only for a part that has one). Other dialects
take an update-else-insert per part (:func:`gateway.store.sql.upsert`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.sql.dml import Insert

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
        self._dialect = engine.dialect.name
        self._upsert = _batch_upsert(self._dialect)

    def save_rule_state(self, data: Mapping[str, Any], name: str = "engine") -> None:
        """Persist the rule engine's pending timers (any JSON-able mapping)."""
        self.save_rule_state_parts({name: data})

    def save_rule_state_parts(self, parts: Mapping[str, Mapping[str, Any]]) -> None:
        """Persist several named parts of the rule engine's state in one transaction
        (an incremental save: the engine's core plus one part per changed device)."""
        if not parts:
            return
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            if self._upsert is None:
                for name, data in parts.items():
                    row = {"name": name, "saved_at_ms": now, "data": jr.json_safe(data)}
                    upsert(conn, m.rule_state, row, ["name"])
                return
            text = self._dialect == "sqlite"
            rows = [
                {
                    "name": name,
                    "saved_at_ms": now,
                    "data": _json(data) if text else jr.json_safe(data),
                }
                for name, data in parts.items()
            ]
            conn.execute(self._upsert, rows)

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


def _json(data: Mapping[str, Any]) -> str:
    """``data`` as the JSON text the column holds (non-finite floats as strings)."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere: the slow walk, once
        return json.dumps(jr.json_safe(data))


def _batch_upsert(dialect: str) -> Insert | None:
    """The one upsert of a part for ``dialect`` (``None``: none in SQL), its values bound
    by name so one execution takes a list of parts; on SQLite ``data`` is bound as text
    already serialized by :func:`_json`."""
    t = m.rule_state
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert

        data: Any = sa.bindparam("data", type_=sa.Text())
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]

        data = sa.bindparam("data", type_=t.c.data.type)
    else:
        return None
    stmt = insert(t).values(
        name=sa.bindparam("name"), saved_at_ms=sa.bindparam("saved_at_ms"), data=data
    )
    return stmt.on_conflict_do_update(
        index_elements=[t.c.name],
        set_={"saved_at_ms": stmt.excluded.saved_at_ms, "data": stmt.excluded.data},
    )
