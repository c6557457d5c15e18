"""The rules stage as the pipeline's ack gate: acknowledgements wait for the engine's saved
state, also when saving fails for a while."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from gateway import rules_stage
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


def test_silence_is_judged_in_slices_with_the_loop_served_between(
    monkeypatch: Any,
) -> None:
    # 30 devices fall silent together; slices of 4 hits: the first slice in the tick, the
    # rest one slice per loop turn, and work queued meanwhile (a fire message, say) runs
    # between the slices instead of after all of them
    monkeypatch.setattr(rules_stage, "SILENCE_SLICE_HITS", 4)

    class Recording(Alarms):
        def __init__(self) -> None:
            self.order: list[str] = []

        def apply(self, hit: RuleHit) -> None:
            self.order.append(hit.device)

    async def main() -> list[str]:
        clock = ManualClock()
        engine = RuleEngine(load_site(), load_default_pack())
        alarms = Recording()
        stage = RulesStage(engine, alarms, None, Store(), clock, "sc01")
        t0 = clock.now_ms()
        stage.tick(t0)
        for i in range(30):
            for k in range(3):  # a learned 20 s interval
                ts = t0 + k * 20_000
                stage(Telemetry("sc01", "hvac", f"dev-{i}", ts, {"zone_temp": 21.0}, ts))
        alarms.order.clear()
        clock.advance(3600)
        stage.tick(clock.now_ms())
        asyncio.get_running_loop().call_soon(alarms.order.append, "other work")
        turns = 0
        while engine.judging:
            await asyncio.sleep(0)
            turns += 1
            assert turns < 1000
        stage.close()
        return alarms.order

    order = asyncio.run(main())
    silent = [d for d in order if d.startswith("dev-")]
    assert sorted(silent) == sorted(f"dev-{i}" for i in range(30))
    assert 4 <= order.index("other work") < len(order) - 4


def test_many_changed_devices_are_saved_over_several_turns(monkeypatch: Any) -> None:
    # 25 devices changed, at most 10 a save: three saves, one per loop turn; the acks are
    # released once, after the last, and every device's row is written
    monkeypatch.setattr(rules_stage, "SAVE_DEVICES_MAX", 10)

    async def main() -> tuple[bool, list[int], list[set[str]]]:
        store = Store()
        clock = ManualClock()
        stage = RulesStage(
            RuleEngine(load_site(), load_default_pack()), Alarms(), None, store, clock, "sc01"
        )
        released: list[int] = []
        stage.release = lambda: released.append(len(store.saved))
        now = clock.now_ms()
        for i in range(25):
            stage(Telemetry("sc01", "hvac", f"dev-{i}", now, {"zone_temp": 21.0}, now))
        ready = stage.ready()
        for _ in range(10):
            await asyncio.sleep(0)
        stage.close()
        rows = [{k for k in parts if k.startswith("device:")} for parts in store.saved]
        return ready, released, rows

    ready, released, rows = asyncio.run(main())
    assert ready is False
    assert [len(r) for r in rows][:3] == [10, 10, 5]  # (a 4th: the save at close)
    assert set().union(*rows) == {f"device:dev-{i}" for i in range(25)}
    assert released == [3]
