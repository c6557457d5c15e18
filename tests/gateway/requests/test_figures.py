"""Figures of people's requests against a hand-computed fixture (contract section 9):
satisfaction by dimension, crew and category; the share resolved later than the standard
time (the seed's 35 % figure, same definition); complaint reply time; requests by channel.

The fixture (created Monday 10:00 site time; standard time = the resolve level of the
priority and category: medium 24 h, low 72 h, high 8 h):

====  =======  =========  ========  ========  ===========  ==================================
id    channel  category   priority  resolved  over std.?   scores
====  =======  =========  ========  ========  ===========  ==================================
A     portal   cleaning   medium    +2 h      no           survey 8 / 6 / 7 / 9
B     portal   repair     medium    +30 h     yes (>24 h)  follow-up call 5
C     staff    complaint  low       +80 h     yes (>72 h)  follow-up call 4; reply at +3 h
D     phone    cleaning   high      +1 h      no           follow-up call 10
E     portal   enquiry    medium    open      -            -
====  =======  =========  ========  ========  ===========  ==================================

over_standard_time_pct = 2 / 4 = 50.0; overall = (8 + 5 + 4 + 10) / 4 = 6.75; speed 6,
thoroughness 7, attitude 9 (one survey); by channel portal 3, staff 1, phone 1; the
complaint's reply after 3 h = 10 800 s. By crew: cleaning (8 + 10) / 2 = 9.0, electrical
5.0, customer-service 4.0.
"""

from __future__ import annotations

from gateway.tickets.model import CHANNEL_PHONE
from rules.model import RuleHit
from tests.gateway.requests.env import Env

HOUR = 3600.0


def test_request_figures_equal_the_hand_computed_fixture(env: Env) -> None:
    a = env.ticket_of(env.submit("cleaning", zone="lobby", address="1.0.0.1"))["id"]
    b = env.ticket_of(env.submit("repair", zone="meeting", address="1.0.0.2"))["id"]
    c = env.tickets.create(
        title="Rude reply at the desk", category="complaint", priority="low", user="cs-lin"
    )["id"]
    d = env.tickets.create(
        title="Toilet 2F needs cleaning",
        category="cleaning",
        priority="high",
        user="cs-lin",
        channel=CHANNEL_PHONE,
    )["id"]
    env.submit("enquiry", zone="offices", address="1.0.0.3")
    hit = RuleHit(
        rule="lighting.lamp_failure",
        site="sc01",
        system="lighting",
        device="lt-lobby-01",
        point=None,
        active=True,
        ts_ms=env.clock.now_ms() - 100,
        value=True,
    )
    alarm = env.alarms.apply(hit)
    assert env.tickets.on_hit(hit, alarm.id if alarm else None)  # a rule's ticket: not counted
    for tid in (a, b, c, d):
        env.move(tid, "in_progress")
    start = env.clock.now()

    def at(hours: float) -> None:
        env.clock.set(start + hours * HOUR)

    at(1)
    env.move(d, "resolved")
    env.tickets.transition(d, "closed", "operator", satisfaction=10)
    at(2)
    env.move(a, "resolved")
    env.tickets.record_survey(a, {"overall": 8, "speed": 6, "thoroughness": 7, "attitude": 9})
    env.tickets.transition(a, "closed", "operator")
    at(3)
    env.tickets.reply(c, "We apologise; the colleague has been spoken to.", "cs-lin")
    at(30)
    env.move(b, "resolved")
    env.tickets.transition(b, "closed", "operator", satisfaction=5)
    at(80)
    env.move(c, "resolved")
    env.tickets.transition(c, "closed", "operator", satisfaction=4)

    f = env.requests.figures(days=30)
    assert f["requests"] == 5
    assert f["over_standard_time_pct"] == 50.0
    assert f["standard_time"] == {
        "resolved": 4,
        "over": 2,
        "over_standard_time_pct": 50.0,
        "within_standard_time_pct": 50.0,
    }
    s = f["satisfaction"]
    assert (s["overall"], s["speed"], s["thoroughness"], s["attitude"]) == (6.75, 6.0, 7.0, 9.0)
    assert s["count"] == {"overall": 4, "speed": 1, "thoroughness": 1, "attitude": 1}
    by_crew = {k: v["overall"] for k, v in f["satisfaction_by_crew"].items()}
    assert by_crew == {"cleaning": 9.0, "customer-service": 4.0, "electrical": 5.0}
    assert f["satisfaction_by_category"]["complaint"]["overall"] == 4.0
    assert f["by_channel"] == {"portal": 3, "staff": 1, "phone": 1}
    assert f["complaint_reply"] == {
        "complaints": 1,
        "replied": 1,
        "waiting": 0,
        "late": 0,
        "mean_reply_s": 10800.0,
    }
    # the rule tickets and tickets older than the period do not count
    env.clock.set(start + 40 * 24 * HOUR)
    assert env.requests.figures(days=30)["requests"] == 0
