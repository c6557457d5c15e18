"""Who hears of a ticket change and through what: the profile's channels as outbox rows
(in the change's transaction) and the browser feed; per-person limits; nothing secret in
a message; critical alarms unacknowledged 60 s to the leads and the site manager, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import Invalid
from gateway.notify.delivery import chat_dest
from rules.model import RuleHit
from tests.gateway.requests.env import KEY, Env

SLACK = "https://hooks.slack.example/services/T000/B000/SECRETxyz"
WECOM = "https://qyapi.weixin.example/cgi-bin/webhook/send?key=secret-key-123"


def profile_all(env: Env, user: str, email: str) -> None:
    env.notifier.profiles.set(
        user,
        email=email,
        chats=[{"kind": "slack", "url": SLACK}, {"kind": "wecom", "url": WECOM}],
        browser=True,
    )


def test_a_new_ticket_tells_its_assignee_through_their_channels(env: Env) -> None:
    for uid in ("clean-ma", "clean-hu", "clean-guo"):
        profile_all(env, uid, f"{uid}@example.com")
    token = env.submit("cleaning", description="call me on 13800000000")
    t = env.ticket_of(token)
    who = t["assignee"]
    mails = env.outbox_rows("email:")
    assert [r["dest"] for r in mails] == [f"email:{who}@example.com"]
    chats = env.outbox_rows("chat:")
    # the same group webhooks once, however many people share them
    assert sorted(r["dest"] for r in chats) == sorted(
        [chat_dest("slack", SLACK), chat_dest("wecom", WECOM)]
    )
    slack = next(r for r in chats if r["dest"].startswith("chat:slack"))
    assert slack["topic"] == SLACK and SLACK not in slack["dest"]
    body = json.loads(slack["payload"])
    assert set(body) == {"text"} and f"#{t['id']}" in body["text"]
    wecom = json.loads(next(r for r in chats if r["dest"].startswith("chat:wecom"))["payload"])
    assert wecom["msgtype"] == "text" and "lobby" in wecom["text"]["content"]
    # nothing secret: not the progress link, the zone key, a webhook URL, what was typed
    for r in env.outbox_rows():
        for secret in (token, KEY, SLACK, WECOM, "13800000000", env.token()):
            assert secret not in r["payload"]
    feed = env.notifier.feed(who)
    assert len(feed) == 1 and feed[0]["ticket_id"] == t["id"]
    assert env.notifier.feed(who, after=feed[0]["id"]) == []


def test_unassigned_tickets_tell_the_crew_and_reassignment_the_new_assignee(env: Env) -> None:
    for uid in ("hvac-zhang", "hvac-liu", "hvac-li"):
        env.notifier.profiles.set(uid, email=f"{uid}@example.com", chats=[], browser=False)
    t = env.tickets.create(
        title="FCU noisy",
        category="repair",
        priority="medium",
        user="operator",
        device="fcu-lobby-01",
    )
    first = t["assignee"]
    other = "hvac-liu" if first != "hvac-liu" else "hvac-zhang"
    before = len(env.outbox_rows("email:"))
    env.tickets.transition(t["id"], "assigned", "operator", assignee=other)
    new = env.outbox_rows("email:")[before:]
    assert [r["dest"] for r in new] == [f"email:{other}@example.com"]
    # a status change that is none of new/assigned/escalated/breached tells nobody
    env.tickets.transition(t["id"], "in_progress", "operator")
    assert len(env.outbox_rows("email:")) == before + 1


def test_breach_and_escalation_notify(env: Env) -> None:
    env.notifier.profiles.set("cs-lin", email="lin@example.com", chats=[], browser=True)
    env.submit("complaint")  # medium: in progress within 4 h; cs-lin takes it and leads
    env.clock.advance(3.5 * 3600)
    env.tickets.tick()
    titles = [n["title"] for n in env.notifier.feed("cs-lin")]
    assert any("Escalated" in x for x in titles)  # the respond clock at 80 %: to the lead
    env.clock.advance(3600)
    env.tickets.tick()
    assert any("Overdue" in n["title"] for n in env.notifier.feed("cs-lin"))


def test_per_person_rate_limit(tmp_path: Path) -> None:
    env = Env(tmp_path, notify_per_hour=2)
    env.notifier.profiles.set("clean-ma", email="ma@example.com", chats=[], browser=False)
    env.notifier.profiles.set("clean-hu", email="hu@example.com", chats=[], browser=False)
    for i in range(4):
        env.submit("cleaning", zone=["lobby", "meeting", "vip-1", "vip-2"][i], address=f"2.0.0.{i}")
    per: dict[str, int] = {}
    for r in env.outbox_rows("email:"):
        per[r["dest"]] = per.get(r["dest"], 0) + 1
    # Monday 10:00: only clean-ma is on shift, so she gets all four; two are told
    assert per == {"email:ma@example.com": 2} and env.notifier.suppressed == 2
    env.clock.advance(3601)
    env.submit("cleaning", zone="offices", address="2.0.0.9")
    assert sum(1 for _ in env.outbox_rows("email:")) == sum(per.values()) + 1


def test_profiles_are_checked_and_shown_masked(env: Env) -> None:
    p = env.notifier.profiles.set(
        "hvac-li", email="li@example.com", chats=[{"kind": "slack", "url": SLACK}], browser=True
    )
    shown = env.notifier.profiles.public(p)
    assert SLACK not in json.dumps(shown) and shown["chats"][0]["url"].endswith("Txyz")
    with pytest.raises(Invalid):
        env.notifier.profiles.set("hvac-li", email="not-an-address", chats=[], browser=False)
    with pytest.raises(Invalid):
        env.notifier.profiles.set(
            "hvac-li", email=None, chats=[{"kind": "icq", "url": SLACK}], browser=False
        )
    with pytest.raises(Invalid):
        env.notifier.profiles.set(
            "hvac-li", email=None, chats=[{"kind": "slack", "url": "ftp://x"}], browser=False
        )


def test_a_critical_alarm_unacknowledged_60s_tells_leads_and_manager_once(
    tmp_path: Path,
) -> None:
    env = Env(tmp_path)
    for uid in ("sec-chen", "fire-wu", "fire-xu"):
        env.notifier.profiles.set(uid, email=f"{uid}@example.com", chats=[], browser=True)
    hit = RuleHit(
        rule="fire.alarm",
        site="sc01",
        system="fire",
        device="fp-01",
        point="L1-D01",
        active=True,
        ts_ms=env.clock.now_ms(),
        value="fire_alarm",
    )
    alarm = env.alarms.apply(hit)
    assert alarm is not None and alarm.priority == "critical"
    assert env.notifier.tick(env.clock.now_ms()) == 0
    env.clock.advance(59)
    assert env.notifier.tick(env.clock.now_ms()) == 0
    env.clock.advance(2)
    assert env.notifier.tick(env.clock.now_ms()) == 1
    leads = {r["dest"] for r in env.outbox_rows("email:") if "CRITICAL" in r["payload"]}
    # the leads of security and fire-safety (the rule's crews); the demo's site manager
    # is a name, not a user, so nobody more
    assert leads == {"email:sec-chen@example.com", "email:fire-wu@example.com"}
    assert env.notifier.tick(env.clock.now_ms()) == 0
    again = Env(tmp_path)  # a restart: the notice is not sent twice
    env.clock.advance(5)
    again.clock.set(env.clock.now())
    assert [a.rule for a in again.alarms.active_alarms()] == ["fire.alarm"]
    assert again.notifier.tick(again.clock.now_ms()) == 0


def test_a_chat_sent_back_masked_keeps_its_saved_url(env: Env) -> None:
    profiles = env.notifier.profiles
    p = profiles.set("hvac-li", email=None, chats=[{"kind": "slack", "url": SLACK}], browser=True)
    shown = profiles.public(p)["chats"]
    again = profiles.set("hvac-li", email="li@example.com", chats=shown, browser=True)
    assert again.chats == (("slack", SLACK),)
    assert profiles.get("hvac-li").chats == (("slack", SLACK),)
