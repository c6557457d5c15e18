"""Preventive-maintenance figures and an asset's history, read from the tickets.

Over a period of ``days`` to ``now`` (tickets as stored; cancelled tickets count nowhere):

- ``pm_compliance_pct``: of the occurrences *due* in the period (preventive tickets whose
  ``due_at`` falls in it), the share resolved at or before their ``due_at``;
- ``planned_pct``: of the tickets *created* in the period, the share that is preventive
  (planned work) against every other ticket (reactive work: rules, people, and the
  corrective tickets a checklist opened);
- ``pm_overdue``: preventive tickets not yet resolved whose ``due_at`` has passed (now,
  whatever the period);
- per asset: ``failures`` (tickets of the asset created in the period that are neither
  preventive nor a checklist's corrective ticket), ``mtbf_h`` (the period's hours over
  its failures; ``null`` without one), and the cost to date (every ticket of the asset
  ever: ``labour_min`` and ``parts`` = the sum of quantity x unit cost).

A ticket belongs to an asset by its ``asset``, or (rule and people tickets, which name a
device) by its ``device`` being the asset's device.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import iso_ms
from gateway.maintenance.assets import AssetInfo
from gateway.store import models as m
from gateway.tickets.model import BACKLOG, Ticket, from_row
from gateway.tickets.preventive import PREVENTIVE
from rules.vocab import TicketStatus

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DEFINITIONS: Mapping[str, str] = {
    "pm_compliance_pct": "preventive tickets due in the period resolved by their due time "
    "/ preventive tickets due in the period (cancelled ones left out)",
    "planned_pct": "preventive tickets / all tickets, created in the period (cancelled left out)",
    "pm_overdue": "preventive tickets not resolved whose due time has passed",
    "failures": "tickets of the asset created in the period, neither preventive nor corrective",
    "mtbf_h": "hours of the period / failures",
    "cost": "labour minutes and parts (quantity x unit cost) of every ticket of the asset",
}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def cost_of(tickets: Iterable[Ticket]) -> dict[str, float]:
    labour = parts = 0.0
    for t in tickets:
        for entry in t.costs or ():
            labour += float(entry.get("labour_min") or 0.0)
            parts += sum(float(p["qty"]) * float(p["unit_cost"]) for p in entry.get("parts", ()))
    return {"labour_min": round(labour, 1), "parts": round(parts, 2)}


def belongs(t: Ticket, a: AssetInfo) -> bool:
    if t.asset is not None:
        return t.asset == a.id
    return a.device is not None and t.device == a.device


def is_failure(t: Ticket) -> bool:
    return t.category != PREVENTIVE and t.parent_id is None


def _all(reader: Engine) -> list[Ticket]:
    t = m.tickets
    with reader.connect() as conn:
        return [
            from_row(r)
            for r in conn.execute(
                sa.select(t).where(t.c.status != TicketStatus.CANCELLED).order_by(t.c.id)
            ).mappings()
        ]


def pm_figures(
    reader: Engine, assets: Mapping[str, AssetInfo], now_ms: int, days: float
) -> dict[str, Any]:
    """The figures of the module doc."""
    start = now_ms - int(days * DAY_MS)
    rows = _all(reader)
    due = [
        r
        for r in rows
        if r.category == PREVENTIVE and r.due_at_ms is not None and start < r.due_at_ms <= now_ms
    ]
    on_time = [
        r for r in due if r.resolved_at_ms is not None and r.resolved_at_ms <= (r.due_at_ms or 0)
    ]
    created = [r for r in rows if start < r.created_at_ms <= now_ms]
    planned = [r for r in created if r.category == PREVENTIVE]
    overdue = [
        r
        for r in rows
        if r.category == PREVENTIVE
        and r.status in BACKLOG
        and r.due_at_ms is not None
        and r.due_at_ms < now_ms
    ]
    hours = (now_ms - start) / HOUR_MS
    by_asset: dict[str, Any] = {}
    for a in assets.values():
        mine = [r for r in rows if belongs(r, a)]
        if not mine:
            continue
        failures = sum(1 for r in mine if is_failure(r) and start < r.created_at_ms <= now_ms)
        by_asset[a.id] = {
            "failures": failures,
            "mtbf_h": round(hours / failures, 1) if failures else None,
            "pm_due": sum(1 for r in due if belongs(r, a)),
            "pm_on_time": sum(1 for r in on_time if belongs(r, a)),
            "cost": cost_of(mine),
        }
    return {
        "at": iso_ms(now_ms),
        "period": {"start": iso_ms(start), "end": iso_ms(now_ms), "days": days},
        "definitions": dict(DEFINITIONS),
        "pm_due": len(due),
        "pm_on_time": len(on_time),
        "pm_compliance_pct": _pct(len(on_time), len(due)),
        "planned": len(planned),
        "reactive": len(created) - len(planned),
        "planned_pct": _pct(len(planned), len(created)),
        "pm_overdue": len(overdue),
        "overdue": [r.public() for r in sorted(overdue, key=lambda r: r.due_at_ms or 0)],
        "by_asset": by_asset,
    }


def history(reader: Engine, a: AssetInfo) -> list[Ticket]:
    """Every ticket of the asset, newest first."""
    t = m.tickets
    mine = t.c.asset == a.id
    if a.device is not None:
        mine = sa.or_(mine, sa.and_(t.c.asset.is_(None), t.c.device == a.device))
    with reader.connect() as conn:
        return [
            from_row(r)
            for r in conn.execute(
                sa.select(t).where(mine).order_by(t.c.created_at_ms.desc(), t.c.id.desc())
            ).mappings()
        ]
