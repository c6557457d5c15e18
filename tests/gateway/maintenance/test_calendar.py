"""Calendar plans over a simulated year on the injected clock: the demo site's monthly,
weekly and quarterly plans open exactly their occurrences, each at its lead time, and
never twice across restarts of the maintenance service."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from gateway.maintenance import triggers as tr
from gateway.tickets.preventive import PLAN_SOURCE, PREVENTIVE
from rules.site import CalendarTrigger, Site
from rules.vocab import TicketStatus
from tests.gateway.maintenance.conftest import DAY_S, T0, World, make_world

YEAR_END = T0 + 365 * DAY_S
HOUR_S = 3600.0
#: occurrences a year of each of the demo's calendar plans, per asset
EXPECTED = {
    "ahu-filter-monthly": 12,
    "cctv-monthly": 12,
    "fire-panel-weekly": 52,
    "extinguisher-quarterly": 4,
    "carpet-quarterly": 4,
}


def _calendar_plans(site: Site) -> dict[str, CalendarTrigger]:
    return {p.id: p.trigger for p in site.plans if isinstance(p.trigger, CalendarTrigger)}


def _check_year(w: World) -> None:
    plans = _calendar_plans(w.site)
    assert set(plans) == set(EXPECTED)
    got = [t for t in w.all_tickets() if t.category == PREVENTIVE]
    assert len({(t.plan_id, t.asset, t.due_at_ms) for t in got}) == len(got), "doubled"
    per = Counter((t.plan_id, t.asset) for t in got)
    plan_assets = {p.id: w.pm.scheduler._selected(p) for p in w.site.plans}
    for pid, n in EXPECTED.items():
        assert plan_assets[pid], pid
        for a in plan_assets[pid]:
            assert per[(pid, a.id)] == n, (pid, a.id, per[(pid, a.id)])
    for t in got:
        trig = plans[t.plan_id or ""]
        assert t.due_at_ms is not None
        # opened at its lead time (the ticks are whole hours, as are the opening times)
        assert t.created_at_ms == t.due_at_ms - tr.lead_ms(trig.lead_days), t.public()
        assert t.resolve_by_ms == t.due_at_ms and t.source == PLAN_SOURCE
        assert t.checklist and t.answers == {}
        assert T0 * 1000 <= t.created_at_ms <= YEAR_END * 1000


def test_a_year_of_calendar_plans(world: World) -> None:
    world.run_until(YEAR_END, HOUR_S)
    _check_year(world)
    # the weekly fire-panel test is due on Mondays at 10:00 site time
    weekly = [t for t in world.all_tickets() if t.plan_id == "fire-panel-weekly"]
    for t in weekly:
        local = tr.to_local(t.due_at_ms or 0, world.site.tz)
        assert (local.weekday(), local.hour, local.minute) == (0, 10, 0)


def test_twenty_restarts_at_random_moments_double_nothing(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    rng = random.Random(11)
    # random whole hours (so the hourly ticks stay on the hours the plans open at)
    moments = sorted(T0 + HOUR_S * h for h in rng.sample(range(1, 365 * 24), 20))
    for i, at in enumerate(moments):
        w.run_until(at, HOUR_S)
        w.restart(clean=i % 2 == 0)  # every other one a crash: nothing closed
    w.run_until(YEAR_END, HOUR_S)
    assert w.restarts == 20
    _check_year(w)
    w.engine.dispose()


def test_two_services_on_one_database_open_each_occurrence_once(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    w.run_until(T0 + 40 * DAY_S, HOUR_S)
    first = w.pm
    w.restart()
    second = w.pm
    for _ in range(24 * 60):
        w.clock.advance(HOUR_S)
        first.tick(w.clock.now_ms())  # the old one goes on beside the new one
        second.tick(w.clock.now_ms())
    got = [t for t in w.all_tickets() if t.category == PREVENTIVE]
    assert len({(t.plan_id, t.asset, t.due_at_ms) for t in got}) == len(got)
    monthly = [t for t in got if t.plan_id == "ahu-filter-monthly"]
    assert len(monthly) == 3  # Feb, Mar, Apr (opened by 100 days)
    w.engine.dispose()


def _site_with(plan: dict[str, object]) -> Site:
    from gateway.site import load_site

    base = load_site().model_dump(mode="json")
    base["plans"] = [plan]
    return Site.model_validate(base)


PLAN = {
    "id": "check",
    "title": "Check",
    "assets": ["ahu-01"],
    "crew": "hvac",
    "checklist": [{"id": "ok", "text": "OK", "kind": "check"}],
}


def _resolve(w: World, tid: int) -> None:
    w.tickets.answer_checklist(tid, {"ok": True}, "hvac-zhang")
    resolve(w, tid)


def resolve(w: World, tid: int) -> None:
    """Take ticket ``tid`` through to resolved as whoever it is assigned to."""
    t = w.tickets.get(tid)
    if t["status"] == TicketStatus.OPEN:
        t = w.tickets.transition(tid, TicketStatus.ASSIGNED, "hvac-zhang", assignee="hvac-zhang")
    w.tickets.transition(tid, TicketStatus.IN_PROGRESS, t["assignee"])
    w.tickets.transition(tid, TicketStatus.RESOLVED, t["assignee"])


@pytest.mark.parametrize("from_completion", [False, True])
def test_next_occurrence_from_the_plan_or_from_completion(
    tmp_path: Path, from_completion: bool
) -> None:
    trigger = {"calendar": "FREQ=DAILY;INTERVAL=10;BYHOUR=9", "from_completion": from_completion}
    w = make_world(tmp_path, _site_with({**PLAN, "trigger": trigger}))
    w.run_until(T0 + 2 * DAY_S, HOUR_S)
    (first,) = w.all_tickets()
    # no lead: the first occurrence owed is Jan 1 09:00, an hour after the plan is first seen
    assert tr.to_local(first.due_at_ms or 0, w.site.tz).isoformat() == "2026-01-01T09:00:00"
    w.run_until(T0 + 14 * DAY_S, HOUR_S)  # resolved 13 days late
    _resolve(w, first.tid)
    w.run_until(T0 + 40 * DAY_S, HOUR_S)  # Feb 10 08:00 site time
    dues = [tr.to_local(t.due_at_ms or 0, w.site.tz).date().isoformat() for t in w.all_tickets()]
    if from_completion:
        # the rule restarts at the completion (Jan 15 08:00): due Jan 15 09:00, then waits
        assert dues == ["2026-01-01", "2026-01-15"]
    else:
        # every ten days from the rule's start, whatever the late completion
        assert dues == ["2026-01-01", "2026-01-11", "2026-01-21", "2026-01-31"]
    w.engine.dispose()


def test_an_occurrence_not_resolved_by_its_due_time_is_breached(tmp_path: Path) -> None:
    trigger = {"calendar": "FREQ=MONTHLY;BYMONTHDAY=5;BYHOUR=12", "lead_days": 2}
    w = make_world(tmp_path, _site_with({**PLAN, "trigger": trigger}))
    w.run_until(T0 + 5 * DAY_S, HOUR_S)
    w.tickets.tick(w.clock.now_ms())
    (t,) = w.all_tickets()
    assert "resolve" in t.breached and t.status in (TicketStatus.OPEN, TicketStatus.ASSIGNED)
    assert w.pm.figures(days=30)["pm_overdue"] == 1
    w.engine.dispose()
