"""What the monthly report shows, gathered once: the scorecard, the month's energy by
zone and system, the worst devices and zones (alarms and tickets), and the tickets that
missed a service level with the causes their journal records.

Everything is sorted by stable keys and carries no time of generation, so the same data
gives the same report byte for byte (``gateway.figures.report``). Times are shown in the
site's time zone.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.figures.scorecard import NO_ANSWER, NO_STORE
from gateway.sinks.base import SinkError
from gateway.store import models as m

if TYPE_CHECKING:
    from gateway.figures.service import Figures

WORST = 10


def local(ms: int | None, tz: Any) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz).strftime("%Y-%m-%d %H:%M")


async def collect(figs: Figures, card: dict[str, Any], start: int, end: int) -> dict[str, Any]:
    site = figs.site
    energy = await _energy(figs, start, end)
    rows = await asyncio.to_thread(_rows, figs, start, end)
    return {
        "site": {"id": site.site, "name": site.name, "timezone": site.timezone},
        "month": card["period"],
        "language": card["language"],
        "span": (local(start, site.tz), local(end, site.tz)),
        "zone_names": [(z.id, z.name) for z in site.zones],
        "figures": card["figures"],
        "energy": energy,
        **rows,
    }


async def _energy(figs: Figures, start: int, end: int) -> dict[str, Any]:
    reader = figs.energy_reader
    if reader is None:
        return {"note": NO_STORE[0], "zone": [], "system": []}
    try:
        out: dict[str, Any] = {"note": None}
        for by in ("zone", "system"):
            rows = await reader.series(start, end, by, "1mo")
            sums: Counter[str] = Counter()
            for r in rows:
                sums[r["key"]] += r["kwh"]
            out[by] = sorted(sums.items())
        if not out["zone"]:
            out["note"] = "no power readings in the month"
        return out
    except SinkError as exc:
        return {"note": f"{NO_ANSWER[0]}: {exc}", "zone": [], "system": []}


def _rows(figs: Figures, start: int, end: int) -> dict[str, Any]:
    a, t, j = m.alarms, m.tickets, m.journal
    site = figs.site
    with figs.reader.connect() as conn:
        alarms = conn.execute(
            sa.select(a.c.device, a.c.zone).where(a.c.raised_at_ms >= start, a.c.raised_at_ms < end)
        ).all()
        tickets = conn.execute(
            sa.select(
                t.c.id,
                t.c.device,
                t.c.zone,
                t.c.title,
                t.c.crew,
                t.c.priority,
                t.c.created_at_ms,
                t.c.breached,
                t.c.assignee,
                t.c.status,
            )
            .where(t.c.created_at_ms >= start, t.c.created_at_ms < end)
            .order_by(t.c.id)
        ).all()
        breached = [r for r in tickets if r.breached]
        notes: dict[str, list[str]] = {}
        if breached:
            ids = [str(r.id) for r in breached]
            for tid, action, reason in conn.execute(
                sa.select(j.c.ticket_id, j.c.action, j.c.reason)
                .where(j.c.ticket_id.in_(ids))
                .order_by(j.c.id)
            ):
                if reason:
                    notes.setdefault(str(tid), []).append(f"{action}: {reason}")
    dev_alarms = Counter(r.device for r in alarms)
    dev_tickets = Counter(r.device for r in tickets if r.device)
    zone_alarms = Counter(r.zone for r in alarms if r.zone)
    zone_tickets = Counter(r.zone for r in tickets if r.zone)

    def rank(al: Counter[str], tk: Counter[str]) -> list[tuple[str, int, int]]:
        keys = set(al) | set(tk)
        ranked = sorted(keys, key=lambda k: (-(al[k] + tk[k]), k))
        return [(k, al[k], tk[k]) for k in ranked[:WORST]]

    zones = {z.id: z.name for z in site.zones}
    return {
        "worst_devices": [
            {"device": k, "name": _device_name(site, k), "alarms": na, "tickets": nt}
            for k, na, nt in rank(dev_alarms, dev_tickets)
        ],
        "worst_zones": [
            {"zone": k, "name": zones.get(k, k), "alarms": na, "tickets": nt}
            for k, na, nt in rank(zone_alarms, zone_tickets)
        ],
        "breaches": [
            {
                "id": r.id,
                "title": r.title,
                "crew": r.crew,
                "priority": r.priority,
                "created": local(r.created_at_ms, site.tz),
                "clocks": list(r.breached),
                "status": r.status,
                "unassigned": "assign" in r.breached and r.assignee is None,
                "notes": notes.get(str(r.id), []),
            }
            for r in breached
        ],
    }


def _device_name(site: Any, device: str) -> str:
    d = site.device(device)
    return d.display_name if d is not None else device
