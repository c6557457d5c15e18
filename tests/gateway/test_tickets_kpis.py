"""Maintenance figures on a fixed fixture of tickets, against values computed by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.test_tickets import Env

H = 3600.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)  # Monday 10:00 site time (T)
    yield e
    e.engine.dispose()


def at(env: Env, hours: float) -> None:
    env.clock.set(1_767_578_400.0 + hours * H)


def test_kpis_match_hand_computed_values(env: Env) -> None:
    tk = env.tickets
    # A: complaint, low. Started +30 min, resolved +2 h, follow-up call +3 h: 8/10
    a = tk.create(title="Cold in VIP 1", category="complaint", priority="low", user="op")
    # B: cleaning, critical. Started +20 min (late: 15 min), resolved +5 h (late: 4 h),
    # reopened +6 h, resolved +7 h, call +8 h: 4/10
    b = tk.create(title="Spill in lobby", category="cleaning", priority="critical", user="op")
    # C: filter clogged on ahu-01 (rule), started +1 h, back to normal +1.5 h, resolved
    # +2 h (so closed at once)
    [c] = env.hit("hvac.filter_clogged", "ahu-01")
    assert (a["assignee"], b["assignee"], c["assignee"]) == ("cs-lin", "clean-ma", "hvac-zhang")

    at(env, 1 / 3)
    tk.transition(b["id"], "in_progress", "technician")
    at(env, 0.5)
    tk.transition(a["id"], "in_progress", "technician")
    at(env, 1)
    tk.transition(c["id"], "in_progress", "technician")
    f = tk.create(title="Bin full", category="cleaning", priority="low", user="op")
    assert f["assignee"] == "clean-ma"  # the only cleaner on shift at 11:00
    at(env, 1 + 1 / 6)
    tk.transition(f["id"], "cancelled", "operator", note="done by the sales team")
    at(env, 1.5)
    env.hit("hvac.filter_clogged", "ahu-01", active=False)
    at(env, 2)
    tk.transition(a["id"], "resolved", "technician")
    assert tk.transition(c["id"], "resolved", "technician")["status"] == "closed"
    at(env, 3)
    tk.reply(a["id"], "We raised the setpoint.", "operator")  # a complaint closes once replied
    tk.transition(a["id"], "closed", "operator", satisfaction=8)
    # D: the same fault again: a repeat of C, left assigned
    [d] = env.hit("hvac.filter_clogged", "ahu-01")
    assert d["repeat_of"] == c["id"] and d["assignee"] == "hvac-zhang"
    at(env, 5)
    tk.transition(b["id"], "resolved", "technician")
    at(env, 6)
    tk.transition(b["id"], "in_progress", "technician", note="still sticky")
    at(env, 7)
    tk.transition(b["id"], "resolved", "technician")
    at(env, 8)
    tk.transition(b["id"], "closed", "operator", satisfaction=4)
    # E: enquiry at 19:30 site time: nobody of customer service on shift: on call (cs-he)
    at(env, 9.5)
    e = tk.create(title="Opening hours?", category="enquiry", priority="medium", user="op")
    assert e["assignee"] == "cs-he"
    at(env, 10)
    tk.tick()  # D's respond clock (due +7 h) is breached now

    k = tk.kpis()
    o = k["overall"]
    assert o["tickets"] == 6
    assert o["by_status"] == {
        "open": 0,
        "assigned": 2,
        "in_progress": 0,
        "on_hold": 0,
        "resolved": 0,
        "closed": 3,
        "cancelled": 1,
    }
    assert o["mtta_s"] == (1800 + 1200 + 3600) / 3 == 2200.0
    assert o["mean_time_to_assign_s"] == 0.0
    assert o["mttr_s"] == (7200 + 25200 + 7200) / 3 == 13200.0
    assert o["sla"] == {
        "assign": {"decided": 6, "met": 6, "breached": 0, "compliance_pct": 100.0},
        "respond": {"decided": 4, "met": 2, "breached": 2, "compliance_pct": 50.0},
        "resolve": {"decided": 3, "met": 2, "breached": 1, "compliance_pct": 66.7},
        "callback": {"decided": 2, "met": 2, "breached": 0, "compliance_pct": 100.0},
    }
    assert o["first_time_fix_pct"] == 33.3  # A only: B was reopened, C repeated (D)
    assert o["repeat_fault_pct"] == 50.0  # D of the rule tickets C, D
    assert o["satisfaction"] == {"average": 6.0, "count": 2}
    assert o["backlog"] == {
        "total": 2,
        "by_age": {"<1h": 1, "1-4h": 0, "4-24h": 1, "1-3d": 0, "3-7d": 0, ">7d": 0},
    }

    crews = k["by_crew"]
    assert sorted(crews) == ["cleaning", "customer-service", "hvac"]
    hv = crews["hvac"]
    assert (hv["tickets"], hv["mtta_s"], hv["mttr_s"]) == (2, 3600.0, 7200.0)
    assert hv["first_time_fix_pct"] == 0.0 and hv["repeat_fault_pct"] == 50.0
    assert hv["satisfaction"] == {"average": None, "count": 0}
    assert hv["backlog"]["by_age"]["4-24h"] == 1
    cl = crews["cleaning"]
    assert (cl["tickets"], cl["mtta_s"], cl["mttr_s"]) == (2, 1200.0, 25200.0)
    assert cl["first_time_fix_pct"] == 0.0 and cl["repeat_fault_pct"] is None
    assert cl["sla"]["respond"]["compliance_pct"] == 0.0
    assert cl["satisfaction"]["average"] == 4.0 and cl["backlog"]["total"] == 0
    cs = crews["customer-service"]
    assert (cs["tickets"], cs["mtta_s"], cs["mttr_s"]) == (2, 1800.0, 7200.0)
    assert cs["first_time_fix_pct"] == 100.0 and cs["satisfaction"]["average"] == 8.0
    assert cs["backlog"]["by_age"]["<1h"] == 1

    techs = k["by_technician"]
    assert sorted(techs) == ["clean-ma", "cs-he", "cs-lin", "hvac-zhang"]
    assert techs["clean-ma"]["tickets"] == 2 and techs["clean-ma"]["by_status"]["cancelled"] == 1
    assert techs["cs-lin"]["mttr_s"] == 7200.0 and techs["cs-he"]["mtta_s"] is None
    assert techs["hvac-zhang"]["sla"]["respond"] == {
        "decided": 2,
        "met": 1,
        "breached": 1,
        "compliance_pct": 50.0,
    }
    assert k["at"] == "2026-01-05T12:00:00.000Z"

    # the period: a week later, nothing created in the last 2 days, the backlog remains
    at(env, 7 * 24)
    later = tk.kpis(days=2)["overall"]
    assert later["tickets"] == 0 and later["mtta_s"] is None
    assert later["backlog"]["by_age"]["3-7d"] == 2  # D (6.9 days old) and E (6.6)
