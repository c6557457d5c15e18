"""The ticket service: tickets from rules and people, life cycle, closed loop, out of
service, repeats, delayed dispatch, breaches and escalation. SQLite in a temp dir, the
demo site and the default rule pack, ManualClock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.alarms import AlarmService
from gateway.clock import ManualClock
from gateway.outbox import Outbox
from gateway.site import load_site
from gateway.store import make_engine, migrate
from gateway.store.models import journal, outbox, tickets
from gateway.tickets import (
    ClosedLoop,
    Conflict,
    IllegalTransition,
    Invalid,
    NotFound,
    TicketService,
)
from rules import load_default_pack
from rules.model import RuleHit

SITE = load_site()
SPECS = load_default_pack().specs
MON_10H = 1_767_578_400.0  # 2026-01-05T02:00:00Z: Monday 10:00 in Asia/Shanghai
DAY = 86_400.0

CONTRACT_FIELDS = {
    "id",
    "title",
    "category",
    "priority",
    "status",
    "source",
    "rule",
    "crew",
    "assignee",
    "device",
    "alarm_id",
    "created_at",
    "assigned_at",
    "started_at",
    "resolved_at",
    "closed_at",
    "assign_by",
    "respond_by",
    "resolve_by",
    "callback_by",
    "breached",
    "repeat_of",
    "satisfaction",
}


class Env:
    def __init__(self, tmp_path: Path, start: float = MON_10H) -> None:
        self.engine = make_engine(f"sqlite:///{tmp_path}/t.db")
        migrate(self.engine)
        self.clock = ManualClock(start)
        self.alarms = AlarmService(self.engine, SPECS, self.clock, SITE)
        self.outbox = Outbox(
            self.engine, self.clock, "sc01", webhooks=["http://127.0.0.1:9/x"], secret="s3cret"
        )
        self.tickets = self.service()
        self.changes: list[tuple[str, dict[str, Any]]] = []
        self.tickets.subscribe(lambda c, t: self.changes.append((c, t)))

    def service(self) -> TicketService:
        return TicketService(
            self.engine, SPECS, self.clock, SITE, alarms=self.alarms, outbox=self.outbox
        )

    def hit(
        self,
        rule: str,
        device: str,
        active: bool = True,
        *,
        point: str | None = None,
        value: Any = 1,
        message: str = "",
    ) -> list[dict[str, Any]]:
        """What the runtime does with a hit: alarm service first, then tickets."""
        dev = SITE.device(device)
        assert dev is not None
        h = RuleHit(
            rule=rule,
            site="sc01",
            system=dev.system,
            device=device,
            point=point,
            active=active,
            ts_ms=self.clock.now_ms() - 100,
            value=value,
            message=message or f"{rule} on {device}",
        )
        alarm = self.alarms.apply(h)
        return self.tickets.on_hit(h, alarm.id if alarm is not None else None)

    def alarm(self, rule: str, device: str) -> dict[str, Any] | None:
        for a in self.alarms.open_alarms():
            if a["rule"] == rule and a["device"] == device:
                return a
        return None

    def actions(self, ticket_id: int) -> list[tuple[str, str]]:
        q = (
            sa.select(journal.c.actor, journal.c.action)
            .where(journal.c.ticket_id == str(ticket_id))
            .order_by(journal.c.id)
        )
        with self.engine.connect() as conn:
            return [(a, b) for a, b in conn.execute(q)]

    def all_tickets(self) -> list[dict[str, Any]]:
        return self.tickets.list(limit=1000)[0]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


def move(env: Env, tid: int, *steps: str, user: str = "technician", **kw: Any) -> dict[str, Any]:
    t: dict[str, Any] = {}
    for to in steps:
        t = env.tickets.transition(tid, to, user, **kw)
    return t


# ------------------------------------------------------------------ from rules
def test_filter_clogged_is_ticket_only_and_dispatched_to_the_member_on_shift(env: Env) -> None:
    made = env.hit("hvac.filter_clogged", "ahu-01", value=300)
    assert len(made) == 1
    t = made[0]
    assert CONTRACT_FIELDS <= set(t)
    assert env.alarms.open_alarms() == []  # no alarm
    assert t["crew"] == "hvac" and t["source"] == "rule" and t["rule"] == "hvac.filter_clogged"
    assert t["priority"] == "low" and t["device"] == "ahu-01" and t["alarm_id"] is None
    # Monday 10:00 site time: Zhang is on shift (Mon-Fri 08-20), Liu is not (Thu-Sun)
    assert t["status"] == "assigned" and t["assignee"] == "hvac-zhang"
    assert t["created_at"] == t["assigned_at"] == "2026-01-05T02:00:00.000Z"
    assert t["assign_by"] == "2026-01-05T02:15:00.000Z"
    assert t["respond_by"] == "2026-01-05T06:00:00.000Z"
    assert t["resolve_by"] == "2026-01-08T02:00:00.000Z"
    assert t["callback_by"] is None and t["breached"] == [] and t["repeat_of"] is None
    assert env.actions(t["id"]) == [("system", "create"), ("dispatch", "assign")]
    # again while open: still one ticket
    assert env.hit("hvac.filter_clogged", "ahu-01") == []
    assert len(env.all_tickets()) == 1


def test_alarm_rule_ticket_is_linked_to_its_alarm(env: Env) -> None:
    [t] = env.hit("hvac.fault", "fcu-lobby-01", value=7)
    a = env.alarm("hvac.fault", "fcu-lobby-01")
    assert a is not None and t["alarm_id"] == a["id"] and a["ticket_ids"] == [t["id"]]
    assert t["priority"] == "medium" and t["crew"] == "hvac"


def test_rule_without_crews_opens_no_ticket(env: Env) -> None:
    assert env.hit("lighting.after_hours_waste", "lt-lobby-01") == []
    assert env.all_tickets() == []


def test_fire_alarm_opens_one_ticket_per_crew(env: Env) -> None:
    made = env.hit("fire.alarm", "fp-01", point="L1-D01", value="fire_alarm")
    assert sorted(t["crew"] for t in made) == ["fire-safety", "security"]
    assert {t["priority"] for t in made} == {"critical"}
    # another point of the same panel: the same two tickets (one per rule, device, crew)
    again = env.hit("fire.alarm", "fp-01", point="L1-D02")
    assert {t["id"] for t in again} == {t["id"] for t in made}  # linked to the new alarm
    assert len(env.all_tickets()) == 2
    second = env.alarm("fire.alarm", "fp-01")
    assert second is not None
    assert {a["id"] for a in env.alarms.open_alarms()} >= {t["alarm_id"] for t in again}


def test_door_held_goes_to_security_after_300_s_of_alarm(env: Env) -> None:
    assert env.hit("access.door_held", "door-office") == []
    env.clock.advance(299)
    assert env.tickets.tick() == []
    env.clock.advance(1)
    [t] = env.tickets.tick()
    assert t["crew"] == "security" and t["rule"] == "access.door_held"
    assert t["alarm_id"] == env.alarm("access.door_held", "door-office")["id"]  # type: ignore[index]
    env.clock.advance(60)
    assert env.tickets.tick() == []  # dispatched once
    assert len(env.all_tickets()) == 1


def test_door_held_that_clears_first_never_dispatches(env: Env) -> None:
    env.hit("access.door_held", "door-office")
    env.clock.advance(200)
    env.hit("access.door_held", "door-office", active=False)
    env.clock.advance(200)
    assert env.tickets.tick() == []
    assert env.all_tickets() == []


def test_delayed_dispatch_survives_a_restart(env: Env) -> None:
    env.hit("access.door_held", "door-office")
    env.clock.advance(301)
    other = env.service()  # a new service (gateway restarted) on the same database
    [t] = other.tick()
    assert t["crew"] == "security"


def test_device_offline_crew_by_system(env: Env) -> None:
    [fire] = env.hit("device.offline", "sd-lobby-01")  # fire: fire-safety at once
    assert fire["crew"] == "fire-safety" and fire["priority"] == "high"
    assert env.hit("device.offline", "fcu-lobby-01") == []  # hvac: after 1800 s
    env.clock.advance(1800)
    [hv] = env.tickets.tick()
    assert hv["crew"] == "hvac" and hv["priority"] == "low"


# ----------------------------------------------------------- closing and repeats
def test_rule_ticket_closes_once_the_condition_is_verified_normal(env: Env) -> None:
    [t] = env.hit("hvac.filter_clogged", "ahu-01")
    move(env, t["id"], "in_progress")
    with pytest.raises(ClosedLoop):
        move(env, t["id"], "resolved")
    r = move(env, t["id"], "resolved", note="filter replaced; waiting for dp to settle")
    assert r["status"] == "resolved" and r["resolved_at"] is not None
    with pytest.raises(ClosedLoop):
        move(env, t["id"], "closed")  # not by hand while the condition is active
    env.clock.advance(60)
    [c] = env.hit("hvac.filter_clogged", "ahu-01", active=False)
    assert c["status"] == "closed" and c["closed_at"] == "2026-01-05T02:01:00.000Z"
    assert env.actions(t["id"])[-2:] == [("system", "condition_normal"), ("system", "transition")]


def test_resolved_after_the_condition_cleared_closes_at_once(env: Env) -> None:
    [t] = env.hit("hvac.fault", "fcu-lobby-01")
    env.hit("hvac.fault", "fcu-lobby-01", active=False)
    got = move(env, t["id"], "in_progress", "resolved")
    assert got["status"] == "closed" and got["resolved_at"] == got["closed_at"]


def test_same_fault_within_30_days_is_a_repeat(env: Env) -> None:
    [t1] = env.hit("hvac.filter_clogged", "ahu-01")
    env.hit("hvac.filter_clogged", "ahu-01", active=False)
    move(env, t1["id"], "in_progress", "resolved")
    env.clock.advance(29 * DAY)
    [t2] = env.hit("hvac.filter_clogged", "ahu-01")
    assert t2["repeat_of"] == t1["id"] and t2["id"] != t1["id"]
    env.hit("hvac.filter_clogged", "ahu-01", active=False)
    move(env, t2["id"], "in_progress", "resolved")
    env.clock.advance(31 * DAY)
    [t3] = env.hit("hvac.filter_clogged", "ahu-01")
    assert t3["repeat_of"] is None
    # another device is another fault
    [t4] = env.hit("hvac.filter_clogged", "fcu-lobby-01")
    assert t4["repeat_of"] is None


# --------------------------------------------------------------- from people
@pytest.mark.parametrize(
    ("category", "device", "crew"),
    [
        ("complaint", None, "customer-service"),
        ("enquiry", None, "customer-service"),
        ("cleaning", None, "cleaning"),
        ("security", None, "security"),
        ("repair", "fcu-vip-01", "hvac"),
        ("repair", "lt-lobby-02", "electrical"),
        ("repair", "door-vip", "security"),
        ("repair", "sd-vip-01", "fire-safety"),
    ],
)
def test_people_tickets_are_routed_by_category(
    env: Env, category: str, device: str | None, crew: str
) -> None:
    t = env.tickets.create(
        title="Please look", category=category, priority="medium", device=device, user="operator"
    )
    assert t["crew"] == crew and t["source"] == "person" and t["rule"] is None
    assert t["status"] == "assigned" and t["assignee"] is not None


def test_people_ticket_validation(env: Env) -> None:
    with pytest.raises(Invalid, match="names its device"):
        env.tickets.create(title="Broken", category="repair", priority="low", user="op")
    with pytest.raises(Invalid, match="no device"):
        env.tickets.create(
            title="Broken", category="repair", priority="low", device="nope", user="op"
        )
    with pytest.raises(Invalid):
        env.tickets.create(title="x", category="gardening", priority="low", user="op")
    with pytest.raises(Invalid):
        env.tickets.create(title="x", category="cleaning", priority="urgent", user="op")
    with pytest.raises(Invalid):
        env.tickets.create(title=" ", category="cleaning", priority="low", user="op")


def test_person_ticket_closes_with_satisfaction_after_the_call(env: Env) -> None:
    t = env.tickets.create(
        title="Too cold in VIP 1", category="complaint", priority="low", user="operator"
    )
    move(env, t["id"], "in_progress")
    env.clock.advance(3600)
    r = move(env, t["id"], "resolved")
    assert r["callback_by"] == "2026-01-06T03:00:00.000Z"
    # a complaint closes only once its written reply is recorded (contract section 9)
    env.tickets.reply(t["id"], "We raised the setpoint of VIP 1.", "operator")
    with pytest.raises(Invalid, match="satisfaction"):
        move(env, t["id"], "closed", user="operator")
    c = env.tickets.transition(t["id"], "closed", "operator", satisfaction=8, note="called")
    assert c["status"] == "closed" and c["satisfaction"] == 8
    with pytest.raises(Invalid):
        env.tickets.transition(t["id"], "closed", "operator", satisfaction=11)


# ------------------------------------------------------------------ life cycle
def test_illegal_moves_list_the_allowed_ones(env: Env) -> None:
    t = env.tickets.create(title="Spill", category="cleaning", priority="low", user="op")
    with pytest.raises(IllegalTransition) as err:
        move(env, t["id"], "resolved")
    assert err.value.allowed == ["assigned", "in_progress", "cancelled"]
    assert err.value.detail()["status"] == "assigned"
    move(env, t["id"], "cancelled", note="duplicate")
    with pytest.raises(IllegalTransition) as err:
        move(env, t["id"], "open")
    assert err.value.allowed == []
    with pytest.raises(NotFound):
        move(env, 999, "in_progress")
    with pytest.raises(Invalid):
        move(env, t["id"], "done")


def test_every_move_is_journaled_with_who_and_why(env: Env) -> None:
    t = env.tickets.create(title="Lift noise", category="enquiry", priority="low", user="op")
    env.tickets.transition(t["id"], "assigned", "operator", assignee="cs-he", note="handover")
    move(env, t["id"], "in_progress")
    move(env, t["id"], "on_hold", note="waiting for the customer")
    move(env, t["id"], "in_progress", "resolved")
    got = env.tickets.get(t["id"])
    assert got["assignee"] == "cs-he"
    moves = [(j["user"], j["action"], j["reason"], j["detail"].get("to")) for j in got["journal"]]
    assert moves == [
        ("op", "create", None, None),
        ("dispatch", "assign", moves[1][2], None),
        ("operator", "transition", "handover", "assigned"),
        ("technician", "transition", None, "in_progress"),
        ("technician", "transition", "waiting for the customer", "on_hold"),
        ("technician", "transition", None, "in_progress"),
        ("technician", "transition", None, "resolved"),
    ]
    with pytest.raises(Conflict):
        env.tickets.transition(t["id"], "assigned", "op")  # resolved: not allowed
    t2 = env.tickets.create(title="x", category="enquiry", priority="low", user="op")
    with pytest.raises(Invalid):
        env.tickets.transition(t2["id"], "assigned", "op", assignee="stranger")


def test_reopen_counts(env: Env) -> None:
    t = env.tickets.create(title="Leak", category="cleaning", priority="low", user="op")
    move(env, t["id"], "in_progress", "resolved", "in_progress")
    got = env.tickets.get(t["id"])
    assert got["reopened"] == 1 and got["resolved_at"] is None and got["callback_by"] is None


# ------------------------------------------------------------- out of service
def test_alarms_out_of_service_while_in_progress(env: Env) -> None:
    [t] = env.hit("hvac.fault", "fcu-lobby-01")
    move(env, t["id"], "in_progress")
    a = env.alarm("hvac.fault", "fcu-lobby-01")
    assert a is not None and a["out_of_service"]
    move(env, t["id"], "on_hold", note="waiting for parts")
    assert env.alarm("hvac.fault", "fcu-lobby-01")["out_of_service"]  # type: ignore[index]
    move(env, t["id"], "in_progress")
    move(env, t["id"], "resolved", note="reset; monitoring")
    assert not env.alarm("hvac.fault", "fcu-lobby-01")["out_of_service"]  # type: ignore[index]
    assert env.alarms.out_of_service() == []


def test_critical_alarms_never_go_out_of_service(env: Env) -> None:
    made = env.hit("fire.alarm", "fp-01", point="L1-D01")
    t = next(x for x in made if x["crew"] == "fire-safety")
    move(env, t["id"], "in_progress")
    assert not env.alarm("fire.alarm", "fp-01")["out_of_service"]  # type: ignore[index]
    assert ("system", "stays_in_service") in env.actions(t["id"])


# --------------------------------------------------------- clocks and escalation
def test_escalation_at_80_percent_then_breach_and_site_manager(env: Env) -> None:
    [t] = env.hit("hvac.filter_clogged", "ahu-01")  # low: in progress within 4 h
    env.clock.advance(0.79 * 4 * 3600)
    assert env.tickets.tick() == []
    env.clock.advance(0.01 * 4 * 3600)
    [e] = env.tickets.tick()
    assert e["escalation"] == 1 and e["escalated_to"] == "hvac-zhang"  # the crew lead
    assert e["escalations"] == {"respond": 1} and e["breached"] == []
    assert env.changes[-1][0] == "escalate"
    assert env.tickets.tick() == []  # once
    env.clock.advance(0.2 * 4 * 3600 + 1)
    [b] = env.tickets.tick()
    assert b["breached"] == ["respond"] and b["escalation"] == 2
    assert b["escalated_to"] == SITE.site_manager
    acts = [a for _, a in env.actions(t["id"])]
    assert acts.count("escalate") == 2 and acts.count("breach") == 1
    # late start: no second breach entry
    move(env, t["id"], "in_progress")
    assert env.tickets.get(t["id"])["breached"] == ["respond"]


def test_late_moves_are_breaches_too(env: Env) -> None:
    t = env.tickets.create(title="Spill", category="cleaning", priority="critical", user="op")
    env.clock.advance(16 * 60)  # critical: in progress within 15 min (no tick ran)
    got = move(env, t["id"], "in_progress")
    assert got["breached"] == ["respond"]


def test_open_ticket_of_a_crew_with_nobody_stays_open_and_breaches_assign(
    env: Env, tmp_path: Path
) -> None:
    site = SITE.model_copy(update={"crews": []})
    svc = TicketService(env.engine, SPECS, env.clock, site)
    t = svc.create(title="Noise", category="complaint", priority="high", user="op")
    assert t["status"] == "open" and t["assignee"] is None
    env.clock.advance(15 * 60 + 1)
    [b] = svc.tick()
    assert "assign" in b["breached"] and b["escalation"] == 2


def test_outbox_rows_written_with_each_change(env: Env) -> None:
    t = env.tickets.create(title="Spill", category="cleaning", priority="low", user="op")
    move(env, t["id"], "in_progress")
    with env.engine.connect() as conn:
        rows = conn.execute(sa.select(outbox.c.dest, outbox.c.payload).order_by(outbox.c.id)).all()
    assert [d for d, _ in rows] == ["webhook:http://127.0.0.1:9/x"] * 2

    first, second = (json.loads(p) for _, p in rows)
    assert first["change"] == "create" and first["ticket"]["status"] == "assigned"
    assert second["change"] == "transition:in_progress"
    assert second["ticket"]["id"] == t["id"] and second["site"] == "sc01"


def test_list_filters(env: Env) -> None:
    env.tickets.create(title="a", category="cleaning", priority="low", user="op")
    env.tickets.create(title="b", category="complaint", priority="low", user="op")
    items, total = env.tickets.list(crew="cleaning")
    assert total == 1 and items[0]["title"] == "a"
    assert env.tickets.list(status="assigned")[1] == 2
    assert env.tickets.list(status="closed")[1] == 0
    with pytest.raises(Invalid):
        env.tickets.list(status="weird")
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar() == 2
