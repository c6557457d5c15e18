"""The append-only journal: every state change and every operator action.

Shared by the alarm and ticket services (written at the flush of the unit of work,
``gateway.store.work``): an entry names who (``actor``,
``"system"`` for the gateway itself), when (``at_ms``), what (``action``), why
(``reason``), the ``alarm_id`` or ``ticket_id`` it is about, and a JSON ``detail``. The
database refuses to update or delete entries (triggers created by the first migration).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from gateway.clock import iso_ms
from gateway.store.models import journal

SYSTEM_ACTOR = "system"


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats (which JSON cannot carry) turned into strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def entry(
    *,
    at_ms: int,
    actor: str,
    action: str,
    reason: str | None = None,
    alarm_id: int | None = None,
    ticket_id: int | str | None = None,
    rule: str | None = None,
    device: str | None = None,
    point: str | None = None,
    state: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One journal row, ready for :func:`append`."""
    return {
        "at_ms": int(at_ms),
        "actor": actor,
        "action": action,
        "reason": reason,
        "alarm_id": alarm_id,
        "ticket_id": None if ticket_id is None else str(ticket_id),
        "rule": rule,
        "device": device,
        "point": point,
        "state": state,
        "detail": json_safe(dict(detail or {})),
    }


def append(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append entries made by :func:`entry` (one statement, in the caller's transaction)."""
    batch = list(rows)
    if batch:
        conn.execute(sa.insert(journal), batch)


def entries(
    conn: Connection,
    *,
    alarm_id: int | None = None,
    ticket_id: int | str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Entries about one alarm and/or ticket, oldest first, as JSON-ready dicts."""
    q = sa.select(journal)
    if alarm_id is not None:
        q = q.where(journal.c.alarm_id == alarm_id)
    if ticket_id is not None:
        q = q.where(journal.c.ticket_id == str(ticket_id))
    q = q.order_by(journal.c.id).limit(limit)
    return [public(r) for r in conn.execute(q).mappings()]


def public(row: RowMapping | Mapping[str, Any]) -> dict[str, Any]:
    """A journal row as the API shows it (times RFC 3339, ``user`` for the actor)."""
    point = row["point"]
    return {
        "id": row["id"],
        "at": iso_ms(row["at_ms"]),
        "user": row["actor"],
        "action": row["action"],
        "reason": row["reason"],
        "alarm_id": row["alarm_id"],
        "ticket_id": row["ticket_id"],
        "rule": row["rule"],
        "device": row["device"],
        "point": point or None,
        "state": row["state"],
        "detail": row["detail"] or {},
    }
