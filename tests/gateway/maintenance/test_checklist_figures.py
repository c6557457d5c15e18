"""Checklists on preventive tickets (answers, 409 naming what is missing, corrective
tickets, costs) and the PM figures against a hand computation."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import Invalid
from gateway.tickets.checklist import ChecklistIncomplete
from gateway.tickets.preventive import PREVENTIVE
from rules.vocab import TicketStatus
from tests.gateway.maintenance.conftest import DAY_S, T0, World
from tests.gateway.maintenance.test_calendar import resolve

DAY_MS = 86_400_000
ITEMS = [
    {"id": "dp", "text": "Filter pressure drop (Pa)", "kind": "number", "min": 0, "max": 250},
    {"id": "clean", "text": "Pre-filter cleaned", "kind": "check"},
    {"id": "note", "text": "Notes", "kind": "text", "required": False},
]


def _open(w: World, due_days: float, items: list[dict[str, Any]] | None = None) -> int:
    got = w.tickets.open_preventive(
        plan_id="ahu-filter-monthly",
        asset="ahu-01",
        due_at_ms=int((T0 + due_days * DAY_S) * 1000),
        title="AHU filter check",
        crew="hvac",
        priority="low",
        checklist=ITEMS if items is None else items,
        device="ahu-01",
        system="hvac",
        zone="plant-room",
    )
    assert got is not None
    return int(got["id"])


def test_a_checklist_is_answered_before_the_ticket_is_resolved(world: World) -> None:
    tid = _open(world, 3)
    assert (
        world.tickets.open_preventive(  # the same occurrence again: nothing new
            plan_id="ahu-filter-monthly",
            asset="ahu-01",
            due_at_ms=int((T0 + 3 * DAY_S) * 1000),
            title="x",
            crew="hvac",
            priority="low",
            checklist=ITEMS,
        )
        is None
    )
    t = world.tickets.get(tid)
    assert t["category"] == PREVENTIVE and t["plan_id"] == "ahu-filter-monthly"
    assert t["asset"] == "ahu-01" and t["due_at"] == "2026-01-04T00:00:00.000Z"
    world.tickets.transition(tid, TicketStatus.IN_PROGRESS, t["assignee"])
    with pytest.raises(ChecklistIncomplete) as err:
        world.tickets.transition(tid, TicketStatus.RESOLVED, t["assignee"])
    assert err.value.detail()["unanswered"] == ["dp", "clean"]  # the optional note is not
    with pytest.raises(Invalid):
        world.tickets.answer_checklist(tid, {"dp": "high"}, t["assignee"])
    with pytest.raises(Invalid):
        world.tickets.answer_checklist(tid, {"nope": True}, t["assignee"])
    world.tickets.answer_checklist(tid, {"dp": 120}, t["assignee"])
    with pytest.raises(ChecklistIncomplete) as err:
        world.tickets.transition(tid, TicketStatus.RESOLVED, t["assignee"])
    assert err.value.detail()["unanswered"] == ["clean"]
    done = world.tickets.answer_checklist(tid, {"clean": True}, t["assignee"])
    assert done["answers"] == {"dp": 120.0, "clean": True}
    assert world.tickets.transition(tid, TicketStatus.RESOLVED, t["assignee"])["status"] == (
        TicketStatus.RESOLVED
    )


def test_an_answer_outside_its_limits_opens_one_corrective_ticket(world: World) -> None:
    tid = _open(world, 3)
    who = world.tickets.get(tid)["assignee"]
    world.tickets.answer_checklist(tid, {"dp": 310}, who)
    world.tickets.answer_checklist(tid, {"dp": 320}, who)  # still out: no second one
    corrective = [t for t in world.all_tickets() if t.parent_id == tid]
    assert len(corrective) == 1
    c = corrective[0]
    assert c.category == "repair" and c.asset == "ahu-01" and c.crew == "hvac"
    journal = [e["action"] for e in world.tickets.get(tid)["journal"]]
    assert "corrective" in journal


def test_pm_figures_equal_a_hand_computation(world: World) -> None:
    w = world
    opt = [{"id": "note", "text": "Notes", "kind": "text", "required": False}]
    p1 = _open(w, 2)  # resolved on day 1: on time
    p2 = _open(w, 5, opt)  # resolved on day 6: late
    _open(w, 10, opt)  # never resolved: overdue on day 20
    _open(w, 25, opt)  # not yet due on day 20
    p5 = _open(w, 8, opt)  # cancelled: counts nowhere
    w.clock.set(T0 + 1 * DAY_S)
    who = w.tickets.get(p1)["assignee"]
    w.tickets.answer_checklist(p1, {"dp": 300, "clean": True}, who)  # + corrective C1
    w.tickets.add_cost(
        p1, who, labour_min=30, parts=[{"name": "G4 filter", "qty": 1, "unit_cost": 80}]
    )
    resolve(w, p1)
    w.clock.set(T0 + 3 * DAY_S)
    r1 = w.tickets.create(
        title="AHU noisy", category="repair", priority="medium", user="opa", device="ahu-01"
    )
    w.tickets.add_cost(
        r1["id"],
        "hvac-zhang",
        labour_min=45,
        parts=[{"name": "bearing", "qty": 2, "unit_cost": 12.5}],
    )
    w.clock.set(T0 + 4 * DAY_S)
    w.tickets.create(title="Spill", category="cleaning", priority="low", user="opa")
    w.clock.set(T0 + 6 * DAY_S)
    resolve(w, p2)
    w.clock.set(T0 + 7 * DAY_S)
    w.tickets.transition(p5, TicketStatus.CANCELLED, "opa")
    w.clock.set(T0 + 20 * DAY_S)

    f = w.pm.figures(days=30)
    # due in (day -10, day 20]: P1, P2, P3 (P5 cancelled, P4 due on day 25): P1 on time
    assert (f["pm_due"], f["pm_on_time"], f["pm_compliance_pct"]) == (3, 1, 33.3)
    # created in the period, not cancelled: P1-P4 planned; R1, R2, C1 reactive
    assert (f["planned"], f["reactive"], f["planned_pct"]) == (4, 3, 57.1)
    assert f["pm_overdue"] == 1 and f["overdue"][0]["due_at"] == "2026-01-11T00:00:00.000Z"
    ahu = f["by_asset"]["ahu-01"]
    # one failure (R1; C1 is a checklist's corrective work): 720 h / 1
    assert (ahu["failures"], ahu["mtbf_h"]) == (1, 720.0)
    assert ahu["cost"] == {"labour_min": 75.0, "parts": 105.0}  # 30 + 45; 80 + 2 x 12.5
    detail = w.pm.asset("ahu-01")
    assert detail["cost"] == {"labour_min": 75.0, "parts": 105.0}
    created = [h["created_at"] for h in detail["history"]]
    assert created == sorted(created, reverse=True) and len(created) == 7  # P1-P5, C1, R1
