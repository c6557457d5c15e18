"""Alarm-management figures (EEMUA 191 / ISA-18.2) over the 24 h to ``now``, from the
journal's activations:

- ``rate``: activations per 10 minutes, 144 buckets ``(start, start+10 min]`` ending at
  ``now``; average and peak;
- ``flood``: a flood starts when more than 10 activations fall in the trailing 10 minutes
  and ends when fewer than 5 do: episodes, time in flood (seconds and percent of the
  24 h), each episode;
- ``chattering``: alarms marked chattering now, and chattering episodes in 24 h;
- ``worst_offenders``: the ten (rule, device) pairs with most activations;
- ``priority_mix``: activations by priority against the 80/15/5 low/medium/high guidance
  (critical counts with high for the comparison);
- ``stale``: alarms active for more than 24 h; ``open``: counts of open alarms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.alarms.model import ACTIVATIONS, ACTIVE_STATES, UNACKED_STATES
from gateway.clock import iso_ms
from gateway.store import models as m
from rules.vocab import PRIORITIES, AlarmState, Priority

#: ISA-18.2 / EEMUA 191 guidance for the mix of annunciated priorities (percent)
PRIORITY_GUIDANCE: Mapping[str, float] = {
    Priority.LOW: 80.0,
    Priority.MEDIUM: 15.0,
    Priority.HIGH: 5.0,
}

_MINUTE_MS = 60_000
_BUCKET_MS = 10 * _MINUTE_MS
_DAY_MS = 24 * 60 * _MINUTE_MS
_FLOOD_WARMUP_MS = 60 * _MINUTE_MS


def alarm_kpis(reader: Engine, now_ms: int, stale_ms: int) -> dict[str, Any]:
    """The figures of the module doc at ``now_ms``; an alarm is stale when active for
    more than ``stale_ms``."""
    start = now_ms - _DAY_MS
    rows, chatter_episodes, open_rows = _read(reader, start, now_ms)
    period = [r for r in rows if r[0] > start]
    total = len(period)
    buckets = [0] * (_DAY_MS // _BUCKET_MS)
    for r in period:
        buckets[(r[0] - start - 1) // _BUCKET_MS] += 1
    offenders = Counter((r[1], r[2]) for r in period)
    worst = sorted(offenders.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))[:10]
    stale = [
        {
            "id": r["id"],
            "rule": r["rule"],
            "device": r["device"],
            "active_since": iso_ms(r["activated_at_ms"]),
            "active_h": round((now_ms - r["activated_at_ms"]) / 3_600_000, 2),
        }
        for r in open_rows
        if r["state"] in ACTIVE_STATES and now_ms - r["activated_at_ms"] > stale_ms
    ]
    return {
        "at": iso_ms(now_ms),
        "period": {"start": iso_ms(start), "end": iso_ms(now_ms), "hours": 24},
        "activations": total,
        "rate": {
            "bucket_minutes": 10,
            "series": [
                {
                    "start": iso_ms(start + i * _BUCKET_MS),
                    "end": iso_ms(start + (i + 1) * _BUCKET_MS),
                    "count": n,
                }
                for i, n in enumerate(buckets)
            ],
            "average_per_10min": round(total / len(buckets), 3),
            "peak_per_10min": max(buckets),
            "target_per_10min": 1,
        },
        "flood": _flood([r[0] for r in rows], start, now_ms),
        "chattering": {
            "now": sum(1 for r in open_rows if r["chattering"]),
            "episodes_24h": chatter_episodes,
        },
        "worst_offenders": [{"rule": rule, "device": dev, "count": n} for (rule, dev), n in worst],
        "priority_mix": _priority_mix(Counter(r[3] for r in period), total),
        "stale": {"threshold_hours": stale_ms / 3_600_000, "count": len(stale), "alarms": stale},
        "open": {
            "total": len(open_rows),
            "unacked": sum(1 for r in open_rows if r["state"] in UNACKED_STATES),
            "shelved": sum(1 for r in open_rows if r["shelved"]),
            "suppressed": sum(1 for r in open_rows if r["suppressed"]),
            "out_of_service": sum(1 for r in open_rows if r["out_of_service"]),
        },
    }


def _read(
    reader: Engine, start: int, now_ms: int
) -> tuple[list[Any], int, Sequence[sa.RowMapping]]:
    """Activations ``(at_ms, rule, device, priority)`` since an hour before ``start``
    (a flood may have begun before), chattering episodes, the open alarms."""
    a, j = m.alarms, m.journal
    q = (
        sa.select(j.c.at_ms, j.c.rule, j.c.device, a.c.priority)
        .join(a, a.c.id == j.c.alarm_id)
        .where(
            j.c.action.in_(ACTIVATIONS),
            j.c.at_ms > start - _FLOOD_WARMUP_MS,
            j.c.at_ms <= now_ms,
        )
        .order_by(j.c.at_ms, j.c.id)
    )
    with reader.connect() as conn:
        rows = list(conn.execute(q).all())
        chatter_episodes = conn.execute(
            sa.select(sa.func.count())
            .select_from(j)
            .where(j.c.action == "chattering", j.c.at_ms > start, j.c.at_ms <= now_ms)
        ).scalar()
        open_rows = (
            conn.execute(
                sa.select(
                    a.c.id,
                    a.c.state,
                    a.c.shelved,
                    a.c.suppressed,
                    a.c.out_of_service,
                    a.c.chattering,
                    a.c.activated_at_ms,
                    a.c.rule,
                    a.c.device,
                ).where(a.c.state != AlarmState.CLOSED)
            )
            .mappings()
            .all()
        )
    return rows, int(chatter_episodes or 0), open_rows


def _flood(times: Sequence[int], start: int, now_ms: int) -> dict[str, Any]:
    episodes = []
    in_flood_ms = 0
    for fs, fe, peak in _floods(times, now_ms):
        if fe is not None and fe <= start:
            continue
        in_flood_ms += min(fe if fe is not None else now_ms, now_ms) - max(fs, start)
        episodes.append({"start": iso_ms(fs), "end": iso_ms(fe), "peak_per_10min": peak})
    return {
        "start_above": 10,
        "end_below": 5,
        "episodes": len(episodes),
        "time_in_flood_s": in_flood_ms / 1000,
        "time_in_flood_pct": _pct(in_flood_ms, _DAY_MS),
        "periods": episodes,
    }


def _priority_mix(mix: Counter[str], total: int) -> dict[str, Any]:
    counts = {p: mix.get(p, 0) for p in PRIORITIES}
    percent = {p: _pct(counts[p], total) for p in PRIORITIES}
    compared: dict[str, float] = {
        Priority.LOW: percent[Priority.LOW],
        Priority.MEDIUM: percent[Priority.MEDIUM],
        Priority.HIGH: _pct(counts[Priority.HIGH] + counts[Priority.CRITICAL], total),
    }
    return {
        "counts": counts,
        "percent": percent,
        "guidance_percent": dict(PRIORITY_GUIDANCE),
        "compared_percent": compared,
        "deviation_points": {p: round(compared[p] - g, 1) for p, g in PRIORITY_GUIDANCE.items()},
    }


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _floods(times: Sequence[int], now_ms: int) -> list[tuple[int, int | None, int]]:
    """Flood episodes ``(start, end or None if ongoing, peak)`` over sorted activation
    times: the trailing 10-minute window ``(T - 10 min, T]`` holds more than 10 → a flood
    starts at T; it holds fewer than 5 → the flood ends at T."""
    events: list[tuple[int, int]] = []
    for t in times:
        events.append((t, 1))
        if t + _BUCKET_MS <= now_ms:
            events.append((t + _BUCKET_MS, -1))
    events.sort()
    floods: list[tuple[int, int | None, int]] = []
    count = 0
    start: int | None = None
    peak = 0
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            count += events[i][1]
            i += 1
        if start is None and count > 10:
            start, peak = t, count
        elif start is not None:
            peak = max(peak, count)
            if count < 5:
                floods.append((start, t, peak))
                start = None
    if start is not None:
        floods.append((start, None, peak))
    return floods
