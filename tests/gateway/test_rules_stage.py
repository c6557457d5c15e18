"""The rules stage as the pipeline's ack gate: acknowledgements wait for the engine's saved
state, also when saving fails for a while."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway.clock import ManualClock
from gateway.rules_stage import RULE_STATE_RETRY_S, RulesStage
from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import RuleHit, Telemetry


class Store:
    def __init__(self) -> None:
        self.down = False
        self.saved: list[dict[str, Any]] = []

    def load_rule_state(self, name: str = "engine") -> dict[str, Any]:
        return {}

    def load_rule_state_parts(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {}

    def save_rule_state_parts(self, parts: dict[str, dict[str, Any]]) -> None:
        if self.down:
            raise ConnectionError("state store down")
        self.saved.append(parts)


class Alarms:
    def apply(self, hit: RuleHit) -> None:
        return None

    def ack(
        self,
        alarm_id: int | str,
        user: str,
        note: str | None = None,
        *,
        audit: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        raise AssertionError("not called here")

    def open_alarms(self) -> list[dict[str, Any]]:
        return []


def test_a_failed_save_holds_the_acks_until_a_save_succeeds() -> None:
    async def main() -> tuple[bool, int, int, int]:
        store = Store()
        clock = ManualClock()
        engine = RuleEngine(load_site(), load_default_pack())
        stage = RulesStage(engine, Alarms(), None, store, clock, "sc01")
        released: list[int] = []
        stage.release = lambda: released.append(1)
        store.down = True
        now = clock.now_ms()
        stage(Telemetry("sc01", "hvac", "fcu-x", now, {"zone_temp": 30.0}, now))
        ready = stage.ready()  # the save fails: the acks must wait
        await asyncio.sleep(RULE_STATE_RETRY_S * 1.5)  # still down: still waiting
        held = len(released)
        store.down = False
        await asyncio.sleep(RULE_STATE_RETRY_S * 1.5)
        stage.close()
        return ready, held, len(released), stage.failures

    ready, held, released, failures = asyncio.run(main())
    assert ready is False and held == 0 and failures >= 2
    assert released == 1  # released once the state is saved


def test_a_save_refused_at_close_is_not_retried_forever() -> None:
    # a stopped runtime whose lease was lost: its last save is refused by the fence; it
    # must not keep a retry timer (and the runtime) alive, logging every second
    async def main() -> tuple[int, int]:
        store = Store()
        clock = ManualClock()
        stage = RulesStage(
            RuleEngine(load_site(), load_default_pack()), Alarms(), None, store, clock, "sc01"
        )
        now = clock.now_ms()
        stage(Telemetry("sc01", "hvac", "fcu-x", now, {"zone_temp": 30.0}, now))
        store.down = True
        stage.close()
        after_close = stage.failures
        await asyncio.sleep(RULE_STATE_RETRY_S * 2.5)
        return after_close, stage.failures

    after_close, later = asyncio.run(main())
    assert after_close == 1 and later == 1
