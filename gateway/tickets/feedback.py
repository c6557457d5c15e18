"""What comes back from the people a ticket serves: the survey and a complaint's reply.

- :func:`record_survey`: the person's answers (``overall``, ``speed``, ``thoroughness``,
  ``attitude``, 1-10 each, and an optional ``comment``) on a ticket raised by a person,
  once it is resolved or closed; a second survey is :class:`Conflict` (409). The answers
  are journaled (``survey``) and published like any change; ``overall`` then stands for
  the follow-up call's score when the ticket is closed without one.
- :func:`record_reply`: the written reply to a complaint (``reply``: text, who, when),
  journaled and published (the notifier sends it on where the complainant left an e-mail
  address); it stops the complaint's ``reply`` clock, and a complaint is not closed
  without it (``gateway.tickets.lifecycle``). A later reply replaces the text and keeps
  the first time (the clock was met then).

Both run inside one ticket transaction (:class:`~gateway.tickets.store.TicketTx`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import Conflict, Invalid
from gateway.people.audit import Audit, audit_detail
from gateway.tickets.model import PEOPLE_SOURCES, Ticket
from gateway.tickets.store import TicketTx
from rules.vocab import TicketCategory, TicketStatus

#: the seed's dimensions (overall, response speed, thoroughness, attitude)
DIMENSIONS: tuple[str, ...] = ("overall", "speed", "thoroughness", "attitude")
MAX_COMMENT = 2000
MAX_REPLY = 4000


def check_survey(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The survey as stored; :class:`Invalid` for a missing or out-of-range score."""
    out: dict[str, Any] = {}
    for dim in DIMENSIONS:
        v = answers.get(dim)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10:
            raise Invalid(f"{dim} is a whole number from 1 to 10")
        out[dim] = v
    comment = answers.get("comment")
    if comment is not None:
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise Invalid(f"comment is a text of at most {MAX_COMMENT} characters")
        out["comment"] = comment.strip() or None
    return out


def survey_open(t: Ticket) -> bool:
    """Whether the person may answer the survey now."""
    return (
        t.source in PEOPLE_SOURCES
        and t.survey is None
        and t.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    )


def record_survey(ttx: TicketTx, tid: int, answers: Mapping[str, Any], actor: str) -> Ticket:
    survey = check_survey(answers)
    old = ttx.load(tid)
    if old.survey is not None:
        raise Conflict(f"ticket {tid}: the survey is answered already")
    if not survey_open(old):
        raise Conflict(f"ticket {tid}: the survey opens once the request is resolved")
    new = ttx.edit(old)
    new.survey = {**survey, "at_ms": ttx.now}
    ttx.log(new, "survey", actor=actor, detail={k: survey[k] for k in DIMENSIONS})
    ttx.save(old, new, "survey")
    return new


def record_reply(
    ttx: TicketTx, tid: int, text: str, user: str, audit: Audit | None = None
) -> Ticket:
    body = (text or "").strip()
    if not body or len(body) > MAX_REPLY:
        raise Invalid(f"the reply is a text of 1 to {MAX_REPLY} characters")
    old = ttx.load(tid)
    if old.category != TicketCategory.COMPLAINT:
        raise Conflict(f"ticket {tid} is not a complaint: no reply to record")
    if old.status in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
        raise Conflict(f"ticket {tid} is {old.status}")
    new = ttx.edit(old)
    first = (old.reply or {}).get("at_ms")
    new.reply = {
        "text": body,
        "by": user,
        "by_name": (audit or {}).get("by_name") or user,
        "at_ms": first or ttx.now,
        "updated_at_ms": ttx.now,
    }
    ttx.log(new, "reply", actor=user, reason=body, detail=audit_detail(audit))
    if new.reply_by_ms and ttx.now > new.reply_by_ms and "reply" not in new.breached:
        new.breached = [*new.breached, "reply"]
        ttx.log(new, "breach", reason="reply clock missed", detail={"clock": "reply"})
    ttx.save(old, new, "reply")
    return new
