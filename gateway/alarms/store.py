"""Persistence of alarms: the ``alarms``, ``out_of_service``, ``alarm_changes`` and
``meta`` tables.

Writing (:meth:`AlarmStore.write`, inside the unit of work's transaction): first the
``meta`` sequence row (it hands out the changes' sequence numbers, and locking it
serialises every writer of alarms, on PostgreSQL as on SQLite's ``BEGIN IMMEDIATE``, so
writers cannot deadlock), then updates in id order, inserts last (the inserts of a batch,
``AlarmService.apply_many``, in one multi-row statement), the out-of-service rows,
the journal (at the unit of work's flush) and the changes for listeners. Each update is
guarded by the alarm's ``version``: a stale copy raises :class:`~gateway.store.work.Stale`
and the unit of work retries, after :meth:`AlarmStore.lock_writers` and a fresh read
(:meth:`AlarmStore.open_alarm`). The partial unique index on the open (rule, device,
point) refuses a second open alarm the same way, with an ``IntegrityError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.alarms.changes import AlarmChanges
from gateway.alarms.model import ACTIVATIONS, ALARM_FIELDS, Alarm, Change, Key
from gateway.store import models as m
from gateway.store.db import reader
from gateway.store.sql import upsert
from gateway.store.work import Stale, Tx
from rules.vocab import AlarmState

_ALARM_COLUMNS: tuple[str, ...] = tuple(c.name for c in m.alarms.columns)
assert set(ALARM_FIELDS) == set(_ALARM_COLUMNS), "Alarm and the alarms table disagree"

# Statements of the write path, built once (their compiled form is cached).
_INSERT_ALARM = sa.insert(m.alarms).returning(m.alarms.c.id)
# several rows in one statement ("insertmanyvalues"), the ids back in the rows' order
_INSERT_ALARMS = sa.insert(m.alarms).returning(m.alarms.c.id, sort_by_parameter_order=True)
_UPDATE_ALARM = (
    sa.update(m.alarms)
    .where(m.alarms.c.id == sa.bindparam("w_id"), m.alarms.c.version == sa.bindparam("w_ver"))
    .values({c: sa.bindparam(f"v_{c}") for c in ALARM_FIELDS if c != "id"})
)
_NEXT_SEQ = (
    sa.update(m.meta)
    .where(m.meta.c.key == m.ALARM_SEQ)
    .values(value=m.meta.c.value + sa.bindparam("n", type_=sa.BigInteger()))
    .returning(m.meta.c.value)
)
_INSERT_CHANGE = sa.insert(m.alarm_changes)


def from_row(row: Mapping[str, Any] | sa.RowMapping) -> Alarm:
    a = Alarm(**{name: row[name] for name in ALARM_FIELDS})
    a.ticket_ids = list(a.ticket_ids or [])
    return a


def read_seq(conn: Connection) -> int:
    """The last sequence number handed out."""
    v = conn.execute(sa.select(m.meta.c.value).where(m.meta.c.key == m.ALARM_SEQ)).scalar()
    return int(v or 0)


def oldest_kept(conn: Connection) -> int | None:
    """The oldest change still in ``alarm_changes`` (``None`` when there is none)."""
    v = conn.execute(sa.select(sa.func.min(m.alarm_changes.c.seq))).scalar()
    return int(v) if v is not None else None


class AlarmStore:
    """The alarm tables behind ``engine`` (migrated)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.reader = reader(engine)

    # ------------------------------------------------------------------ reading
    @staticmethod
    def open_alarms(conn: Connection) -> Iterator[Alarm]:
        a = m.alarms
        for row in conn.execute(sa.select(a).where(a.c.state != AlarmState.CLOSED)).mappings():
            yield from_row(row)

    @staticmethod
    def out_of_service(conn: Connection) -> Iterator[dict[str, Any]]:
        for row in conn.execute(sa.select(m.out_of_service)).mappings():
            yield dict(row)

    @staticmethod
    def activations(conn: Connection, since_ms: int) -> Iterator[tuple[int, Key]]:
        """``(at_ms, key)`` of the activations after ``since_ms``, oldest first."""
        j = m.journal
        q = (
            sa.select(j.c.at_ms, j.c.rule, j.c.device, j.c.point)
            .where(j.c.action.in_(ACTIVATIONS), j.c.at_ms > since_ms)
            .order_by(j.c.id)
        )
        for at_ms, rule, device, point in conn.execute(q):
            yield int(at_ms), (rule, device, point or "")

    @staticmethod
    def open_alarm(conn: Connection, key: Key) -> Alarm | None:
        """The open alarm of ``key`` as the database has it."""
        a = m.alarms
        row = (
            conn.execute(
                sa.select(a).where(
                    a.c.rule == key[0],
                    a.c.device == key[1],
                    a.c.point == key[2],
                    a.c.state != AlarmState.CLOSED,
                )
            )
            .mappings()
            .first()
        )
        return from_row(row) if row is not None else None

    @staticmethod
    def by_id(conn: Connection, alarm_id: int) -> Alarm | None:
        row = conn.execute(sa.select(m.alarms).where(m.alarms.c.id == alarm_id)).mappings().first()
        return from_row(row) if row is not None else None

    # ------------------------------------------------------------------ writing
    @staticmethod
    def lock_writers(conn: Connection) -> None:
        """Take the writers' lock (the sequence row) before re-reading on a retry."""
        conn.execute(sa.select(m.meta.c.value).where(m.meta.c.key == m.ALARM_SEQ).with_for_update())

    @staticmethod
    def write(tx: Tx, work: AlarmChanges) -> list[Change]:
        """Write ``work`` in the transaction of ``tx``; the changes to announce, numbered."""
        if work.empty:
            return []
        conn = tx.conn
        n = len(work.changes)
        # first the sequence row: the writers' lock (see the module doc)
        last = int(conn.execute(_NEXT_SEQ, {"n": n}).scalar_one())
        # updates in id order, inserts last
        saves = sorted(work.saves.values(), key=lambda s: (s[0] is None, s[1].id or 0))
        inserts: list[Alarm] = []
        for old, new in saves:
            if old is None:
                inserts.append(new)
            else:
                params = {f"v_{k}": v for k, v in new.row().items()}
                params["w_id"] = new.id
                params["w_ver"] = old.version
                if conn.execute(_UPDATE_ALARM, params).rowcount != 1:
                    raise Stale(f"alarm {new.id} changed in the database")
        if len(inserts) == 1:
            inserts[0].id = conn.execute(_INSERT_ALARM, inserts[0].row()).scalar_one()
        elif inserts:  # a batch (a flood): one statement, ids in the rows' order
            ids = conn.execute(_INSERT_ALARMS, [a.row() for a in inserts]).scalars().all()
            for a, new_id in zip(inserts, ids, strict=True):
                a.id = new_id
        for rule, device in work.oos_drop:
            conn.execute(
                sa.delete(m.out_of_service).where(
                    m.out_of_service.c.rule == rule, m.out_of_service.c.device == device
                )
            )
        for oos in work.oos_put:
            upsert(conn, m.out_of_service, oos, ["rule", "device"])
        for alarm, entry in work.journal:
            tx.journal(entry, alarm=alarm)
        emitted: list[Change] = []
        for i, (alarm, change, announce) in enumerate(work.changes.values()):
            data = alarm.public()
            data["change"] = change
            data["announce"] = announce
            emitted.append((last - n + 1 + i, data))
        if emitted:
            conn.execute(
                _INSERT_CHANGE,
                [
                    {"seq": s, "at_ms": work.now_ms, "alarm_id": d["id"], "data": d}
                    for s, d in emitted
                ],
            )
        return emitted

    def prune(self, cutoff: int) -> None:
        """Drop the changes up to sequence number ``cutoff``."""
        with self._engine.begin() as conn:
            conn.execute(sa.delete(m.alarm_changes).where(m.alarm_changes.c.seq <= cutoff))
