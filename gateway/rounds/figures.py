"""Figures of inspection rounds over a period (``/api/v1/kpis``: ``rounds``,
``inspection_fail_pct``, ``inspection``).

- **per crew**: rounds due in the period done ``on_time`` (started by ``start_by`` and
  finished by ``finish_by``), ``late`` (done otherwise), ``missed`` (never started),
  ``abandoned``, and still ``open`` (due or in progress);
- **fail rate** (the service plan's 25 % figure, computed its way): failed checkpoints /
  inspected checkpoints × 100, over the checkpoints inspected in the period, overall and
  by zone; per item: failed answers / answers of items that can fail;
- **finding to fix**: hours from a finding to its ticket's resolution (mean, median);
- **hot spots**: a zone whose same item failed in three (or more) inspections in a row,
  still failing at the period's end.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.rounds.model import RoundStatus
from gateway.store import models_rounds as mr
from gateway.store.models import tickets as _tickets

HOUR_MS = 3_600_000
HOT_STREAK = 3


def _pct(failed: int, inspected: int) -> float | None:
    return round(100.0 * failed / inspected, 1) if inspected else None


def _can_fail(item: dict[str, Any]) -> bool:
    kind = item.get("kind", "check")
    return kind == "check" or (
        kind == "number" and (item.get("min") is not None or item.get("max") is not None)
    )


def round_figures(conn: Connection, start_ms: int, end_ms: int) -> dict[str, Any]:
    r, cp, f = mr.rounds, mr.round_checkpoints, mr.round_findings
    crews: dict[str, dict[str, int]] = defaultdict(
        lambda: {"on_time": 0, "late": 0, "missed": 0, "abandoned": 0, "open": 0}
    )
    q = sa.select(r).where(r.c.due_at_ms >= start_ms, r.c.due_at_ms < end_ms)
    for row in conn.execute(q).mappings():
        c = crews[row["crew"]]
        st = row["status"]
        if st == RoundStatus.DONE:
            ok = (row["started_at_ms"] or 0) <= row["start_by_ms"] and (
                row["finished_at_ms"] or 0
            ) <= row["finish_by_ms"]
            c["on_time" if ok else "late"] += 1
        elif st in (RoundStatus.MISSED, RoundStatus.ABANDONED):
            c[st] += 1
        else:
            c["open"] += 1

    rows = conn.execute(
        sa.select(cp, r.c.checkpoints)
        .join(r, r.c.id == cp.c.round_id)
        .where(cp.c.done_at_ms >= start_ms, cp.c.done_at_ms < end_ms)
        .order_by(cp.c.done_at_ms, cp.c.round_id)
    ).mappings()
    zones: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    items: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    runs: dict[tuple[str, str], list[Any]] = {}
    inspected = failed = 0
    for row in rows:
        inspected += 1
        failed += bool(row["failed"])
        z = zones[row["zone"]]
        z[0] += 1
        z[1] += bool(row["failed"])
        spec = next((c for c in row["checkpoints"] if c["id"] == row["checkpoint"]), None)
        bad = set(row["failed_items"] or [])
        for item in spec["items"] if spec else []:
            if item["id"] not in (row["answers"] or {}) or not _can_fail(item):
                continue
            it = items[item["id"]]
            it[0] += 1
            it[1] += item["id"] in bad
            key = (row["zone"], item["id"])
            run = runs.setdefault(key, [0, None, item.get("text")])
            run[0] = run[0] + 1 if item["id"] in bad else 0
            if item["id"] in bad:
                run[1] = row["done_at_ms"]

    hours: list[float] = []
    opened = 0
    fq = (
        sa.select(f.c.first_at_ms, _tickets.c.resolved_at_ms)
        .join(_tickets, _tickets.c.id == f.c.ticket_id)
        .where(f.c.first_at_ms >= start_ms, f.c.first_at_ms < end_ms)
    )
    for first, resolved in conn.execute(fq):
        opened += 1
        if resolved is not None:
            hours.append((resolved - first) / HOUR_MS)
    return {
        "rounds": {k: dict(v) for k, v in sorted(crews.items())},
        "inspected": inspected,
        "failed": failed,
        "fail_pct": _pct(failed, inspected),
        "by_zone": {
            z: {"inspected": n, "failed": b, "fail_pct": _pct(b, n)}
            for z, (n, b) in sorted(zones.items())
        },
        "by_item": {
            i: {"inspected": n, "failed": b, "fail_pct": _pct(b, n)}
            for i, (n, b) in sorted(items.items())
        },
        "finding_to_fix": {
            "findings": opened,
            "fixed": len(hours),
            "mean_h": round(statistics.fmean(hours), 2) if hours else None,
            "median_h": round(statistics.median(hours), 2) if hours else None,
        },
        "hot_spots": [
            {"zone": z, "item": i, "text": text, "streak": n, "last_failed_ms": last}
            for (z, i), (n, last, text) in sorted(runs.items())
            if n >= HOT_STREAK
        ],
    }
