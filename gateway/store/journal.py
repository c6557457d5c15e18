"""The append-only journal: every state change and every operator action.

Shared by the alarm and ticket services (written at the flush of the unit of work,
``gateway.store.work``): an entry names who (``actor``,
``"system"`` for the gateway itself), when (``at_ms``), what (``action``), why
(``reason``), the ``alarm_id`` or ``ticket_id`` it is about, and a JSON ``detail``. The
database refuses to update or delete entries (triggers created by the first migration).

Tamper-evident (migration 0009): each entry carries ``hash`` = SHA-256 over the previous
entry's hash (:data:`GENESIS` before the first) and the entry's canonical JSON
(:func:`canonical`: its fields but ``id`` and ``hash``, keys sorted, no spaces, UTF-8).
:func:`append` is the only writer: in the caller's transaction it locks the chain's head
row (``journal_head``; ``SELECT ... FOR UPDATE`` on PostgreSQL, SQLite's one write lock is
already held by ``BEGIN IMMEDIATE``), links the new entries to it, inserts them and moves
the head, so two services writing one database wait for each other instead of forking the
chain. :func:`verify` walks the chain in ``id`` order and names the first broken link
(``sitewatch journal verify``). An edit of an entry, a deleted or inserted one, or a
rewritten tail that does not match the head row, all show; an attacker who can rewrite
every hash *and* the head is not stopped (keep a copy of the head elsewhere for that).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from gateway.clock import iso_ms
from gateway.store.models import journal
from gateway.store.models_journal import journal_head

SYSTEM_ACTOR = "system"
GENESIS = "0" * 64
"""The "previous hash" of the first entry."""
HEAD_KEY = "journal"
#: the fields an entry's hash covers (every column but ``id`` and ``hash``)
CHAINED = (
    "at_ms",
    "actor",
    "action",
    "reason",
    "alarm_id",
    "ticket_id",
    "rule",
    "device",
    "point",
    "state",
    "detail",
)


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


def canonical(row: RowMapping | Mapping[str, Any]) -> str:
    """An entry's canonical JSON: the :data:`CHAINED` fields, keys sorted, no spaces."""
    return json.dumps(
        {k: row.get(k) for k in CHAINED},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )


def link(prev_hash: str, row: RowMapping | Mapping[str, Any]) -> str:
    """The hash of ``row`` following an entry whose hash is ``prev_hash``."""
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


def append(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append entries made by :func:`entry`, chained, in the caller's transaction.

    Takes the chain's head under a lock (held until the caller commits), links each
    entry to the one before, inserts them in one statement and moves the head.
    """
    batch = [{k: r.get(k) for k in CHAINED} for r in rows]
    if not batch:
        return
    head = conn.execute(
        sa.select(journal_head.c.hash, journal_head.c.entries)
        .where(journal_head.c.key == HEAD_KEY)
        .with_for_update()
    ).first()
    prev = head.hash if head is not None else GENESIS
    for r in batch:
        r["detail"] = json.loads(json.dumps(json_safe(r["detail"]), default=str))  # as stored
        prev = r["hash"] = link(prev, r)
    conn.execute(sa.insert(journal), batch)
    if head is None:  # a database migrated without its head row: start it
        conn.execute(sa.insert(journal_head).values(key=HEAD_KEY, hash=prev, entries=len(batch)))
    else:
        conn.execute(
            sa.update(journal_head)
            .where(journal_head.c.key == HEAD_KEY)
            .values(hash=prev, entries=journal_head.c.entries + len(batch))
        )


@dataclass(frozen=True)
class ChainCheck:
    """What :func:`verify` found: ``broken_id`` is None when the chain is intact."""

    entries: int
    broken_id: int | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return self.problem == ""

    def __str__(self) -> str:
        if self.intact:
            return f"{self.entries} entries, chain intact"
        return f"chain broken after {self.entries} good entries: {self.problem}"


def verify(conn: Connection, *, batch: int = 5000) -> ChainCheck:
    """Walk the journal in ``id`` order and report the first broken link, if any."""
    prev, prev_id, n = GENESIS, None, 0
    last_id = None
    while True:
        q = sa.select(journal).order_by(journal.c.id).limit(batch)
        if last_id is not None:
            q = q.where(journal.c.id > last_id)
        rows = conn.execute(q).mappings().all()
        if not rows:
            break
        for row in rows:
            rid = int(row["id"])
            after = f"entry {prev_id}" if prev_id is not None else "the start"
            if row["hash"] is None:
                return ChainCheck(n, rid, f"entry {rid} has no hash (after {after})")
            if row["hash"] != link(prev, row):
                return ChainCheck(
                    n,
                    rid,
                    f"entry {rid} does not follow {after}: it was changed, or an entry "
                    "before it was removed or inserted",
                )
            prev, prev_id, n = row["hash"], rid, n + 1
        last_id = int(rows[-1]["id"])
    head = conn.execute(
        sa.select(journal_head.c.hash, journal_head.c.entries).where(journal_head.c.key == HEAD_KEY)
    ).first()
    if head is None:
        return ChainCheck(n, None, "the chain's head row is missing") if n else ChainCheck(0)
    if head.hash != prev or int(head.entries) != n:
        return ChainCheck(
            n,
            None,
            f"the head says {head.entries} entries ending {head.hash[:12]}…, the journal "
            f"has {n} ending {prev[:12]}…: entries at the end were removed or replaced",
        )
    return ChainCheck(n)


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
