"""Alarm floods (issue 10): batched writes (``AlarmService.apply_many``), the backlog that
lets the loop run between batches (``submit``), and the group and snapshot views
(``gateway.alarms.groups``). SQLite in a temp dir, ManualClock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.alarms import ACTIVE_UNACKED, CLEARED_UNACKED
from gateway.alarms.batch import MIN_BATCH, Backlog, split
from gateway.alarms.groups import group_text, view
from gateway.store.models import alarm_changes, journal
from rules.model import RuleHit
from tests.gateway.test_alarms import Env, hit


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


def offline(
    n: int, *, zone: str = "car-park", system: str = "lighting", at: int = 0
) -> list[RuleHit]:
    return [
        RuleHit(
            rule="device.offline",
            site="sc01",
            system=system,
            device=f"cp-{at + i:05d}",
            point=None,
            active=True,
            ts_ms=1,
            value="offline",
            zone=zone,
        )
        for i in range(n)
    ]


def commits(engine: sa.Engine) -> list[int]:
    seen = [0]

    @sa.event.listens_for(engine, "commit")
    def count(conn: Any) -> None:
        seen[0] += 1

    return seen


# ------------------------------------------------------------------ batched writes
def test_apply_many_writes_a_flood_in_few_transactions(env: Env) -> None:
    svc = env.service(write_batch=100)
    heard: list[tuple[int, dict[str, Any]]] = []
    svc.subscribe(lambda seq, a: heard.append((seq, a)))
    n_commits = commits(env.engine)
    out = svc.apply_many(offline(250))
    assert n_commits[0] == 3  # 100 + 100 + 50
    assert [a.device for a in out if a is not None] == [f"cp-{i:05d}" for i in range(250)]
    rows = env.rows()
    assert len(rows) == 250 and len({r["id"] for r in rows}) == 250
    assert sorted(a.id or 0 for a in out if a is not None) == [r["id"] for r in rows]
    assert all(r["state"] == ACTIVE_UNACKED and r["zone"] == "car-park" for r in rows)
    # one change per alarm, rising numbers, each one in the change log and the journal
    seqs = [s for s, _ in heard]
    assert seqs == sorted(seqs) and len(set(seqs)) == 250 and svc.last_seq() == seqs[-1]
    assert {a["change"] for _, a in heard} == {"raise"}
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alarm_changes)).scalar() == 250
        raised = (
            conn.execute(sa.select(journal.c.alarm_id).where(journal.c.action == "raise"))
            .scalars()
            .all()
        )
    assert sorted(raised) == [r["id"] for r in rows]
    # a second service on the database sees them all (restart)
    assert len(env.service().open_alarms()) == 250


def test_apply_many_keeps_the_order_of_hits_on_one_key(env: Env) -> None:
    svc = env.service(write_batch=50)
    hits = [
        hit("lighting.lamp_failure", "lamp1", clock=env.clock),
        hit("hvac.fault", "ahu1", clock=env.clock),
        hit("lighting.lamp_failure", "lamp1", clock=env.clock, value=2.0),  # a repeat
        hit("hvac.fault", "ahu1", False, clock=env.clock),  # then its clear
        hit("access.door_held", "door2", False, clock=env.clock),  # nothing to clear
    ]
    assert list(split(hits, lambda h: False, 50)) == [hits[:2], hits[2:]]
    out = svc.apply_many(hits)
    assert out[4] is None
    lamp, fault = out[2], out[3]
    assert lamp is not None and lamp.count == 2 and lamp.value == 2.0 and lamp.id == out[0].id  # type: ignore[union-attr]
    assert fault is not None and fault.state == CLEARED_UNACKED
    assert len(env.rows()) == 2


def test_fire_alarms_go_alone_and_suppress_what_follows(env: Env) -> None:
    svc = env.service()
    hits = [
        hit("hvac.fault", "fcu2", clock=env.clock),
        hit("fire.alarm", "panel1", point="p1", clock=env.clock),
        hit("hvac.fault", "ahu1", clock=env.clock),  # zone z1: suppressed by the fire alarm
        hit("lighting.lamp_failure", "lamp1", clock=env.clock),
    ]
    batches = list(split(hits, svc._alone, 100))
    assert batches == [hits[:1], hits[1:2], hits[2:]]
    out = svc.apply_many(hits)
    by_dev = {a.device: a for a in out if a is not None}
    assert by_dev["ahu1"].suppressed and not by_dev["fcu2"].suppressed
    assert by_dev["panel1"].priority == "critical"


def test_one_open_alarm_per_fault_holds_against_a_racing_service(env: Env) -> None:
    mine = env.service()
    other = env.service()
    other.apply_many(offline(3, at=10))  # cp-00010..12 raised behind mine's back
    out = mine.apply_many(offline(20))  # overlaps: the unique index refuses, retried
    rows = env.rows()
    assert len(rows) == 20
    assert {a.device: a.count for a in out if a is not None}["cp-00011"] == 2


def test_a_failing_batch_is_written_hit_by_hit() -> None:
    written: list[list[str]] = []

    def write(hits: Any) -> list[Any]:
        if len(hits) > 1:
            raise RuntimeError("the batch failed")
        if hits[0].device == "cp-00001":
            raise RuntimeError("this one fails alone")
        written.append([h.device for h in hits])
        return [h.device for h in hits]

    got: list[tuple[str, Any]] = []
    b = Backlog(write, size=10)
    b.submit(offline(3), lambda h, a: got.append((h.device, a)))  # no loop: drained at once
    assert written == [["cp-00000"], ["cp-00002"]]
    assert got == [("cp-00000", "cp-00000"), ("cp-00001", None), ("cp-00002", "cp-00002")]
    assert b.errors == 1 and len(b) == 0


# ----------------------------------------------------------------------- the backlog
def test_submit_writes_in_batches_and_lets_the_loop_run_between(env: Env) -> None:
    svc = env.service(write_batch=40)
    done: list[tuple[str, int | None]] = []

    async def scenario() -> tuple[int, int]:
        turns = 0
        stop = asyncio.Event()

        async def other() -> None:  # what the fire link would be doing meanwhile
            nonlocal turns
            while not stop.is_set():
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other())
        finished = asyncio.Event()

        def then(h: RuleHit, a: Any) -> None:
            done.append((h.device, a.id if a else None))
            if len(done) == 200:
                finished.set()

        svc.submit(offline(200), then)
        assert svc.list(state="open")[1] == 0  # nothing written yet: the loop was not held
        await asyncio.wait_for(finished.wait(), 60)
        stop.set()
        await task
        return turns, len(svc._backlog)

    turns, waiting = asyncio.run(scenario())
    assert waiting == 0
    assert turns >= 200 // 40  # at least once between every two batches
    assert [d for d, _ in done] == [f"cp-{i:05d}" for i in range(200)]  # in order
    assert all(aid is not None for _, aid in done)
    assert len(env.rows()) == 200


def test_batches_are_sized_by_time() -> None:
    b = Backlog(lambda hits: [None] * len(hits), size=500, target_s=0.02)
    b._per_hit_s = 0.001  # 1 ms per hit: 20 hits fill 20 ms
    assert b.next_size() == 20
    b._per_hit_s = 1.0  # very slow: never below the floor
    assert b.next_size() == MIN_BATCH
    b._per_hit_s = 1e-7  # very fast: never above the size
    assert b.next_size() == 500


def test_a_hit_on_a_waiting_key_first_writes_what_waits(env: Env) -> None:
    svc = env.service(write_batch=16)
    calls: list[str] = []

    async def scenario() -> Any:
        flood = offline(100)
        svc.submit(flood, lambda h, a: calls.append(f"{h.device}:{h.active}"))
        # the last device comes back before its offline alarm was written
        back = RuleHit(
            rule="device.offline",
            site="sc01",
            system="lighting",
            device="cp-00099",
            point=None,
            active=False,
            ts_ms=2,
            value="online",
        )
        cleared = svc.apply(back)
        calls.append("clear applied")
        svc.flush()
        return cleared

    cleared = asyncio.run(scenario())
    assert cleared is not None and cleared.state == CLEARED_UNACKED
    assert calls.index("cp-00099:True") < calls.index("clear applied")
    assert len(calls) == 101 and len(env.rows()) == 100


def test_flush_writes_everything_now(env: Env) -> None:
    svc = env.service(write_batch=25)

    async def scenario() -> int:
        svc.submit(offline(60))
        svc.flush()
        return svc.list(state="open")[1]

    assert asyncio.run(scenario()) == 60


# ---------------------------------------------------------------------------- views
def test_a_flood_of_one_rule_in_one_zone_is_one_group(env: Env) -> None:
    svc = env.service()
    svc.apply_many(offline(12))  # car-park, low
    svc.apply_many(offline(3, zone="lobby", at=100))  # too few for a group
    svc.apply_many(offline(15, system="fire", zone="car-park", at=200))  # fire: never grouped
    svc.apply(hit("fire.alarm", "panel1", point="p1", clock=env.clock))
    snap = svc.views.snapshot(per_priority=200, group_min=10)
    (g,) = snap["groups"]
    assert (g["id"], g["count"], g["unacked"], g["active"]) == (
        "group:device.offline:car-park:low",
        12,
        12,
        12,
    )
    assert g["message"] == "12 devices offline in zone car-park"
    assert g["message_zh"] == "car-park 区域 12 台设备离线"
    sent = {a["device"] for a in snap["alarms"]}
    assert not any(d.startswith("cp-000") for d in sent)  # the 12 are in the group
    assert {f"cp-{i:05d}" for i in range(100, 103)} <= sent
    assert {f"cp-{i:05d}" for i in range(200, 215)} <= sent  # fire devices: high, alone
    assert "panel1" in sent
    assert snap["counts"]["low"] == {"open": 15, "unacked": 15}
    assert snap["counts"]["high"]["open"] == 15 and snap["counts"]["critical"]["open"] == 1
    assert sum(snap["more"].values()) == 0
    # no grouping asked: every alarm by itself
    flat = svc.views.snapshot(per_priority=200, group_min=0)
    assert flat["groups"] == [] and len(flat["alarms"]) == 31


def test_the_snapshot_is_bounded_per_priority(env: Env) -> None:
    svc = env.service()
    svc.apply_many(offline(30, zone="lobby"))
    svc.apply(hit("fire.alarm", "panel1", point="p1", clock=env.clock))
    snap = svc.views.snapshot(per_priority=5, group_min=0)
    low = [a for a in snap["alarms"] if a["priority"] == "low"]
    assert [a["device"] for a in low] == [f"cp-{i:05d}" for i in range(25, 30)]  # newest 5
    assert snap["more"]["low"] == 25 and snap["more"]["critical"] == 0
    assert any(a["priority"] == "critical" for a in snap["alarms"])
    assert snap["seq"] == svc.last_seq()
    assert svc.views.snapshot(per_priority=5, group_min=0) is snap  # shared until a change
    svc.apply_many(offline(1, at=500))
    assert svc.views.snapshot(per_priority=5, group_min=0) is not snap


def test_group_members_page_from_the_list(env: Env) -> None:
    svc = env.service()
    svc.apply_many(offline(25))
    svc.apply_many(offline(5, zone="lobby", at=100))
    page, total = svc.list(state="open", rule="device.offline", zone="car-park", limit=10)
    assert total == 25 and len(page) == 10
    seen = [a["id"] for a in page]
    while len(page) == 10:
        page, total = svc.list(
            state="open", rule="device.offline", zone="car-park", limit=10, before=seen[-1]
        )
        assert total == 25
        seen += [a["id"] for a in page]
    assert len(seen) == 25 == len(set(seen)) and seen == sorted(seen, reverse=True)


def test_group_text() -> None:
    assert group_text("device.offline", "car-park", 2310) == (
        "2,310 devices offline in zone car-park",
        "car-park 区域 2,310 台设备离线",
    )
    en, zh = group_text("hvac.fault", "lobby", 11)
    assert en == "11 alarms hvac.fault in zone lobby" and "11" in zh


def test_view_of_nothing() -> None:
    v = view([], 200, 10)
    assert v["alarms"] == [] and v["groups"] == []
    assert v["counts"]["critical"] == {"open": 0, "unacked": 0}


def test_the_drain_rests_as_long_as_it_worked(monkeypatch: pytest.MonkeyPatch) -> None:
    rests: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(s: float) -> None:
        rests.append(s)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)

    def slow(hits: Any) -> list[Any]:
        time.sleep(0.002 * len(hits))  # 2 ms per hit
        return [None] * len(hits)

    b = Backlog(slow, size=10, share=0.5)

    async def drain() -> None:
        b.submit(offline(30))
        assert b._task is not None
        await b._task

    asyncio.run(drain())
    assert len(rests) == 3  # one rest per batch of 10
    assert all(r >= 0.02 for r in rests)  # as long as the batch took (at least 20 ms)


# ------------------------------------------------------------------ the tick in a flood
def test_the_tick_reads_only_the_alarms_it_may_change(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = env.service()
    svc.apply_many(offline(300))
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    shelved = env.raise_(svc, "hvac.fault", "ahu1")
    svc.shelve(shelved["id"], "dave", 1, "known")
    cache = svc._cache
    assert len(cache.open) == 302
    assert {k[0] for k in cache.timed} == {"fire.alarm", "hvac.fault"}  # not the 300
    asked: list[Any] = []
    due = svc._timers.due

    def counted(a: Any, now: int) -> bool:
        asked.append(a)
        return due(a, now)

    monkeypatch.setattr(svc._timers, "due", counted)
    env.clock.advance(60)
    out = svc.tick()
    assert {(d["rule"], d["change"]) for _s, d in out} == {
        ("fire.alarm", "reannounce"),
        ("hvac.fault", "unshelve"),
    }
    assert len(asked) == 2  # the 300 offline alarms were not looked at
    assert {k[0] for k in cache.timed} == {"fire.alarm"}  # unshelved: nothing timed left
    svc.ack(f["id"], "alice")
    assert cache.timed == set()
    env.clock.advance(600)
    asked.clear()
    assert svc.tick() == [] and asked == []
