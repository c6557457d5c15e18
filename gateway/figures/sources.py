"""What the scorecard reads from the state store, read once per scorecard.

:class:`Sources` is built for one request over a horizon (the 12 months of a trend) and
loads the tickets of that horizon, the repeat links and the alarms' raise times in a few
queries; the figures filter them in memory per period. Data other engineers' work adds
is looked up by what the store actually holds, never assumed:

* surveys (requests work, contract section 9): a ``survey`` JSON column on ``tickets``
  with ``overall``, ``speed``, ``thoroughness``, ``attitude`` (1-10);
* inspection results (rounds work, section 8): table :data:`INSPECTION_TABLE`, one row per
  inspected checkpoint, its time in :data:`INSPECTION_TIME` and its outcome in a boolean
  ``failed`` column or a text ``result`` column (``fail``/``failed``);
* maintenance plans (section 7): table ``pm_plans`` and the tickets' ``plan_id``.

A figure whose source is missing says so in its note instead of showing a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.store import models as m
from gateway.tickets.model import Ticket, from_row

INSPECTION_TABLE = "round_checkpoints"
INSPECTION_TIME = "done_at_ms"
#: a person's request: raised by staff (``person``) or through the request page (``portal``)
REQUEST_SOURCES = ("person", "portal")
PREVENTIVE = "preventive"
SURVEY_DIMENSIONS = ("overall", "speed", "thoroughness", "attitude")
#: a repeat within this long of the first ticket's closing spoils its first-time fix
REPEAT_WINDOW_MS = 30 * 86_400_000
#: tickets created this long before the horizon still count (jobs and resolutions
#: that end inside it)
LOOKBACK_MS = 120 * 86_400_000


@dataclass
class Sources:
    tickets: list[Ticket]
    surveys: dict[int, dict[str, Any]] | None
    repeats: dict[int, list[int]]
    alarm_times: list[int]
    inspections: list[tuple[int, bool]] | None
    plans: int | None
    notes: dict[str, str] = field(default_factory=dict)


def _columns(conn: sa.Connection, table: str) -> set[str] | None:
    insp = sa.inspect(conn)
    if not insp.has_table(table):
        return None
    return {c["name"] for c in insp.get_columns(table)}


def load(reader: Engine, start_ms: int, end_ms: int) -> Sources:
    """Everything the figures need for periods inside ``[start, end)``."""
    t = m.tickets
    lo = start_ms - LOOKBACK_MS
    with reader.connect() as conn:
        ticket_cols = _columns(conn, "tickets") or set()
        rows = list(
            conn.execute(
                sa.select(t)
                .where(t.c.created_at_ms >= lo, t.c.created_at_ms < end_ms)
                .order_by(t.c.id)
            ).mappings()
        )
        tickets = [from_row(r) for r in rows]
        surveys: dict[int, dict[str, Any]] | None = None
        if "survey" in ticket_cols:
            col = sa.column("survey", sa.JSON)
            surveys = {}
            q = sa.select(sa.column("id"), col).select_from(sa.table("tickets"))
            q = q.where(sa.column("created_at_ms") >= lo, sa.column("created_at_ms") < end_ms)
            for tid, survey in conn.execute(q):
                if isinstance(survey, dict):
                    surveys[int(tid)] = survey
        repeats: dict[int, list[int]] = {}
        for of, at in conn.execute(
            sa.select(t.c.repeat_of, t.c.created_at_ms).where(t.c.repeat_of.is_not(None))
        ):
            repeats.setdefault(int(of), []).append(int(at))
        a = m.alarms
        alarm_times = [
            int(x)
            for (x,) in conn.execute(
                sa.select(a.c.raised_at_ms).where(
                    a.c.raised_at_ms >= start_ms, a.c.raised_at_ms < end_ms
                )
            )
        ]
        inspections = _inspections(conn, start_ms, end_ms)
        plans = _plans(conn)
    return Sources(tickets, surveys, repeats, alarm_times, inspections, plans)


def _inspections(conn: sa.Connection, start_ms: int, end_ms: int) -> list[tuple[int, bool]] | None:
    cols = _columns(conn, INSPECTION_TABLE)
    if cols is None or INSPECTION_TIME not in cols:
        return None
    outcome = "failed" if "failed" in cols else "result" if "result" in cols else None
    if outcome is None:
        return None
    at = sa.column(INSPECTION_TIME, sa.BigInteger)
    q: Any = (
        sa.select(at, sa.column(outcome))
        .select_from(sa.table(INSPECTION_TABLE))
        .where(at >= start_ms, at < end_ms)
    )
    out: list[tuple[int, bool]] = []
    for when, value in conn.execute(q):
        if value is None:
            continue
        failed = bool(value) if outcome == "failed" else str(value).lower() in ("fail", "failed")
        out.append((int(when), failed))
    return out


def _plans(conn: sa.Connection) -> int | None:
    if _columns(conn, "pm_plans") is None:
        return None
    (n,) = conn.execute(sa.select(sa.func.count()).select_from(m.pm_plans)).one()
    return int(n)
