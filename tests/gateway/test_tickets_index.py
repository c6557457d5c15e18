"""The open tickets in memory (``gateway.tickets.index``) and the batched intake
(``TicketService.on_hits``): the index agrees with the database after creates, moves,
clears, closes and restarts; hits with nothing to write cost no statement; a batch makes
the same tickets as the hits one by one, in one transaction; the tick finds due clocks
without reading every open ticket; delayed crews come due a bounded number per tick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.store.models import journal
from gateway.tickets import intake as intake_mod
from gateway.tickets.model import OPEN_STATUSES
from rules.model import RuleHit
from tests.gateway.test_tickets import SITE, Env, move


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


def open_in_db(env: Env) -> dict[int, tuple[Any, ...]]:
    got, _ = env.tickets.list(status=list(OPEN_STATUSES), limit=1000)
    return {t["id"]: _fields(t) for t in got}


def open_in_index(env: Env) -> dict[int, tuple[Any, ...]]:
    return {t.tid: _fields(t.public()) for t in env.tickets.index.tickets()}


def _fields(t: dict[str, Any]) -> tuple[Any, ...]:
    return (
        t["rule"],
        t["device"],
        t["crew"],
        t["status"],
        t["assignee"],
        t["alarm_id"],
        t["version"],
        t.get("condition_active"),
    )


def agrees(env: Env) -> None:
    assert open_in_index(env) == open_in_db(env)


class Statements:
    """SQL statements run on ``engine`` while counting."""

    def __init__(self, engine: sa.Engine) -> None:
        self.seen: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, stmt: str, *args: Any) -> None:
        self.seen.append(stmt)

    def take(self) -> list[str]:
        out, self.seen = self.seen, []
        return out


def hit(
    device: str,
    rule: str = "device.offline",
    active: bool = True,
    point: str | None = None,
    ts_ms: int = 0,
) -> RuleHit:
    dev = SITE.device(device)
    assert dev is not None
    return RuleHit(
        rule=rule,
        site="sc01",
        system=dev.system,
        device=device,
        point=point,
        active=active,
        ts_ms=ts_ms,
        value=1,
        message=f"{rule} on {device}",
    )


def devices(system: str) -> list[str]:
    return [d.id for d in SITE.devices if d.system == system]


# ---------------------------------------------------------------- the index
def test_the_index_agrees_with_the_database_through_a_tickets_life(env: Env) -> None:
    [t] = env.hit("hvac.filter_clogged", "ahu-01")
    made = env.hit("fire.alarm", "fp-01", point="L1-D01")
    env.hit("fire.alarm", "fp-01", point="L1-D02")  # linked to the newer alarm
    person = env.tickets.create(
        title="leak", category="repair", priority="high", user="tenant", device="fcu-lobby-01"
    )
    agrees(env)
    assert len(env.tickets.index) == 4
    move(env, t["id"], "in_progress")
    agrees(env)
    move(env, t["id"], "resolved", note="filter replaced")
    agrees(env)
    env.hit("hvac.filter_clogged", "ahu-01", active=False)  # verified normal: closes
    agrees(env)
    assert env.tickets.index.get(t["id"]) is None
    move(env, made[0]["id"], "cancelled", note="false alarm")
    agrees(env)
    env.clock.advance(3 * 3600)
    env.tickets.tick()  # breaches and escalations
    agrees(env)
    move(env, person["id"], "in_progress")
    agrees(env)
    again = env.service()  # a restart: loaded from the database
    assert open_in_index(env) == {t.tid: _fields(t.public()) for t in again.index.tickets()}


def test_the_index_is_loaded_from_the_database_on_restart(env: Env) -> None:
    [t] = env.hit("hvac.filter_clogged", "ahu-01")
    move(env, t["id"], "in_progress")
    move(env, t["id"], "resolved", note="replaced")
    env.tickets = env.service()  # restarted before the condition cleared
    [closed] = env.tickets.on_hit(hit("ahu-01", "hvac.filter_clogged", active=False))
    assert closed["id"] == t["id"] and closed["status"] == "closed"
    agrees(env)


def test_a_hit_with_nothing_to_write_runs_no_statement(env: Env) -> None:
    [hv, *_] = devices("hvac")
    env.tickets.index.tickets()  # loaded
    sql = Statements(env.engine)
    h = hit(hv)
    alarm = env.alarms.apply(h)
    assert alarm is not None
    sql.take()
    # hvac offline: its crew comes after 1800 s, no ticket is open: nothing to write
    assert env.tickets.on_hit(h, alarm.id) == []
    assert sql.take() == []
    clear = hit(hv, active=False)
    env.alarms.apply(clear)
    sql.take()
    assert env.tickets.on_hit(clear) == []  # a clear with no open ticket
    assert sql.take() == []
    # a fire device offline: its crew is due at once, so the database is asked
    [fd, *_] = devices("fire")
    fh = hit(fd)
    fa = env.alarms.apply(fh)
    sql.take()
    [t] = env.tickets.on_hit(fh, fa.id if fa else None)
    assert t["crew"] == "fire-safety" and sql.take() != []
    # the same hit again: its ticket is open and linked to that alarm: nothing to write
    assert env.tickets.on_hit(fh, fa.id if fa else None) == []
    assert sql.take() == []
    # once its ticket is open, the clear records the condition back to normal
    fclear = hit(fd, active=False)
    env.alarms.apply(fclear)
    sql.take()
    [c] = env.tickets.on_hit(fclear)
    assert c["id"] == t["id"] and c["condition_active"] is False and sql.take() != []
    agrees(env)


def test_the_tick_reads_no_ticket_when_no_clock_is_due(env: Env) -> None:
    [t] = env.hit("hvac.filter_clogged", "ahu-01")  # assigned at once: clocks run
    env.tickets.tick()
    sql = Statements(env.engine)
    env.clock.advance(60)
    assert env.tickets.tick() == []
    assert not [s for s in sql.take() if "tickets" in s]
    # respond clock (4 h) at 80 %: escalated, as when the tick read every open ticket
    env.clock.advance(4 * 3600 * 0.8)
    [e] = env.tickets.tick()
    assert e["id"] == t["id"]
    assert [a for _, a in env.actions(t["id"])][-1] == "escalate"
    agrees(env)


# ------------------------------------------------------------ batched intake
FLOOD = [
    ("fire.alarm", "fp-01", True, "L1-D01"),
    ("device.offline", "fcu-lobby-01", True, None),
    ("hvac.filter_clogged", "ahu-01", True, None),
    ("fire.alarm", "fp-01", True, "L1-D02"),
    ("device.offline", "sd-lobby-01", True, None),
    ("hvac.filter_clogged", "ahu-01", False, None),
    ("device.offline", "sd-lobby-01", False, None),
    ("device.offline", "sd-lobby-01", True, None),
    ("device.offline", "fcu-lobby-01", False, None),
]


def _flood(env: Env) -> list[tuple[RuleHit, int | None]]:
    out = []
    for rule, device, active, point in FLOOD:
        h = hit(device, rule, active, point, env.clock.now_ms())
        a = env.alarms.apply(h)
        out.append((h, a.id if a is not None else None))
    return out


def _tickets_and_journal(env: Env) -> tuple[list[dict[str, Any]], dict[str, list[Any]]]:
    """The tickets, and each ticket's journal in order (the alarm service's own entries
    on them come after each commit, so they interleave differently with a batch)."""
    tickets = sorted(env.all_tickets(), key=lambda t: t["id"])
    per: dict[str, list[Any]] = {}
    with env.engine.connect() as conn:
        for tid, actor, action, reason in conn.execute(
            sa.select(journal.c.ticket_id, journal.c.actor, journal.c.action, journal.c.reason)
            .where(journal.c.ticket_id.is_not(None))
            .order_by(journal.c.id)
        ):
            per.setdefault(tid, []).append((actor, action, reason))
    # the alarm's link entries last: they follow the commit, not the ticket's own order
    return tickets, {k: sorted(v, key=lambda e: e[1] == "link_ticket") for k, v in per.items()}


def test_a_batch_makes_the_same_tickets_as_one_by_one(tmp_path: Path) -> None:
    one, many = Env(tmp_path / "one"), Env(tmp_path / "many")
    try:
        # the alarms first in both (as the alarm backlog writes them ahead of the tickets)
        for h, alarm_id in _flood(one):
            one.tickets.on_hit(h, alarm_id)
        runs: list[int] = []
        inner = many.tickets._intake._run

        def counted(op: Any) -> Any:
            runs.append(1)
            return inner(op)

        many.tickets._intake._run = counted
        made = many.tickets.on_hits(_flood(many))
        assert len(runs) == 1  # one transaction for the whole batch
        assert made and {t["id"] for t in made} <= {t["id"] for t in many.all_tickets()}
        assert _tickets_and_journal(one) == _tickets_and_journal(many)
        for e in (one, many):
            e.clock.advance(1800)
            e.tickets.tick()
        assert _tickets_and_journal(one) == _tickets_and_journal(many)
        agrees(many)
    finally:
        one.engine.dispose()
        many.engine.dispose()


def test_a_failing_batch_is_written_hit_by_hit(env: Env) -> None:
    items = _flood(env)
    inner = env.tickets._intake._run
    calls: list[int] = []

    def flaky(op: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the batch failed")
        return inner(op)

    env.tickets._intake._run = flaky
    made = env.tickets.on_hits(items)
    assert len(calls) > 2  # the batch, then each hit with something to write
    assert {t["crew"] for t in made} >= {"fire-safety", "security", "hvac"}
    agrees(env)


def test_delayed_crews_of_a_flood_come_due_a_bounded_number_per_tick(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(intake_mod, "DUE_MAX", 2)
    offline = devices("hvac")[:5]
    assert len(offline) >= 3
    env.tickets.on_hits(
        [(h, a.id if a else None) for h in map(hit, offline) for a in [env.alarms.apply(h)]]
    )
    assert env.all_tickets() == []
    env.clock.advance(1800)
    sizes = []
    for _ in range(5):
        sizes.append(len(env.tickets.tick()))
        env.clock.advance(1)
    assert max(sizes) <= 2 and sum(sizes) == len(offline)
    assert sorted(t["device"] for t in env.all_tickets()) == sorted(offline)
    agrees(env)


# --------------------------------------------------------- delayed crews, by time
def test_the_tick_walks_the_active_alarms_only_when_a_delay_runs_out(env: Env) -> None:
    walks: list[int] = []
    inner = env.alarms.active_alarms

    def counted() -> Any:
        walks.append(env.clock.now_ms())
        return inner()

    env.alarms.active_alarms = counted  # type: ignore[method-assign]
    env.tickets.tick()  # the first tick walks (a restart's alarms)
    assert len(walks) == 1
    [hv, *_] = devices("hvac")
    assert env.hit("device.offline", hv) == []  # hvac: after 1800 s
    for _ in range(30):
        env.clock.advance(1)
        assert env.tickets.tick() == []
    assert len(walks) == 1  # no walk each second
    env.clock.advance(1800 - 30)
    [t] = env.tickets.tick()
    assert t["crew"] == "hvac" and t["device"] == hv and len(walks) == 2


def test_a_delay_restarts_with_a_new_activation(env: Env) -> None:
    env.tickets.tick()
    env.hit("access.door_held", "door-office")  # security after 300 s
    env.clock.advance(250)
    env.tickets.tick()  # a walk (the 60 s safety net): its crew is due at 300 s
    env.clock.advance(10)
    env.hit("access.door_held", "door-office", active=False)
    env.clock.advance(20)
    env.hit("access.door_held", "door-office")  # active again: 300 s from now
    env.clock.advance(21)  # 301 s after the first activation, before the next walk
    assert env.tickets.tick() == []
    env.clock.advance(280)
    [t] = env.tickets.tick()
    assert t["crew"] == "security"
