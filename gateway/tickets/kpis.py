"""Maintenance figures over tickets created in the last ``days`` (30), overall, per crew
and per technician (assignee):

- ``mtta_s``: mean time to acknowledge = ``created_at`` → ``started_at`` (the technician
  takes it up: ``in_progress``); assignment is automatic, so its own mean
  (``created_at`` → ``assigned_at``) is given apart as ``mean_time_to_assign_s``;
- ``mttr_s``: mean time to resolve = ``created_at`` → ``resolved_at``;
- ``sla``: per clock, tickets whose clock is decided (met, or breached), how many were
  met, and ``compliance_pct`` = met / decided;
- ``first_time_fix_pct``: of the tickets resolved, those never reopened and with no
  repeat ticket (``repeat_of`` them) within 30 days;
- ``repeat_fault_pct``: of the tickets raised by rules, those that are repeats;
- ``satisfaction``: mean score of the closed tickets that have one, and how many;
- ``backlog``: tickets not yet resolved (any creation date), by age:
  ``<1h``, ``1-4h``, ``4-24h``, ``1-3d``, ``3-7d``, ``>7d``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import iso_ms
from gateway.dispatch import HOUR_MS
from gateway.store import models as m
from gateway.tickets.model import BACKLOG, DAY_MS, PEOPLE_SOURCES, STATUSES, Ticket, from_row
from rules.vocab import TicketSource, TicketStatus

AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("<1h", HOUR_MS),
    ("1-4h", 4 * HOUR_MS),
    ("4-24h", DAY_MS),
    ("1-3d", 3 * DAY_MS),
    ("3-7d", 7 * DAY_MS),
    (">7d", None),
)
DEFINITIONS: Mapping[str, str] = {
    "mtta_s": "mean of created_at -> started_at (in progress), seconds",
    "mean_time_to_assign_s": "mean of created_at -> assigned_at, seconds",
    "mttr_s": "mean of created_at -> resolved_at, seconds",
    "sla": "per clock: decided = met or breached; compliance_pct = met / decided",
    "first_time_fix_pct": "resolved tickets never reopened and not repeated "
    "within 30 days of closing / resolved tickets",
    "repeat_fault_pct": "rule tickets that repeat a fault closed within 30 days / rule tickets",
    "satisfaction": "mean follow-up score (1-10) of closed tickets with one",
    "backlog": "tickets not yet resolved, by age (now - created_at)",
}
_DONE: Mapping[str, Callable[[Ticket], int | None]] = {
    "assign": lambda t: t.assigned_at_ms,
    "respond": lambda t: t.started_at_ms,
    "resolve": lambda t: t.resolved_at_ms,
    "callback": lambda t: t.closed_at_ms if t.source in PEOPLE_SOURCES else None,
}


def ticket_kpis(reader: Engine, now_ms: int, days: float, window_ms: int) -> dict[str, Any]:
    """The figures of the module doc at ``now_ms``; a repeat within ``window_ms`` of a
    ticket closing spoils its first-time fix."""
    start = now_ms - int(days * DAY_MS)
    t = m.tickets
    with reader.connect() as conn:
        period = [
            from_row(r)
            for r in conn.execute(
                sa.select(t)
                .where(t.c.created_at_ms > start, t.c.created_at_ms <= now_ms)
                .order_by(t.c.id)
            ).mappings()
        ]
        backlog = [
            from_row(r)
            for r in conn.execute(
                sa.select(t).where(t.c.status.in_(BACKLOG), t.c.created_at_ms <= now_ms)
            ).mappings()
        ]
        repeats = conn.execute(
            sa.select(t.c.repeat_of, t.c.created_at_ms).where(t.c.repeat_of.is_not(None))
        ).all()
    repeated: dict[int, list[int]] = {}
    for of, at in repeats:
        repeated.setdefault(int(of), []).append(int(at))

    def figures(rows: list[Ticket], open_rows: list[Ticket]) -> dict[str, Any]:
        return _figures(rows, open_rows, repeated, now_ms, window_ms)

    crews = sorted({r.crew for r in period} | {r.crew for r in backlog})
    techs = sorted({r.assignee for r in [*period, *backlog] if r.assignee})
    return {
        "at": iso_ms(now_ms),
        "period": {"start": iso_ms(start), "end": iso_ms(now_ms), "days": days},
        "definitions": dict(DEFINITIONS),
        "overall": figures(period, backlog),
        "by_crew": {
            c: figures([r for r in period if r.crew == c], [r for r in backlog if r.crew == c])
            for c in crews
        },
        "by_technician": {
            a: figures(
                [r for r in period if r.assignee == a], [r for r in backlog if r.assignee == a]
            )
            for a in techs
        },
    }


def _mean_s(values: Iterable[int]) -> float | None:
    vals = list(values)
    return round(sum(vals) / len(vals) / 1000, 3) if vals else None


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _sla(rows: list[Ticket]) -> dict[str, Any]:
    sla: dict[str, Any] = {}
    for clock, when in _DONE.items():
        decided = met = 0
        for r in rows:
            breached = clock in r.breached
            finished = when(r) is not None
            if breached or finished:
                decided += 1
                if finished and not breached:
                    met += 1
        sla[clock] = {
            "decided": decided,
            "met": met,
            "breached": decided - met,
            "compliance_pct": _pct(met, decided),
        }
    return sla


def _backlog(open_rows: list[Ticket], now_ms: int) -> dict[str, Any]:
    buckets = {name: 0 for name, _ in AGE_BUCKETS}
    for r in open_rows:
        age = now_ms - r.created_at_ms
        for name, limit in AGE_BUCKETS:
            if limit is None or age < limit:
                buckets[name] += 1
                break
    return {"total": len(open_rows), "by_age": buckets}


def _figures(
    rows: list[Ticket],
    open_rows: list[Ticket],
    repeated: Mapping[int, list[int]],
    now_ms: int,
    window_ms: int,
) -> dict[str, Any]:
    resolved = [
        r
        for r in rows
        if r.resolved_at_ms is not None and r.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
    ]

    def fixed_first_time(r: Ticket) -> bool:
        if r.reopened > 0:
            return False
        closed = r.closed_at_ms or r.resolved_at_ms or 0
        return not any(at <= closed + window_ms for at in repeated.get(r.tid, []))

    rule_rows = [r for r in rows if r.source == TicketSource.RULE]
    scores = [
        int(r.satisfaction)
        for r in rows
        if r.satisfaction is not None and r.status == TicketStatus.CLOSED
    ]
    return {
        "tickets": len(rows),
        "by_status": {s: sum(1 for r in rows if r.status == s) for s in STATUSES},
        "mtta_s": _mean_s(
            r.started_at_ms - r.created_at_ms for r in rows if r.started_at_ms is not None
        ),
        "mean_time_to_assign_s": _mean_s(
            r.assigned_at_ms - r.created_at_ms for r in rows if r.assigned_at_ms is not None
        ),
        "mttr_s": _mean_s(
            r.resolved_at_ms - r.created_at_ms for r in rows if r.resolved_at_ms is not None
        ),
        "sla": _sla(rows),
        "first_time_fix_pct": _pct(sum(1 for r in resolved if fixed_first_time(r)), len(resolved)),
        "repeat_fault_pct": _pct(
            sum(1 for r in rule_rows if r.repeat_of is not None), len(rule_rows)
        ),
        "satisfaction": {
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            "count": len(scores),
        },
        "backlog": _backlog(open_rows, now_ms),
    }
