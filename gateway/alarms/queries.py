"""Reading alarms back: lists, one alarm with its journal, the changes since an SSE id.

Every query reads the database (not the service's cache), through the engine's reader
(on SQLite a deferred transaction: readers never wait for the write lock).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.alarms.model import OPEN_STATES, STATES, AlarmDict, Change
from gateway.alarms.store import from_row, oldest_kept, read_seq
from gateway.errors import Invalid, NotFound
from gateway.people.audit import with_by
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.filters import parse_id, split_values
from rules.vocab import PRIORITIES

AlarmDicts = list[AlarmDict]
Changes = list[Change]  # (``list`` is a method in the class body)


class AlarmQueries:
    """Queries on the alarm tables read through ``reader``."""

    def __init__(self, reader: Engine) -> None:
        self._reader = reader

    def list(
        self,
        state: str | Sequence[str] | None = None,
        priority: str | Sequence[str] | None = None,
        device: str | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        rule: str | None = None,
        zone: str | None = None,
        before: int | None = None,
    ) -> tuple[AlarmDicts, int]:
        """Alarms, newest first, and how many match. ``state`` and ``priority`` take one
        value, a comma-separated string or a list; ``state="open"`` means not closed;
        ``rule`` and ``zone`` (a group's members, ``gateway.alarms.groups``) one value
        each. ``before`` (an alarm id: the cursor of the next page) keeps the alarms
        older than it; ``total`` then counts the matches without it, so a client paging
        by cursor sees one total throughout."""
        a = m.alarms
        conds: list[sa.ColumnElement[bool]] = []
        states = split_values(state)
        if states:
            want: set[str] = set()
            for s in states:
                if s == "open":
                    want.update(OPEN_STATES)
                elif s in STATES:
                    want.add(s)
                else:
                    raise Invalid(f"unknown state {s!r}")
            conds.append(a.c.state.in_(sorted(want)))
        prios = split_values(priority)
        if prios:
            bad = [p for p in prios if p not in PRIORITIES]
            if bad:
                raise Invalid(f"unknown priority {bad[0]!r}")
            conds.append(a.c.priority.in_(prios))
        if device:
            conds.append(a.c.device == device)
        if rule:
            conds.append(a.c.rule == rule)
        if zone:
            conds.append(a.c.zone == zone)
        if limit < 0 or offset < 0:
            raise Invalid("limit and offset are not negative")
        page = [*conds, a.c.id < int(before)] if before is not None else conds
        with self._reader.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*conds)).scalar()
            rows = conn.execute(
                sa.select(a).where(*page).order_by(a.c.id.desc()).limit(limit).offset(offset)
            ).mappings()
            items = [from_row(r).public() for r in rows]
        return items, int(total or 0)

    def get(self, alarm_id: int | str) -> AlarmDict:
        """One alarm with its ``journal`` (oldest first). :class:`NotFound` if none."""
        aid = parse_id(alarm_id, "alarm")
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(m.alarms).where(m.alarms.c.id == aid)).mappings().first()
            if row is None:
                raise NotFound(f"no alarm {alarm_id}")
            out = from_row(row).public()
            out["journal"] = with_by(jr.entries(conn, alarm_id=aid))
        return out

    def changes_since(self, seq: int, limit: int = 1000) -> Changes | None:
        """Changes after ``seq`` (oldest first, at most ``limit``), for a reconnecting SSE
        client's ``Last-Event-ID``; ``[]`` when it missed nothing. ``None`` when the log
        cannot fill the gap (the changes after ``seq`` were trimmed: only the newest
        ``changes_keep`` are kept; or ``seq`` is newer than anything handed out): the
        client should then get a fresh snapshot."""
        seq = int(seq)
        c = m.alarm_changes
        q = sa.select(c.c.seq, c.c.data).where(c.c.seq > seq).order_by(c.c.seq).limit(limit)
        with self._reader.connect() as conn:
            last = read_seq(conn)
            if seq > last:
                return None
            rows = [(int(s), dict(d)) for s, d in conn.execute(q)]
        if seq < last and (not rows or rows[0][0] != seq + 1):
            return None
        return rows

    def oldest_seq(self) -> int | None:
        """The oldest change still kept (``None`` when none is)."""
        with self._reader.connect() as conn:
            return oldest_kept(conn)
