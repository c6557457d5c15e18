"""Figures of people's requests (``/api/v1/kpis``: contract section 9), over the people's
tickets (``source`` ``person`` or ``portal``) created in the last ``days``:

- ``satisfaction``: mean score per dimension (``overall``, ``speed``, ``thoroughness``,
  ``attitude``) and how many answered, overall, ``by_crew`` and ``by_category``. A
  survey's answers count; a ticket closed after the follow-up call with no survey counts
  its ``satisfaction`` as ``overall`` (the call asks that one question);
- ``over_standard_time_pct``: the seed's figure, on its definition: of the requests
  resolved (``resolved_at`` set), the share resolved later than their category's
  standard time, which is the ``resolve`` service level of the ticket's priority and
  category (``ticket_sla`` overrides per category), i.e. ``resolved_at > resolve_by``;
  ``within_standard_time_pct`` is the rest;
- ``complaint_reply``: complaints replied to, their mean time to the written reply
  (``created_at`` → ``reply.at``, seconds), those still waiting and those replied late;
- ``by_channel``: requests by how they came in (``portal``, ``staff``, ``phone``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.store import models as m
from gateway.tickets.feedback import DIMENSIONS
from gateway.tickets.model import (
    CHANNEL_STAFF,
    CHANNELS,
    DAY_MS,
    PEOPLE_SOURCES,
    Ticket,
    from_row,
)
from rules.vocab import TicketCategory


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def satisfaction(rows: Iterable[Ticket]) -> dict[str, Any]:
    scores: dict[str, list[float]] = {d: [] for d in DIMENSIONS}
    for t in rows:
        if t.survey:
            for d in DIMENSIONS:
                v = t.survey.get(d)
                if isinstance(v, int):
                    scores[d].append(float(v))
        elif t.satisfaction is not None:
            scores["overall"].append(float(t.satisfaction))
    out: dict[str, Any] = {d: _mean(v) for d, v in scores.items()}
    out["count"] = {d: len(v) for d, v in scores.items()}
    return out


def standard_time(rows: Iterable[Ticket]) -> dict[str, Any]:
    resolved = [t for t in rows if t.resolved_at_ms is not None]
    over = sum(
        1 for t in resolved if t.resolved_at_ms is not None and t.resolved_at_ms > t.resolve_by_ms
    )
    within = _pct(len(resolved) - over, len(resolved))
    return {
        "resolved": len(resolved),
        "over": over,
        "over_standard_time_pct": _pct(over, len(resolved)),
        "within_standard_time_pct": within,
    }


def complaint_reply(rows: Iterable[Ticket]) -> dict[str, Any]:
    complaints = [t for t in rows if t.category == TicketCategory.COMPLAINT]
    replied = [t for t in complaints if t.reply and t.reply.get("at_ms") is not None]
    times = [float(t.reply["at_ms"] - t.created_at_ms) / 1000 for t in replied if t.reply]
    late = sum(1 for t in complaints if "reply" in t.breached)
    return {
        "complaints": len(complaints),
        "replied": len(replied),
        "waiting": len(complaints) - len(replied),
        "late": late,
        "mean_reply_s": _mean(times),
    }


def request_figures(reader: Engine, now_ms: int, days: float) -> dict[str, Any]:
    start = now_ms - int(days * DAY_MS)
    t = m.tickets
    with reader.connect() as conn:
        rows = [
            from_row(r)
            for r in conn.execute(
                sa.select(t)
                .where(
                    t.c.source.in_(PEOPLE_SOURCES),
                    t.c.created_at_ms > start,
                    t.c.created_at_ms <= now_ms,
                )
                .order_by(t.c.id)
            ).mappings()
        ]
    by_channel = {c: 0 for c in CHANNELS}
    for r in rows:
        ch = r.channel or CHANNEL_STAFF
        by_channel[ch] = by_channel.get(ch, 0) + 1
    crews = sorted({r.crew for r in rows})
    cats = sorted({r.category for r in rows})
    times = standard_time(rows)
    return {
        "requests": len(rows),
        "satisfaction": satisfaction(rows),
        "satisfaction_by_crew": {c: satisfaction(r for r in rows if r.crew == c) for c in crews},
        "satisfaction_by_category": {
            c: satisfaction(r for r in rows if r.category == c) for c in cats
        },
        "standard_time": times,
        "over_standard_time_pct": times["over_standard_time_pct"],
        "complaint_reply": complaint_reply(rows),
        "by_channel": by_channel,
    }
