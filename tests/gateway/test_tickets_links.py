"""Tickets talk to alarms only through AlarmLink: a stand-in shows all they ask."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import ManualClock
from gateway.store import make_engine, migrate
from gateway.tickets import AlarmLink, ClosedLoop, TicketService
from rules.model import RuleHit
from tests.gateway.test_tickets import MON_10H, SITE, SPECS


@dataclass
class FakeAlarm:
    id: int
    rule: str
    device: str
    activated_at_ms: int
    site: str = "sc01"
    system: str | None = "hvac"
    point: str = ""
    zone: str | None = None
    message: str = "it is broken"
    value: Any = 1
    source_ts_ms: int = 0


class FakeAlarms:
    def __init__(self) -> None:
        self.active: list[FakeAlarm] = []
        self.links: list[tuple[int, int]] = []
        self.oos: list[tuple[str, str, bool, str, str | None]] = []

    def is_active(self, rule: str, device: str) -> bool:
        return any(a.rule == rule and a.device == device for a in self.active)

    def active_alarms(self) -> list[FakeAlarm]:
        return list(self.active)

    def link_ticket(self, alarm_id: int, ticket_id: int) -> None:
        self.links.append((alarm_id, ticket_id))

    def set_out_of_service(
        self, rule: str, device: str, on: bool, user: str, reason: str | None = None
    ) -> None:
        self.oos.append((rule, device, on, user, reason))


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path}/t.db")
        migrate(self.engine)
        self.clock = ManualClock(MON_10H)
        self.alarms = FakeAlarms()
        link: AlarmLink = self.alarms  # the stand-in is an AlarmLink (checked by mypy)
        self.tickets = TicketService(self.engine, SPECS, self.clock, SITE, alarms=link)

    def hit(self, rule: str, device: str, active: bool, alarm_id: int | None) -> list[Any]:
        h = RuleHit(
            rule=rule,
            site="sc01",
            system="hvac",
            device=device,
            point=None,
            active=active,
            ts_ms=self.clock.now_ms(),
            value=1,
            message="m",
        )
        return self.tickets.on_hit(h, alarm_id)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


def test_link_out_of_service_and_closed_loop_through_the_interface(env: Env) -> None:
    now = env.clock.now_ms()
    env.alarms.active.append(FakeAlarm(41, "hvac.fault", "fcu-lobby-01", now))
    [t] = env.hit("hvac.fault", "fcu-lobby-01", True, 41)
    assert t["alarm_id"] == 41 and env.alarms.links == [(41, t["id"])]
    env.tickets.transition(t["id"], "in_progress", "hvac-zhang")
    assert env.alarms.oos == [
        ("hvac.fault", "fcu-lobby-01", True, "hvac-zhang", f"ticket {t['id']} in progress")
    ]
    with pytest.raises(ClosedLoop):
        env.tickets.transition(t["id"], "resolved", "hvac-zhang")
    # the alarm clears: the stand-in says so, and the clearing hit arrives
    env.alarms.active.clear()
    [n] = env.hit("hvac.fault", "fcu-lobby-01", False, None)
    assert n["condition_active"] is False
    done = env.tickets.transition(t["id"], "resolved", "hvac-zhang")
    assert done["status"] == "closed"  # verified back to normal at once
    assert env.alarms.oos[-1][:3] == ("hvac.fault", "fcu-lobby-01", False)


def test_delayed_crew_reads_the_active_alarms(env: Env) -> None:
    since = env.clock.now_ms()
    env.alarms.active.append(FakeAlarm(7, "device.offline", "fcu-lobby-01", since))
    env.clock.advance(1799)
    assert env.tickets.tick() == []
    env.clock.advance(1)
    [t] = env.tickets.tick()
    assert t["crew"] == "hvac" and t["alarm_id"] == 7 and t["title"] == "it is broken"
    assert env.alarms.links == [(7, t["id"])]
    env.clock.advance(60)
    assert [x for x in env.tickets.tick() if x["id"] != t["id"]] == []  # no second one
    assert env.tickets.list()[1] == 1
