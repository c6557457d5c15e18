"""The rule engine's saved state written as one batch (gateway.store.rule_state)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.store import make_engine, migrate
from gateway.store import models as m
from gateway.store.rule_state import RuleStateStore


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(eng)
    yield eng
    eng.dispose()


def _rows(engine: sa.Engine) -> dict[str, tuple[int, object]]:
    with engine.connect() as conn:
        q = sa.select(m.rule_state.c.name, m.rule_state.c.saved_at_ms, m.rule_state.c.data)
        return {r.name: (r.saved_at_ms, r.data) for r in conn.execute(q)}


@pytest.mark.parametrize("batched", [True, False], ids=["one-statement", "per-part"])
def test_parts_saved_replaced_and_read_back(engine: sa.Engine, batched: bool) -> None:
    clock = ManualClock()
    store = RuleStateStore(engine, clock)
    if not batched:
        store._upsert = None  # what a dialect without ON CONFLICT takes
    parts: dict[str, dict[str, Any]] = {
        f"device:fcu-{i:03d}": {"zone_temp": [21.5 + i, 1_000 + i]} for i in range(250)
    }
    parts["engine"] = {"pending": [{"rule": "r", "due_ms": 5}], "lag": float("inf")}
    store.save_rule_state_parts(parts)
    clock.advance(1.0)
    store.save_rule_state_parts(
        {"device:fcu-007": {"zone_temp": [float("nan"), 2_000]}, "device:new": {"x": {"y": 1}}}
    )
    store.save_rule_state_parts({})  # nothing changed: nothing written

    rows = _rows(engine)
    assert len(rows) == 252
    assert rows["device:fcu-007"] == (clock.now_ms(), {"zone_temp": ["nan", 2_000]})
    assert rows["device:new"] == (clock.now_ms(), {"x": {"y": 1}})
    assert rows["device:fcu-008"] == (clock.now_ms() - 1000, {"zone_temp": [29.5, 1_008]})
    again = RuleStateStore(engine, clock)
    assert again.load_rule_state() == {"pending": [{"rule": "r", "due_ms": 5}], "lag": "inf"}
    loaded = again.load_rule_state_parts("device:")
    assert len(loaded) == 251 and loaded["device:fcu-249"] == {"zone_temp": [270.5, 1_249]}


@pytest.mark.parametrize("batched", [True, False], ids=["one-statement", "per-part"])
def test_a_failed_batch_writes_nothing(engine: sa.Engine, batched: bool) -> None:
    """One transaction: a part that cannot be written leaves every other part as it was."""
    store = RuleStateStore(engine, ManualClock())
    if not batched:
        store._upsert = None
    store.save_rule_state_parts({"device:a": {"v": 1}})
    with pytest.raises((TypeError, sa.exc.StatementError)):  # a set is not JSON
        store.save_rule_state_parts({"device:a": {"v": 2}, "device:b": {"v": {1, 2}}})
    assert {k: v[1] for k, v in _rows(engine).items()} == {"device:a": {"v": 1}}
