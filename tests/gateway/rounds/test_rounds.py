"""Rounds made on schedule, done by their crew, failures turned into tickets, missed and
abandoned rounds (the service over a real SQLite store and the injected clock)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.errors import Conflict, Forbidden, Invalid
from gateway.store import journal as jr
from gateway.store.models_rounds import round_answers, round_findings
from tests.gateway.rounds.env import ADMIN, CHEN, HU, MA, Env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def do_all(env: Env, rid: int, who=HU, fail: dict[str, bool] | None = None, **kw) -> dict:
    out: dict = {}
    for i in range(10):
        cp = f"cp{i:02d}"
        answers = {"floor": not (fail or {}).get(cp, False), "bins": True}
        photos = [env.photo(who)] if not answers["floor"] else []
        out = env.rounds.answer(rid, cp, answers, who, photos=photos, **kw)
    return out


def test_rounds_are_made_from_the_schedule_when_they_open(env: Env) -> None:
    env.at("08:40")
    assert env.rounds.list()[1] == 0
    env.at("08:45")  # 15 min ahead of 09:00
    items, total = env.rounds.list()
    assert sorted(r["template_id"] for r in items) == ["ten-points", "toilets"]
    r = next(x for x in items if x["template_id"] == "ten-points")
    assert r["status"] == "due" and r["due_at"] == "2026-01-05T01:00:00.000Z"
    assert r["start_by"] == "2026-01-05T01:30:00.000Z"
    assert r["progress"] == {"done": 0, "total": 10, "failed": 0}
    env.at("18:59")
    toilets = [x for x in env.rounds.list(limit=100)[0] if x["template_id"] == "toilets"]
    assert len(toilets) == 5  # 09, 11, 13, 15, 17 h
    env.rounds.tick(force=True)
    assert env.rounds.list(limit=100)[1] == total + 4 + 1  # no round made twice


def test_a_round_done_with_a_failed_item_opens_one_linked_ticket(env: Env) -> None:
    env.at("09:05")
    rid = env.round_of("ten-points")["id"]
    with pytest.raises(Forbidden):
        env.rounds.start(rid, CHEN)  # another crew
    env.rounds.start(rid, HU)
    with pytest.raises(Invalid, match="add a photo"):
        env.rounds.answer(rid, "cp00", {"floor": False, "bins": True}, HU)
    with pytest.raises(Invalid, match="unanswered"):
        env.rounds.answer(rid, "cp01", {"floor": True}, HU)
    out = do_all(env, rid, fail={"cp00": True})
    assert out["progress"] == {"done": 10, "total": 10, "failed": 1}
    done = env.rounds.finish(rid, HU)
    assert done["status"] == "done" and done["on_time"] is True
    tickets = env.tickets_rows()
    assert len(tickets) == 1
    t = tickets[0]
    assert t["source"] == "inspection" and t["category"] == "cleaning" and t["crew"] == "cleaning"
    assert t["zone"] == "lobby" and t["asset"] == "carpet-lobby" and t["round_id"] == rid
    assert done["findings"] == [
        {
            "checkpoint": "cp00",
            "item": "floor",
            "zone": "lobby",
            "ticket_id": t["id"],
            "count": 1,
            "opened_here": True,
        }
    ]
    with env.engine.connect() as conn:
        journal = jr.entries(conn, ticket_id=t["id"])
    finding = next(e for e in journal if e["action"] == "inspection_finding")
    assert finding["detail"]["round_id"] == rid and len(finding["detail"]["photos"]) == 1
    assert env.photos.get(finding["detail"]["photos"][0]).round_id == rid  # type: ignore[union-attr]


def test_the_same_failure_while_its_ticket_is_open_adds_to_it(env: Env) -> None:
    env.at("09:05")
    first = env.round_of("ten-points")["id"]
    env.rounds.start(first, HU)
    do_all(env, first, fail={"cp03": True})
    env.rounds.finish(first, HU)
    env.at("15:00")
    second = next(
        r for r in env.rounds.list()[0] if r["template_id"] == "ten-points" and r["status"] == "due"
    )["id"]
    env.rounds.start(second, MA)
    do_all(env, second, who=MA, fail={"cp03": True, "cp07": True})
    tickets = env.tickets_rows()
    assert len(tickets) == 2  # cp03 again: the same ticket; cp07: a new one
    with env.engine.connect() as conn:
        f = conn.execute(sa.select(round_findings).order_by(round_findings.c.id)).mappings().all()
        journal = jr.entries(conn, ticket_id=f[0]["ticket_id"])
    assert (f[0]["checkpoint"], f[0]["count"], f[0]["rounds"]) == ("cp03", 2, [first, second])
    assert [e["action"] for e in journal].count("inspection_repeat") == 1
    # once that ticket is closed, the next failure opens a new one
    tid = f[0]["ticket_id"]
    env.tickets.transition(tid, "cancelled", "operator", note="done")
    env.rounds.finish(second, MA)
    env.at("15:10")
    env.clock.advance(86_400)
    env.rounds.tick(force=True)
    third = next(
        r for r in env.rounds.list()[0] if r["template_id"] == "ten-points" and r["status"] == "due"
    )["id"]
    env.rounds.start(third, HU)
    do_all(env, third, fail={"cp03": True})
    assert len(env.tickets_rows()) == 3


def test_a_replayed_answer_is_applied_once(env: Env) -> None:
    env.at("09:05")
    rid = env.round_of("ten-points")["id"]
    env.rounds.start(rid, HU)
    for _ in range(3):
        out = env.rounds.answer(rid, "cp01", env.ok_answers(), HU, key="k-cp01-1")
    assert out["replayed"] is True
    env.rounds.answer(rid, "cp02", env.ok_answers(), HU, key="k-cp02-1")
    with env.engine.connect() as conn:
        rows = conn.execute(sa.select(round_answers.c.key)).scalars().all()
    assert rows == ["k-cp01-1", "k-cp02-1"]
    # a replayed failure opens no second ticket either
    pic = env.photo()
    for _ in range(2):
        env.rounds.answer(rid, "cp05", {"floor": False, "bins": True}, HU, photos=[pic], key="f5")
    assert len(env.tickets_rows()) == 1


def test_finish_needs_every_checkpoint_and_an_abandoned_round_keeps_its_answers(env: Env) -> None:
    env.at("09:05")
    rid = env.round_of("ten-points")["id"]
    with pytest.raises(Conflict):
        env.rounds.answer(rid, "cp00", env.ok_answers(), HU)  # not started
    env.rounds.start(rid, HU)
    env.rounds.answer(rid, "cp00", env.ok_answers(), HU)
    env.rounds.answer(rid, "cp01", {"floor": False, "bins": True}, HU, photos=[env.photo()])
    with pytest.raises(Conflict, match="cp02"):
        env.rounds.finish(rid, HU)
    out = env.rounds.abandon(rid, HU, "called to a spill")
    assert out["status"] == "abandoned" and out["progress"]["done"] == 2
    assert out["checkpoints"][1]["failed_items"] == ["floor"]
    assert len(env.tickets_rows()) == 1  # the finding stands


def test_a_round_not_started_in_time_is_missed_and_its_lead_told(env: Env) -> None:
    env.at("09:29")
    rid = env.round_of("ten-points")["id"]
    assert env.rounds.get(rid)["status"] == "due" and env.told == []
    env.at("09:31")  # start_by was 09:30
    r = env.rounds.get(rid)
    assert r["status"] == "missed" and r["missed_at"] == "2026-01-05T01:31:00.000Z"
    assert (["clean-ma"], "[sc01] Round missed 巡检漏检: Ten-point cleaning check") in env.told
    assert env.rounds.list(["missed"])[1] == 2  # the toilets' 09:00 round too
    # done late all the same
    env.rounds.start(rid, ADMIN)
    do_all(env, rid, who=ADMIN)
    done = env.rounds.finish(rid, ADMIN)
    assert done["status"] == "done" and done["late"] is True


def test_a_round_left_in_progress_is_abandoned_after_a_second_window(env: Env) -> None:
    env.at("09:05")
    rid = env.round_of("ten-points")["id"]
    env.rounds.start(rid, HU)
    env.rounds.answer(rid, "cp00", env.ok_answers(), HU)
    env.at("11:59")  # finish_by 10:30, second window to 12:00
    assert env.rounds.get(rid)["status"] == "in_progress"
    env.at("12:01")
    r = env.rounds.get(rid)
    assert r["status"] == "abandoned" and r["progress"]["done"] == 1
