"""The request page's service: zone tokens (forged, rotated), a request becomes a routed
ticket with source portal, its private progress, the survey once, the limits, complaints'
replies and clock."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.errors import Conflict, Invalid, NotFound
from gateway.requests import RateLimited, RequestService
from gateway.requests.limits import SlidingWindow
from gateway.requests.tokens import ZoneTokens, new_progress_token, zone_token
from gateway.store.models import portal_keys, portal_requests
from tests.gateway.requests.env import KEY, OLD_KEY, SITE, Env

HOUR = 3600.0


def test_zone_tokens_are_the_zones_hmac_and_cannot_be_forged(env: Env) -> None:
    tok = env.token("lobby")
    assert tok == zone_token(KEY, "sc01", "lobby") and len(tok) == 22
    assert env.requests.zone(tok)["zone"] == "lobby"
    assert env.requests.zone(env.token("car-park"))["name"] == "Car park"
    forged = [
        zone_token("x" * 32, "sc01", "lobby"),  # another key
        zone_token(KEY, "other-site", "lobby"),  # another site
        tok[:-1] + ("A" if tok[-1] != "A" else "B"),  # one character changed
        tok[:-1],
        "lobby",
        "",
    ]
    for bad in forged:
        with pytest.raises(NotFound):
            env.requests.zone(bad)
        with pytest.raises(NotFound):
            env.requests.submit(bad, kind="cleaning", address="10.0.0.9")


def test_rotation_new_key_signs_old_key_still_accepted_until_removed() -> None:
    zones = [z.id for z in SITE.zones]
    old = ZoneTokens([OLD_KEY], "sc01", zones)
    rotated = ZoneTokens([KEY, OLD_KEY], "sc01", zones)
    retired = ZoneTokens([KEY], "sc01", zones)
    printed = old.sign("vip-1")
    assert rotated.zone(printed) == "vip-1"  # codes on the walls keep working
    assert rotated.sign("vip-1") == retired.sign("vip-1") != printed  # new codes: new key
    assert retired.zone(printed) is None
    with pytest.raises(ValueError):
        ZoneTokens(["short"], "sc01", zones)


def test_without_a_configured_key_one_is_made_once_and_kept(tmp_path: Path) -> None:
    env = Env(tmp_path, portal_secret="")
    first = env.token("lobby")
    with env.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(portal_keys)).scalar() == 1
    again = Env(tmp_path, portal_secret="")  # a restart on the same store
    assert again.token("lobby") == first


def test_a_request_becomes_a_routed_portal_ticket_with_a_private_link(env: Env) -> None:
    token = env.submit(
        "cleaning", description="Spilt coffee by the sand table", contact="+86 138 0000 0000"
    )
    t = env.ticket_of(token)
    assert (t["source"], t["channel"], t["category"], t["crew"]) == (
        "portal",
        "portal",
        "cleaning",
        "cleaning",
    )
    assert t["zone"] == "lobby" and t["status"] == "assigned" and t["assignee"]
    assert "+86" not in str(t)  # the contact stays off the ticket
    p = env.requests.progress(token)
    assert p["status"] == "assigned" and p["kind"] == "cleaning" and not p["survey_open"]
    assert p["created_at"] == "2026-01-05T02:00:00.000Z" and p["resolve_by"]
    assert "id" not in p and "assignee" not in p and "contact" not in p
    # only the token's hash is stored
    with env.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.select(portal_requests)).mappings()]
    assert len(rows) == 1 and token not in str(rows) and len(rows[0]["token_hash"]) == 64


def test_kinds_route_like_other_peoples_requests(env: Env) -> None:
    crews: dict[str, tuple[str, str, str]] = {}
    for kind in ("repair", "security", "complaint", "enquiry", "other"):
        t = env.ticket_of(env.submit(kind, zone="vip-1", address=f"10.0.1.{len(crews)}"))
        crews[kind] = (t["category"], t["crew"], t["priority"])
    assert crews == {
        "repair": ("repair", "electrical", "medium"),  # portal_repair_crew: no device named
        "security": ("security", "security", "high"),
        "complaint": ("complaint", "customer-service", "medium"),
        "enquiry": ("enquiry", "customer-service", "medium"),
        "other": ("enquiry", "customer-service", "medium"),
    }
    with pytest.raises(Invalid):
        env.submit("plumbing", zone="vip-2", address="10.0.2.1")
    with pytest.raises(Invalid):
        env.submit("cleaning", zone="vip-2", address="10.0.2.2", contact="<script>")


def test_progress_then_the_survey_once(env: Env) -> None:
    token = env.submit("cleaning")
    tid = env.ticket_of(token)["id"]
    answers = {"overall": 9, "speed": 7, "thoroughness": 8, "attitude": 10, "comment": "ok"}
    with pytest.raises(Conflict):  # not resolved yet
        env.requests.survey(token, answers)
    env.move(tid, "in_progress", "resolved")
    p = env.requests.progress(token)
    assert p["status"] == "resolved" and p["survey_open"] is True
    with pytest.raises(Invalid):
        env.requests.survey(token, {**answers, "speed": 11})
    after = env.requests.survey(token, answers)
    assert after["survey_open"] is False and after["surveyed"] is True
    with pytest.raises(Conflict):
        env.requests.survey(token, answers)
    t = env.tickets.get(tid)
    assert {k: t["survey"][k] for k in ("overall", "speed", "thoroughness", "attitude")} == {
        "overall": 9,
        "speed": 7,
        "thoroughness": 8,
        "attitude": 10,
    }
    assert [e["action"] for e in t["journal"]].count("survey") == 1
    # the follow-up call closes it; the person's overall stands for the score
    closed = env.tickets.transition(tid, "closed", "operator")
    assert closed["satisfaction"] == 9


def test_a_thousand_guessed_progress_links_find_nothing(env: Env) -> None:
    real = env.submit("cleaning")
    for _ in range(1000):
        guess = new_progress_token()
        assert guess != real
        with pytest.raises(NotFound):
            env.requests.progress(guess)
    for bad in ("", "x", real[:-1], real + "x", "../../etc/passwd", secrets.token_hex(40)):
        with pytest.raises(NotFound):
            env.requests.progress(bad)


def test_the_sixth_submission_in_a_minute_is_refused(env: Env) -> None:
    for i in range(5):
        env.submit("cleaning", address="10.9.9.9", description=f"#{i}")
    with pytest.raises(RateLimited) as err:
        env.submit("cleaning", address="10.9.9.9")
    assert 1 <= err.value.retry_after <= 60
    # the zone token's own limit: five more from five addresses on another zone's code
    for i in range(5):
        env.submit("cleaning", zone="meeting", address=f"10.8.0.{i}")
    with pytest.raises(RateLimited):
        env.submit("cleaning", zone="meeting", address="10.8.0.99")
    env.clock.advance(61)
    env.submit("cleaning", address="10.9.9.9")  # a minute later: fine again


def test_limits_hold_bounded_memory() -> None:
    w = SlidingWindow(limit=5, window_s=60, max_keys=100)
    for i in range(10_000):
        w.hit(f"addr-{i}", now=float(i) / 1000)
    assert len(w) <= 100
    for _ in range(5):
        w.hit("a", 20.0)
    assert w.retry_after("a", 20.0) == 60 and w.retry_after("a", 80.5) == 0


def test_a_complaint_cannot_close_without_its_reply(env: Env) -> None:
    token = env.submit(
        "complaint", description="Nobody answered the phone", contact="visitor@example.com"
    )
    t = env.ticket_of(token)
    assert t["reply_by"] == "2026-01-06T02:00:00.000Z"  # 24 h
    tid = t["id"]
    env.move(tid, "in_progress", "resolved")
    with pytest.raises(Conflict, match="reply"):
        env.tickets.transition(tid, "closed", "operator", satisfaction=6)
    with pytest.raises(Invalid):
        env.tickets.reply(tid, "   ", "cs-lin")
    r = env.tickets.reply(tid, "We are sorry; the desk is now staffed until 18:30.", "cs-lin")
    assert r["reply"]["text"].startswith("We are sorry") and r["reply"]["by"] == "cs-lin"
    assert env.requests.progress(token)["reply"].startswith("We are sorry")
    closed = env.tickets.transition(tid, "closed", "operator", satisfaction=6)
    assert closed["status"] == "closed"
    # the complainant left an e-mail address: the reply goes to it through the outbox
    mails = env.outbox_rows("email:visitor@example.com")
    assert len(mails) == 1 and "desk is now staffed" in mails[0]["payload"]
    # only complaints take replies
    other = env.ticket_of(env.submit("cleaning", address="10.0.0.2"))
    with pytest.raises(Conflict):
        env.tickets.reply(other["id"], "thanks", "cs-lin")


def test_a_complaints_reply_clock_is_breached_and_escalated(env: Env) -> None:
    t = env.ticket_of(env.submit("complaint"))
    env.clock.advance(0.85 * 24 * HOUR)
    env.tickets.tick()
    t1 = env.tickets.get(t["id"])
    assert t1["escalations"].get("reply") == 1 and t1["escalated_to"] == "cs-lin"
    env.clock.advance(0.2 * 24 * HOUR)
    env.tickets.tick()
    t2 = env.tickets.get(t["id"])
    assert "reply" in t2["breached"] and t2["escalations"]["reply"] == 2
    late = env.tickets.reply(t["id"], "Sorry for the delay.", "cs-lin")
    assert "reply" in late["breached"]


def test_the_service_refuses_garbage(env: Env) -> None:
    tok = env.token()
    with pytest.raises(Invalid):
        env.requests.submit(tok, kind="cleaning", description="x" * 2001, address="1.1.1.1")
    with pytest.raises(Invalid):
        env.requests.submit(tok, kind="cleaning", photo="../x", address="1.1.1.2")
    assert isinstance(env.requests, RequestService)
