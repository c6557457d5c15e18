"""The notifier's tick walks the active alarms only when a critical alarm's 60 s may have
run out (or once a minute), not every second: 300 offline alarms and ticks each second
cost no walk; a critical alarm raised meanwhile is still told at 60 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.notify.notifier import WALK_EVERY_MS
from rules.model import RuleHit
from tests.gateway.requests.env import Env


def offline(i: int, now_ms: int) -> RuleHit:
    return RuleHit(
        rule="device.offline",
        site="sc01",
        system="lighting",
        device=f"x-{i:03d}",
        point=None,
        active=True,
        ts_ms=now_ms,
    )


def test_the_tick_walks_only_when_a_critical_alarm_may_be_due(tmp_path: Path) -> None:
    env = Env(tmp_path)
    env.notifier.profiles.set("fire-wu", email="wu@example.com", chats=[], browser=True)
    walks: list[int] = []
    inner = env.alarms.active_alarms

    def counted() -> Any:
        walks.append(env.clock.now_ms())
        return inner()

    env.alarms.active_alarms = counted  # type: ignore[method-assign]
    env.alarms.apply_many([offline(i, env.clock.now_ms()) for i in range(300)])
    tick = lambda: env.notifier.tick(env.clock.now_ms())  # noqa: E731
    assert tick() == 0 and len(walks) == 1  # the first tick walks
    for _ in range(20):
        env.clock.advance(1)
        assert tick() == 0
    assert len(walks) == 1  # offline alarms only: no walk each second
    fire = RuleHit(
        rule="fire.alarm",
        site="sc01",
        system="fire",
        device="fp-01",
        point="L1-D01",
        active=True,
        ts_ms=env.clock.now_ms(),
        value="fire_alarm",
    )
    assert env.alarms.apply(fire) is not None
    for _ in range(59):
        env.clock.advance(1)
        assert tick() == 0
    # the safety net's walk (60 s after the first) and none more until the alarm is due
    assert len(walks) <= 2
    env.clock.advance(1)
    assert tick() == 1
    assert len(walks) <= 3
    seen = len(walks)
    env.clock.advance(WALK_EVERY_MS / 1000 - 1)
    assert tick() == 0 and len(walks) == seen
    env.clock.advance(1)
    assert tick() == 0 and len(walks) == seen + 1  # once a minute at least
    env.engine.dispose()
