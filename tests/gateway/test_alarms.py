"""The alarm service: life cycle, operator actions, suppression, chattering, critical
re-announcement, listeners, restart, racing writers. SQLite in a temp dir, ManualClock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.alarms import (
    ACTIVE_ACKED,
    ACTIVE_UNACKED,
    CLEARED_UNACKED,
    CLOSED,
    AlarmService,
    Conflict,
    Invalid,
    NotFound,
)
from gateway.clock import ManualClock
from gateway.site import Site
from gateway.store import make_engine, migrate
from gateway.store.models import alarms, journal
from gateway.store.rule_state import RuleStateStore
from rules.model import RuleHit, RuleSpec
from rules.vocab import Priority as P
from tests.contract_fields import ALARM_FIELDS

SITE = Site.model_validate(
    {
        "site": "sc01",
        "name": "Sales centre",
        "timezone": "Asia/Shanghai",
        "zones": [{"id": "z1", "name": "Lobby"}, {"id": "z2", "name": "Office"}],
        "devices": [
            {"id": "ahu1", "system": "hvac", "type": "ahu", "zone": "z1"},
            {"id": "fcu2", "system": "hvac", "type": "fcu", "zone": "z2"},
            {"id": "door1", "system": "access", "type": "door", "zone": "z1"},
            {"id": "door2", "system": "access", "type": "door", "zone": "z2"},
            {
                "id": "panel1",
                "system": "fire",
                "type": "fire_panel",
                "zone": "z1",
                "points": ["p1", "p2"],
            },
            {"id": "lamp1", "system": "lighting", "type": "lighting_circuit", "zone": "z2"},
        ],
    }
)

SPECS = {
    s.id: s
    for s in (
        RuleSpec("hvac.zone_temp_high", "hvac", P.MEDIUM, "alarm", "Zone too warm", "Check AHU"),
        RuleSpec(
            "hvac.fault",
            "hvac",
            P.MEDIUM,
            "alarm",
            "HVAC fault",
            "Call HVAC",
            cause="unit fault",
            consequence="comfort",
        ),
        RuleSpec("hvac.filter_clogged", "hvac", P.LOW, "ticket", "Filter clogged", "Replace"),
        RuleSpec("lighting.lamp_failure", "lighting", P.LOW, "alarm", "Lamp failed", "Replace"),
        RuleSpec("access.door_forced", "access", P.HIGH, "alarm", "Door forced", "Send guard"),
        RuleSpec("access.door_held", "access", P.MEDIUM, "alarm", "Door held", "Close door"),
        RuleSpec(
            "access.tamper", "access", P.HIGH, "alarm", "Tamper", "Inspect", clears_on_ack=True
        ),
        RuleSpec("fire.alarm", "fire", P.CRITICAL, "alarm", "FIRE", "Evacuate"),
        RuleSpec(
            "device.offline",
            None,
            P.LOW,
            "alarm",
            "Offline",
            "Check device",
            priority_by_system=(("fire", P.HIGH),),
        ),
    )
}

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def hit(
    rule: str,
    device: str,
    active: bool = True,
    *,
    point: str | None = None,
    value: Any = 1.0,
    ts_ms: int | None = None,
    clock: ManualClock | None = None,
    message: str = "",
) -> RuleHit:
    dev = SITE.device(device)
    assert dev is not None
    ts = ts_ms if ts_ms is not None else (clock.now_ms() - 500 if clock else 0)
    return RuleHit(
        rule=rule,
        site="sc01",
        system=dev.system,
        device=device,
        point=point,
        active=active,
        ts_ms=ts,
        value=value,
        message=message,
    )


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path}/alarms.db"
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.clock = ManualClock(START)
        self.services: list[AlarmService] = []

    def service(self, **kw: Any) -> AlarmService:
        svc = AlarmService(self.engine, SPECS, self.clock, SITE, **kw)
        self.services.append(svc)
        return svc

    def raise_(self, svc: AlarmService, rule: str, device: str, **kw: Any) -> dict[str, Any]:
        a = svc.apply(hit(rule, device, clock=self.clock, **kw))
        assert a is not None
        return a.public()

    def clear(self, svc: AlarmService, rule: str, device: str, **kw: Any) -> Any:
        return svc.apply(hit(rule, device, False, clock=self.clock, **kw))

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = sa.select(alarms).order_by(alarms.c.id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def journal(self, alarm_id: int | None = None) -> list[tuple[str, str]]:
        q = sa.select(journal.c.actor, journal.c.action).order_by(journal.c.id)
        if alarm_id is not None:
            q = q.where(journal.c.alarm_id == alarm_id)
        with self.engine.connect() as conn:
            return [(a, b) for a, b in conn.execute(q)]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


@pytest.fixture
def svc(env: Env) -> AlarmService:
    return env.service()


def recorder(svc: AlarmService) -> list[tuple[int, dict[str, Any]]]:
    got: list[tuple[int, dict[str, Any]]] = []
    svc.subscribe(lambda seq, d: got.append((seq, d)))
    return got


# ------------------------------------------------------------------ life cycle
def test_raise_gives_the_contract_object(env: Env, svc: AlarmService) -> None:
    env.clock.advance(0.25)
    a = env.raise_(svc, "hvac.fault", "ahu1", value=7, ts_ms=env.clock.now_ms() - 1500)
    assert ALARM_FIELDS <= set(a)
    assert a["state"] == ACTIVE_UNACKED
    assert a["priority"] == "medium" and a["system"] == "hvac" and a["site"] == "sc01"
    assert a["zone"] == "z1"  # from the site file
    assert a["point"] is None
    assert a["raised_at"] == "2026-01-01T00:00:00.250Z"
    assert a["source_ts"] == "2025-12-31T23:59:58.750Z"
    assert a["cleared_at"] is None and a["acked_at"] is None and a["acked_by"] is None
    assert a["value"] == 7 and a["message"] == "HVAC fault" and a["action"] == "Call HVAC"
    assert a["cause"] == "unit fault" and a["consequence"] == "comfort"
    assert a["ticket_ids"] == [] and a["count"] == 1
    assert not (a["shelved"] or a["suppressed"] or a["out_of_service"] or a["chattering"])
    assert isinstance(a["id"], int)
    assert env.journal(a["id"]) == [("system", "raise")]


def test_hit_message_and_point(env: Env, svc: AlarmService) -> None:
    a = env.raise_(
        svc, "fire.alarm", "panel1", point="p1", value="fire_alarm", message="Fire at detector p1"
    )
    assert a["point"] == "p1" and a["message"] == "Fire at detector p1"
    assert a["priority"] == "critical" and a["value"] == "fire_alarm"


def test_priority_by_system(env: Env, svc: AlarmService) -> None:
    assert env.raise_(svc, "device.offline", "panel1")["priority"] == "high"
    assert env.raise_(svc, "device.offline", "ahu1")["priority"] == "low"


def test_repeat_updates_the_open_alarm(env: Env, svc: AlarmService) -> None:
    first = env.raise_(svc, "hvac.fault", "ahu1", value=3)
    env.clock.advance(10)
    again = env.raise_(svc, "hvac.fault", "ahu1", value=5)
    assert again["id"] == first["id"]
    assert again["count"] == 2 and again["value"] == 5
    assert again["source_ts"] > first["source_ts"]
    assert again["raised_at"] == first["raised_at"]
    # an older reading (backfill) counts but does not replace the newer value
    env.raise_(svc, "hvac.fault", "ahu1", value=1, ts_ms=0)
    assert svc.get(first["id"])["value"] == 5
    assert len(env.rows()) == 1
    assert env.journal(first["id"]) == [
        ("system", "raise"),
        ("system", "repeat"),
        ("system", "repeat"),
    ]


def test_other_point_or_device_is_another_alarm(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    b = env.raise_(svc, "fire.alarm", "panel1", point="p2")
    c = env.raise_(svc, "hvac.fault", "fcu2")
    assert len({a["id"], b["id"], c["id"]}) == 3


def test_ack_then_clear_closes(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.clock.advance(5)
    acked = svc.ack(a["id"], "alice", "on it")
    assert acked["state"] == ACTIVE_ACKED and acked["acked_by"] == "alice"
    assert acked["acked_at"] == "2026-01-01T00:00:05.000Z"
    env.clock.advance(5)
    closed = env.clear(svc, "hvac.fault", "ahu1")
    assert closed.state == CLOSED
    got = svc.get(a["id"])
    assert got["state"] == CLOSED and got["cleared_at"] == "2026-01-01T00:00:10.000Z"
    assert [(e["user"], e["action"], e["state"]) for e in got["journal"]] == [
        ("system", "raise", ACTIVE_UNACKED),
        ("alice", "ack", ACTIVE_ACKED),
        ("system", "clear", CLOSED),
    ]
    assert got["journal"][1]["reason"] == "on it"
    assert svc.open_alarms() == []


def test_clear_then_ack_closes(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.clock.advance(5)
    cleared = env.clear(svc, "hvac.fault", "ahu1")
    assert cleared.state == CLEARED_UNACKED
    assert svc.open_alarms()[0]["state"] == CLEARED_UNACKED
    # a second clear changes nothing
    assert env.clear(svc, "hvac.fault", "ahu1").state == CLEARED_UNACKED
    env.clock.advance(5)
    closed = svc.ack(a["id"], "bob")
    assert closed["state"] == CLOSED and closed["acked_by"] == "bob"
    assert closed["cleared_at"] == "2026-01-01T00:00:05.000Z"
    assert [x for _u, x in env.journal(a["id"])] == ["raise", "clear", "ack"]


def test_return_while_cleared_unacked(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.clear(svc, "hvac.fault", "ahu1")
    env.clock.advance(30)
    back = env.raise_(svc, "hvac.fault", "ahu1")
    assert back["id"] == a["id"] and back["state"] == ACTIVE_UNACKED
    assert back["cleared_at"] is None and back["count"] == 2
    assert back["raised_at"] == a["raised_at"]
    assert back["activated_at"] == "2026-01-01T00:00:30.000Z"
    assert [x for _u, x in env.journal(a["id"])] == ["raise", "clear", "reactivate"]


def test_after_close_a_new_alarm(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.clear(svc, "hvac.fault", "ahu1")
    svc.ack(a["id"], "alice")
    b = env.raise_(svc, "hvac.fault", "ahu1")
    assert b["id"] != a["id"] and b["count"] == 1
    assert [r["state"] for r in env.rows()] == [CLOSED, ACTIVE_UNACKED]


def test_clear_with_nothing_open_and_ticket_only_rules(env: Env, svc: AlarmService) -> None:
    assert env.clear(svc, "hvac.fault", "ahu1") is None
    assert svc.apply(hit("hvac.filter_clogged", "ahu1")) is None
    assert env.rows() == []


def test_unknown_rule_still_raises(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "custom.rule", "ahu1", message="custom")
    assert a["priority"] == "low" and a["message"] == "custom"


def test_ack_errors(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    svc.ack(a["id"], "alice")
    with pytest.raises(Conflict):
        svc.ack(a["id"], "alice")
    env.clear(svc, "hvac.fault", "ahu1")
    with pytest.raises(Conflict):
        svc.ack(a["id"], "alice")
    with pytest.raises(NotFound):
        svc.ack(9999, "alice")
    with pytest.raises(NotFound):
        svc.ack("not-an-id", "alice")
    b = env.raise_(svc, "hvac.fault", "ahu1")
    with pytest.raises(Invalid):
        svc.ack(b["id"], " ")
    assert svc.ack(str(b["id"]), "alice")["state"] == ACTIVE_ACKED  # ids may come as text


def test_event_alarm_clears_on_ack(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "access.tamper", "door1", value="tamper")
    env.clock.advance(3)
    closed = svc.ack(a["id"], "carol", "cover refitted")
    assert closed["state"] == CLOSED
    assert closed["cleared_at"] == closed["acked_at"] == "2026-01-01T00:00:03.000Z"
    j = svc.get(a["id"])["journal"]
    assert j[-1]["action"] == "ack" and j[-1]["detail"]["clears_on_ack"] is True
    # the next tamper is a new alarm
    assert env.raise_(svc, "access.tamper", "door1")["id"] != a["id"]


# ---------------------------------------------------------------- shelving
def test_shelve_and_expiry(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    got = recorder(svc)
    s = svc.shelve(a["id"], "dave", 30, "known fault, contractor called")
    assert s["shelved"] and s["shelved_until"] == "2026-01-01T00:30:00.000Z"
    assert s["shelved_by"] == "dave" and s["shelve_reason"] == "known fault, contractor called"
    env.clock.advance(60)
    again = env.raise_(svc, "hvac.fault", "ahu1")
    assert again["shelved"]
    assert got[-1][1]["change"] == "repeat" and got[-1][1]["announce"] is False
    env.clock.advance(29 * 60 - 1)
    assert svc.tick() == []
    env.clock.advance(1)
    changes = svc.tick()
    assert [(d["id"], d["change"], d["shelved"], d["announce"]) for _s, d in changes] == [
        (a["id"], "unshelve", False, True)
    ]
    j = svc.get(a["id"])["journal"]
    assert [(e["user"], e["action"], e["reason"]) for e in j if "shelve" in e["action"]] == [
        ("dave", "shelve", "known fault, contractor called"),
        ("system", "unshelve", "shelve expired"),
    ]


def test_shelve_limits(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    for bad in (0, -5, 481, 10_000):
        with pytest.raises(Invalid):
            svc.shelve(a["id"], "dave", bad, "x")
    with pytest.raises(Invalid):
        svc.shelve(a["id"], "dave", 10, "")
    with pytest.raises(Invalid):
        svc.shelve(a["id"], "dave", 1.5, "x")  # type: ignore[arg-type]
    assert svc.shelve(a["id"], "dave", 480, "max")["shelved"]
    # shelving again sets a new end
    env.clock.advance(60)
    assert svc.shelve(a["id"], "dave", 5, "shorter")["shelved_until"] == (
        "2026-01-01T00:06:00.000Z"
    )


def test_shelve_is_one_shot(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    svc.shelve(a["id"], "dave", 60, "noise")
    cleared = env.clear(svc, "hvac.fault", "ahu1")
    assert cleared.state == CLEARED_UNACKED and not cleared.shelved
    back = env.raise_(svc, "hvac.fault", "ahu1")
    assert not back["shelved"]
    j = svc.get(a["id"])["journal"]
    assert ("system", "unshelve", "alarm cleared (one-shot shelve)") in [
        (e["user"], e["action"], e["reason"]) for e in j
    ]


def test_unshelve(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    with pytest.raises(Conflict):
        svc.unshelve(a["id"], "dave")
    svc.shelve(a["id"], "dave", 10, "x")
    got = recorder(svc)
    u = svc.unshelve(a["id"], "erin")
    assert not u["shelved"] and u["shelved_until"] is None
    assert got[-1][1]["change"] == "unshelve" and got[-1][1]["announce"] is True
    assert env.journal(a["id"])[-1] == ("erin", "unshelve")


def test_critical_cannot_be_shelved_or_closed_alarm(env: Env, svc: AlarmService) -> None:
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    with pytest.raises(Conflict):
        svc.shelve(f["id"], "dave", 10, "annoying")
    a = env.raise_(svc, "hvac.fault", "ahu1")
    svc.ack(a["id"], "alice")
    env.clear(svc, "hvac.fault", "ahu1")
    with pytest.raises(Conflict):
        svc.shelve(a["id"], "dave", 10, "closed")
    with pytest.raises(NotFound):
        svc.shelve(12345, "dave", 10, "missing")


# ----------------------------------------------------------- out of service
def test_out_of_service(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "access.door_held", "door1")
    got = recorder(svc)
    changed = svc.set_out_of_service("access.door_held", "door1", True, "frank", "door repair")
    assert [c["id"] for c in changed] == [a["id"]] and changed[0]["out_of_service"]
    assert svc.out_of_service()[0]["reason"] == "door repair"
    # asking again changes nothing
    assert svc.set_out_of_service("access.door_held", "door1", True, "frank", "again") == []
    # alarms raised while out of service are recorded, flagged, not announced
    svc.ack(a["id"], "frank")
    env.clear(svc, "access.door_held", "door1")
    b = env.raise_(svc, "access.door_held", "door1")
    assert b["out_of_service"] and b["id"] != a["id"]
    assert got[-1][1]["change"] == "raise" and got[-1][1]["announce"] is False
    # another device is not affected
    assert not env.raise_(svc, "access.door_held", "door2")["out_of_service"]
    back = svc.set_out_of_service("access.door_held", "door1", False, "frank")
    assert [c["id"] for c in back] == [b["id"]] and not back[0]["out_of_service"]
    assert got[-1][1]["change"] == "in_service" and got[-1][1]["announce"] is True
    assert svc.out_of_service() == []
    assert ("frank", "out_of_service") in env.journal()
    assert ("frank", "in_service") in env.journal(b["id"])


def test_out_of_service_rules(env: Env, svc: AlarmService) -> None:
    with pytest.raises(Conflict):
        svc.set_out_of_service("fire.alarm", "panel1", True, "frank", "testing")
    with pytest.raises(NotFound):
        svc.set_out_of_service("no.such", "ahu1", True, "frank", "x")
    with pytest.raises(Invalid):
        svc.set_out_of_service("hvac.fault", "ahu1", True, "frank", "")
    # out of service survives a restart
    svc.set_out_of_service("hvac.fault", "ahu1", True, "frank", "replacing unit")
    again = env.service()
    assert again.out_of_service()[0]["by"] == "frank"
    assert env.raise_(again, "hvac.fault", "ahu1")["out_of_service"]


# -------------------------------------------------------------- suppression
def test_fire_alarm_suppresses_its_zone(env: Env, svc: AlarmService) -> None:
    before = env.raise_(svc, "hvac.zone_temp_high", "ahu1")  # z1
    other_zone = env.raise_(svc, "hvac.fault", "fcu2")  # z2
    not_consequential = env.raise_(svc, "access.door_forced", "door1")  # z1
    got = recorder(svc)
    fire = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    assert not fire["suppressed"]
    changes = {d["id"]: d for _s, d in got}
    assert changes[before["id"]]["suppressed"] and changes[before["id"]]["change"] == "suppress"
    assert changes[before["id"]]["announce"] is False
    assert changes[fire["id"]]["announce"] is True
    assert other_zone["id"] not in changes and not_consequential["id"] not in changes
    reason = changes[before["id"]]["suppressed_reason"]
    assert "fire.alarm" in reason and "z1" in reason
    # consequential alarms raised during the fire are suppressed from the start
    held = env.raise_(svc, "access.door_held", "door1")
    assert held["suppressed"] and "fire.alarm" in held["suppressed_reason"]
    assert got[-1][1]["announce"] is False
    # a second fire point in the zone: clearing one keeps the suppression
    fire2 = env.raise_(svc, "fire.alarm", "panel1", point="p2")
    env.clear(svc, "fire.alarm", "panel1", point="p1")
    assert svc.get(held["id"])["suppressed"]
    # the last fire alarm in the zone clears: suppression lifts and is announced
    got.clear()
    env.clear(svc, "fire.alarm", "panel1", point="p2")
    lifted = {d["id"]: d for _s, d in got if d["change"] == "unsuppress"}
    assert set(lifted) == {before["id"], held["id"]}
    assert all(not d["suppressed"] and d["suppressed_reason"] is None for d in lifted.values())
    assert all(d["announce"] for d in lifted.values())
    j = svc.get(before["id"])["journal"]
    assert [(e["action"], "fire.alarm" in (e["reason"] or "")) for e in j] == [
        ("raise", False),
        ("suppress", True),
        ("unsuppress", True),
    ]
    assert fire2["id"] != fire["id"]


def test_suppression_follows_a_returning_fire_alarm(env: Env, svc: AlarmService) -> None:
    fire = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    h = env.raise_(svc, "hvac.fault", "ahu1")
    assert h["suppressed"]
    env.clear(svc, "fire.alarm", "panel1", point="p1")  # cleared_unacked
    assert not svc.get(h["id"])["suppressed"]
    env.raise_(svc, "fire.alarm", "panel1", point="p1")  # returns
    assert svc.get(h["id"])["suppressed"]
    svc.ack(fire["id"], "alice")  # acked, still active: suppression stays
    assert svc.get(h["id"])["suppressed"]
    env.clear(svc, "fire.alarm", "panel1", point="p1")  # closes
    assert not svc.get(h["id"])["suppressed"]


def test_suppression_restored_after_restart(env: Env, svc: AlarmService) -> None:
    env.raise_(svc, "fire.alarm", "panel1", point="p1")
    again = env.service()
    assert env.raise_(again, "access.door_held", "door1")["suppressed"]
    env.clear(again, "fire.alarm", "panel1", point="p1")
    assert not again.open_alarms()[-1]["suppressed"]


# --------------------------------------------------------------- chattering
def test_chattering(env: Env) -> None:
    svc = env.service(chatter_quiet_s=120)
    got = recorder(svc)
    for i in range(3):
        a = env.raise_(svc, "access.door_held", "door2")
        assert a["chattering"] == (i == 2)
        env.clock.advance(10)
        env.clear(svc, "access.door_held", "door2")
        env.clock.advance(10)
    raises = [d for _s, d in got if d["change"] in ("raise", "reactivate")]
    assert [d["announce"] for d in raises] == [True, True, False]
    assert [d["chattering"] for d in raises] == [False, False, True]
    a4 = env.raise_(svc, "access.door_held", "door2")
    assert a4["chattering"] and got[-1][1]["announce"] is False
    assert a4["count"] == 4
    journal_actions = [x for _u, x in env.journal(a4["id"])]
    assert journal_actions.count("chattering") == 1
    # quiet for the quiet period: the mark lifts
    env.clock.advance(119)
    assert svc.tick() == []
    env.clock.advance(1)
    ((seq, d),) = svc.tick()
    assert d["change"] == "chattering_ended" and not d["chattering"] and d["announce"] is True
    assert env.journal(a4["id"])[-1] == ("system", "chattering_ended")


def test_slow_repeats_do_not_chatter(env: Env, svc: AlarmService) -> None:
    for _ in range(5):
        a = env.raise_(svc, "access.door_held", "door2")
        env.clock.advance(31)
        env.clear(svc, "access.door_held", "door2")
        assert not a["chattering"]


def test_chattering_survives_restart_and_spans_alarms(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    svc.ack(a["id"], "x")
    env.clear(svc, "hvac.fault", "ahu1")  # closed
    env.clock.advance(5)
    env.raise_(svc, "hvac.fault", "ahu1")  # a second alarm, same key
    env.raise_(svc, "hvac.fault", "ahu1")  # a repeat while active is no activation
    env.clear(svc, "hvac.fault", "ahu1")
    env.clock.advance(5)
    again = env.service()  # restart: recent activations come back from the journal
    assert env.raise_(again, "hvac.fault", "ahu1")["chattering"]


# ---------------------------------------------------------- critical alarms
def test_critical_reannounced_and_escalated(env: Env, svc: AlarmService) -> None:
    got = recorder(svc)
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    env.clock.advance(59.999)
    assert svc.tick() == []
    env.clock.advance(0.001)
    ((seq, d),) = svc.tick()
    assert (d["id"], d["change"], d["announce"], d["escalations"]) == (
        f["id"],
        "reannounce",
        True,
        1,
    )
    assert got[-1] == (seq, d)
    env.clock.advance(30)
    assert svc.tick() == []
    env.clock.advance(30)
    assert [x["escalations"] for _s, x in svc.tick()] == [2]
    j = [e for e in svc.get(f["id"])["journal"] if e["action"] == "escalate"]
    assert [(e["user"], e["detail"]["level"]) for e in j] == [("system", 1), ("system", 2)]
    assert j[0]["reason"] == "critical alarm unacknowledged for 60 s"
    svc.ack(f["id"], "alice")
    env.clock.advance(600)
    assert svc.tick() == []


def test_critical_cleared_but_unacked_is_reannounced(env: Env, svc: AlarmService) -> None:
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    env.clear(svc, "fire.alarm", "panel1", point="p1")
    env.clock.advance(60)
    assert [d["id"] for _s, d in svc.tick()] == [f["id"]]


def test_critical_never_masked(env: Env, svc: AlarmService) -> None:
    for _ in range(4):
        f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
        env.clear(svc, "fire.alarm", "panel1", point="p1")
    assert not f["chattering"] and not f["suppressed"]


def test_escalation_resumes_after_restart(env: Env, svc: AlarmService) -> None:
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    env.clock.advance(45)
    again = env.service()
    env.clock.advance(15)
    assert [d["id"] for _s, d in again.tick()] == [f["id"]]


# --------------------------------------------------------- listeners / SSE
def test_listeners_and_changes_since(env: Env, svc: AlarmService) -> None:
    got = recorder(svc)
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.raise_(svc, "hvac.fault", "ahu1")
    svc.ack(a["id"], "alice")
    env.clear(svc, "hvac.fault", "ahu1")
    seqs = [s for s, _d in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert [d["change"] for _s, d in got] == ["raise", "repeat", "ack", "close"]
    assert [d["state"] for _s, d in got] == [ACTIVE_UNACKED, ACTIVE_UNACKED, ACTIVE_ACKED, CLOSED]
    assert svc.last_seq() == seqs[-1]
    assert svc.changes_since(seqs[1]) == got[2:]
    assert svc.changes_since(0) == got
    assert svc.changes_since(seqs[-1]) == []

    # a listener that fails does not stop the others or the service
    def broken(seq: int, data: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    svc.subscribe(broken)
    env.raise_(svc, "hvac.fault", "fcu2")
    assert got[-1][1]["device"] == "fcu2"
    # unsubscribe
    other: list[int] = []
    stop = svc.subscribe(lambda s, d: other.append(s))
    stop()
    env.raise_(svc, "hvac.fault", "fcu2")
    assert other == [] and got[-1][1]["change"] == "repeat"
    # sequence numbers go on rising after a restart
    again = env.service()
    assert again.last_seq() == svc.last_seq()
    seq_after, _ = again.snapshot()
    env.raise_(again, "hvac.fault", "ahu1")
    assert again.last_seq() == seq_after + 1
    assert (again.changes_since(seq_after) or [])[0][1]["device"] == "ahu1"


def test_change_log_is_bounded(env: Env) -> None:
    svc = env.service(changes_keep=5)
    for _ in range(20):
        env.raise_(svc, "hvac.fault", "ahu1")
    svc.tick()
    last = svc.last_seq()
    assert svc.oldest_seq() == last - 4
    assert svc.changes_since(0) is None  # the gap cannot be filled: send a snapshot
    assert svc.changes_since(last - 6) is None
    assert [s for s, _d in svc.changes_since(last - 5) or []] == list(range(last - 4, last + 1))
    assert svc.changes_since(last) == []
    assert svc.changes_since(last + 1) is None  # newer than anything: another database
    assert svc.current_seq() == last


def test_snapshot(env: Env, svc: AlarmService) -> None:
    env.raise_(svc, "hvac.fault", "ahu1")
    env.raise_(svc, "access.door_held", "door1")
    seq, items = svc.snapshot()
    assert seq == svc.last_seq() and [i["rule"] for i in items] == [
        "hvac.fault",
        "access.door_held",
    ]


# ------------------------------------------------------------------ restart
def test_restart_resumes_open_alarms(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    b = env.raise_(svc, "access.door_held", "door1")
    svc.ack(b["id"], "alice")
    c = env.raise_(svc, "lighting.lamp_failure", "lamp1")
    svc.ack(c["id"], "alice")
    env.clear(svc, "lighting.lamp_failure", "lamp1")  # closed
    env.engine.dispose()
    # a new process: new engine, new service, same file
    engine = make_engine(env.url)
    migrate(engine)
    again = AlarmService(engine, SPECS, env.clock, SITE)
    assert [(x["id"], x["state"]) for x in again.open_alarms()] == [
        (a["id"], ACTIVE_UNACKED),
        (b["id"], ACTIVE_ACKED),
    ]
    rep = again.apply(hit("hvac.fault", "ahu1", clock=env.clock))
    assert rep is not None and rep.id == a["id"] and rep.count == 2
    assert again.apply(hit("access.door_held", "door1", False)).state == CLOSED  # type: ignore[union-attr]
    engine.dispose()


def test_rule_state_round_trip(env: Env) -> None:
    store = RuleStateStore(env.engine, env.clock)
    assert store.load_rule_state() == {}
    timers = {"hvac.zone_temp_high|ahu1|": {"since_ms": 123, "value": 27.5}}
    store.save_rule_state(timers)
    store.save_rule_state({**timers, "x": {"since_ms": 1}})
    again = RuleStateStore(env.engine, env.clock)
    assert again.load_rule_state() == {**timers, "x": {"since_ms": 1}}
    assert again.load_rule_state("other") == {}


# ------------------------------------------------------------- two writers
def test_two_services_never_duplicate(env: Env) -> None:
    one, two = env.service(), env.service()  # neither knows what the other does
    a = env.raise_(one, "hvac.fault", "ahu1", value=1)
    b = env.raise_(two, "hvac.fault", "ahu1", value=2)  # the unique index says: exists
    assert b["id"] == a["id"] and b["count"] == 2 and b["value"] == 2
    # one's copy is stale now: its write is refused by the version check and redone
    c = env.raise_(one, "hvac.fault", "ahu1", value=3)
    assert c["count"] == 3
    acked = two.ack(a["id"], "alice")
    assert acked["state"] == ACTIVE_ACKED and acked["count"] == 3
    closed = env.clear(one, "hvac.fault", "ahu1")
    assert closed.state == CLOSED and closed.acked_by == "alice"
    # two still holds it as open: its repeat makes a new alarm, not a zombie update
    d = env.raise_(two, "hvac.fault", "ahu1")
    assert d["id"] != a["id"] and d["count"] == 1
    with pytest.raises(Conflict):
        one.ack(a["id"], "bob")
    assert [r["state"] for r in env.rows()] == [CLOSED, ACTIVE_UNACKED]


def test_two_services_racing_in_threads(env: Env) -> None:
    services = [env.service(), env.service()]
    keys = [("hvac.fault", "ahu1"), ("hvac.fault", "fcu2"), ("access.door_held", "door1")]
    n = 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(services))

    def work(svc: AlarmService) -> None:
        try:
            barrier.wait()
            for _ in range(n):
                for rule, device in keys:
                    svc.apply(hit(rule, device, ts_ms=1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    rows = env.rows()
    assert len(rows) == len(keys)
    assert all(r["count"] == n * len(services) for r in rows)
    with env.engine.connect() as conn:
        entries = conn.execute(sa.select(sa.func.count()).select_from(journal)).scalar_one()
    assert entries == n * len(services) * len(keys)  # one raise or repeat per hit


# ------------------------------------------------------------------ queries
def test_list_filters_and_paging(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    env.raise_(svc, "access.door_forced", "door1")
    env.raise_(svc, "access.door_held", "door1")
    f = env.raise_(svc, "fire.alarm", "panel1", point="p1")
    svc.ack(a["id"], "alice")
    env.clear(svc, "hvac.fault", "ahu1")
    items, total = svc.list()
    assert total == 4 and [i["id"] for i in items][0] == f["id"]  # newest first
    assert svc.list(state="closed")[1] == 1
    assert svc.list(state="open")[1] == 3
    assert svc.list(state="active_unacked,closed")[1] == 4
    assert svc.list(priority="critical")[0][0]["id"] == f["id"]
    assert svc.list(priority=["high", "medium"])[1] == 3
    assert svc.list(device="door1")[1] == 2
    assert svc.list(device="door1", priority="high")[1] == 1
    page, total = svc.list(limit=2, offset=1)
    assert total == 4 and len(page) == 2
    with pytest.raises(Invalid):
        svc.list(state="bogus")
    with pytest.raises(Invalid):
        svc.list(priority="urgent")
    with pytest.raises(NotFound):
        svc.get(424242)


def test_link_ticket(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    got = recorder(svc)
    assert svc.link_ticket(a["id"], 17)["ticket_ids"] == [17]
    assert svc.link_ticket(a["id"], 17)["ticket_ids"] == [17]
    assert len(got) == 1 and got[0][1]["change"] == "ticket"
    svc.ack(a["id"], "x")
    env.clear(svc, "hvac.fault", "ahu1")
    assert svc.link_ticket(a["id"], "T-2")["ticket_ids"] == [17, "T-2"]  # closed alarms too
    j = svc.get(a["id"])["journal"]
    assert [e["ticket_id"] for e in j if e["action"] == "link_ticket"] == ["17", "T-2"]


def test_every_journal_entry_names_its_user(env: Env, svc: AlarmService) -> None:
    a = env.raise_(svc, "hvac.fault", "ahu1")
    svc.shelve(a["id"], "bob", 5, "noise")
    svc.unshelve(a["id"], "carol")
    svc.ack(a["id"], "alice", "seen")
    env.clear(svc, "hvac.fault", "ahu1")
    assert env.journal(a["id"]) == [
        ("system", "raise"),
        ("bob", "shelve"),
        ("carol", "unshelve"),
        ("alice", "ack"),
        ("system", "clear"),
    ]


# ----------------------------------------------------------------- hot path
def _statements(engine: sa.Engine) -> tuple[list[str], Any]:
    seen: list[str] = []

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split()[0].upper() + " " + statement.split()[1])

    sa.event.listen(engine, "before_cursor_execute", on_execute)
    return seen, on_execute


def test_repeat_is_one_transaction_without_queries(env: Env, svc: AlarmService) -> None:
    env.raise_(svc, "hvac.fault", "ahu1")
    seen, fn = _statements(env.engine)
    env.raise_(svc, "hvac.fault", "ahu1")
    sa.event.remove(env.engine, "before_cursor_execute", fn)
    # the journal entry is chained: its head is read (locked) and moved (issue 10)
    assert seen == [
        "BEGIN IMMEDIATE",
        "UPDATE meta",
        "UPDATE alarms",
        "INSERT INTO",
        "SELECT journal_head.hash,",
        "INSERT INTO",
        "UPDATE journal_head",
    ]


def test_idle_tick_does_not_touch_the_database(env: Env, svc: AlarmService) -> None:
    env.raise_(svc, "hvac.fault", "ahu1")
    seen, fn = _statements(env.engine)
    env.clock.advance(30)
    assert svc.tick() == []
    sa.event.remove(env.engine, "before_cursor_execute", fn)
    assert seen == []


def test_clear_reaches_an_alarm_raised_by_another_service(env: Env) -> None:
    one = env.service()
    two = env.service()
    a = env.raise_(one, "hvac.fault", "ahu1")
    cleared = env.clear(two, "hvac.fault", "ahu1")
    assert cleared.id == a["id"] and cleared.state == CLEARED_UNACKED
    assert two.ack(a["id"], "alice")["state"] == CLOSED
