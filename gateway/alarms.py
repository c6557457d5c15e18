"""The alarm service: rule hits in, alarms out (ISA-18.2 / IEC 62682 / EEMUA 191).

:class:`AlarmService` turns the rule engine's :class:`~rules.model.RuleHit` values into
alarms kept in the state store (``gateway.store``), and carries out the operators'
actions on them. Every method is **synchronous** and short (in-memory work plus at most
one database transaction); the gateway calls them straight from its event loop. The
service is thread-safe (one re-entrant lock) so the HTTP layer may also call it from a
worker thread.

Life of an alarm (``state``)::

    raise ──> active_unacked ──ack──> active_acked ──clear──> closed
                    │  ^                                        ^
               clear│  │raise again                             │
                    v  │                                        │
               cleared_unacked ───────────────ack───────────────┘

- One open (not ``closed``) alarm per (rule, device, point): a repeat while it is open
  updates it (``value``, ``source_ts``, ``count``). The database enforces this with a
  partial unique index; a second service on the same database that races to create the
  same alarm gets the index's ``IntegrityError``, reloads the existing alarm and updates
  it instead. Every update is guarded by a version number, so a stale in-memory copy is
  reloaded and the change retried, never lost.
- Event alarms whose rule ``clears_on_ack`` close when acknowledged.
- Shelving: timed (at most ``max_shelve_minutes``), one-shot (ends when the alarm
  clears), ended by :meth:`AlarmService.tick` when it expires. Out of service: per
  (rule, device), kept until returned to service.
- Suppression by design: an active ``fire.alarm`` in a zone suppresses that zone's
  consequential alarms (``access.door_held``, ``hvac.*``), with the reason on each alarm
  and in the journal; it lifts when the fire alarm clears.
- Chattering: ``chatter_count`` (3) activations of one (rule, device, point) within
  ``chatter_window_s`` (60 s) mark the alarm ``chattering``; it is no longer
  re-announced (listeners still get each change, flagged) until ``chatter_quiet_s`` pass
  with no activation.
- ``critical`` alarms are never shelved, suppressed, put out of service or marked
  chattering; one left unacknowledged ``critical_reannounce_s`` (60 s) is announced again
  and escalated (journaled) by :meth:`AlarmService.tick`, again every 60 s until acked.

An *activation* is a transition into alarm (journal actions ``raise`` and
``reactivate``); a repeat on an alarm that is still active (journal ``repeat``) updates
it but is not an activation. KPIs and chattering count activations.

Listeners (:meth:`AlarmService.subscribe`) get ``(seq, alarm)`` after each committed
change: ``seq`` is a rising number persisted in the database (the SSE event id) and
``alarm`` the public alarm object plus two fields about the change: ``change`` (``raise``,
``repeat``, ``reactivate``, ``clear``, ``close``, ``ack``, ``shelve``, ``unshelve``,
``suppress``, ``unsuppress``, ``out_of_service``, ``in_service``, ``chattering``,
``chattering_ended``, ``reannounce``, ``ticket``) and ``announce`` (whether an operator
should be alerted now: a new, returning, re-announced or unmasked unacknowledged alarm
that is not shelved, suppressed, out of service or chattering). The same pairs are kept
in the ``alarm_changes`` table (bounded) for :meth:`AlarmService.changes_since`.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.clock import Clock, iso_ms
from gateway.errors import Conflict, DomainError, Invalid, NotFound
from gateway.site import Site
from gateway.store import journal as jr
from gateway.store import models as m
from gateway.store.db import reader
from rules.model import PRIORITIES, RuleHit, RuleSpec

log = logging.getLogger(__name__)

ACTIVE_UNACKED = "active_unacked"
ACTIVE_ACKED = "active_acked"
CLEARED_UNACKED = "cleared_unacked"
CLOSED = "closed"
STATES: tuple[str, ...] = (ACTIVE_UNACKED, ACTIVE_ACKED, CLEARED_UNACKED, CLOSED)
OPEN_STATES: tuple[str, ...] = (ACTIVE_UNACKED, ACTIVE_ACKED, CLEARED_UNACKED)
ACTIVE_STATES: tuple[str, ...] = (ACTIVE_UNACKED, ACTIVE_ACKED)
UNACKED_STATES: tuple[str, ...] = (ACTIVE_UNACKED, CLEARED_UNACKED)

SYSTEM_USER = jr.SYSTEM_ACTOR
ACTIVATIONS: tuple[str, ...] = ("raise", "reactivate")
CRITICAL = "critical"

#: suppressing rule -> consequential rules (``fnmatch`` patterns) in the same zone
DEFAULT_SUPPRESSION: Mapping[str, tuple[str, ...]] = {
    "fire.alarm": ("access.door_held", "hvac.*"),
}
#: ISA-18.2 / EEMUA 191 guidance for the mix of annunciated priorities (percent)
PRIORITY_GUIDANCE: Mapping[str, float] = {"low": 80.0, "medium": 15.0, "high": 5.0}

_MINUTE_MS = 60_000
_BUCKET_MS = 10 * _MINUTE_MS
_DAY_MS = 24 * 60 * _MINUTE_MS
_FLOOD_WARMUP_MS = 60 * _MINUTE_MS
_RETRIES = 5

Key = tuple[str, str, str]
AlarmDict = dict[str, Any]
Change = tuple[int, AlarmDict]
Listener = Callable[[int, AlarmDict], None]
# (``AlarmService.list`` shadows the builtin inside the class body, for type checkers)
AlarmDicts = list[AlarmDict]
Changes = list[Change]
_AlarmObjs = list["Alarm"]
_Keys = list[Key]
_Conds = list[sa.ColumnElement[bool]]
_R = TypeVar("_R")


AlarmError = DomainError  # the old name of the base class


class _Stale(Exception):
    """An alarm changed in the database since this service last saw it."""


@dataclass(slots=True)
class Alarm:
    """One alarm as stored (field names are the ``alarms`` table's columns; times are
    epoch ms). :meth:`public` gives the contract's JSON object."""

    rule: str
    site: str
    system: str | None
    device: str
    point: str  # '' when the alarm has no point
    zone: str | None
    priority: str
    state: str
    raised_at_ms: int
    activated_at_ms: int
    source_ts_ms: int
    last_hit_ms: int  # gateway time of the last activation (raise or return)
    last_announced_ms: int
    updated_at_ms: int
    id: int | None = None
    shelved: bool = False
    shelved_until_ms: int | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    suppressed: bool = False
    suppressed_reason: str | None = None
    out_of_service: bool = False
    chattering: bool = False
    cleared_at_ms: int | None = None
    acked_at_ms: int | None = None
    acked_by: str | None = None
    closed_at_ms: int | None = None
    value: Any = None
    message: str = ""
    action: str = ""
    cause: str = ""
    consequence: str = ""
    count: int = 1
    ticket_ids: list[Any] = field(default_factory=list)
    escalations: int = 0
    version: int = 1

    @property
    def key(self) -> Key:
        return (self.rule, self.device, self.point)

    @property
    def is_open(self) -> bool:
        return self.state != CLOSED

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def masked(self) -> bool:
        """Kept from the operator: shelved, suppressed, out of service or chattering."""
        return self.shelved or self.suppressed or self.out_of_service or self.chattering

    def public(self) -> AlarmDict:
        """The alarm object of the contract (section 4), plus a few extras."""
        return {
            "id": self.id,
            "rule": self.rule,
            "site": self.site,
            "system": self.system,
            "device": self.device,
            "point": self.point or None,
            "zone": self.zone,
            "priority": self.priority,
            "state": self.state,
            "shelved": self.shelved,
            "suppressed": self.suppressed,
            "out_of_service": self.out_of_service,
            "chattering": self.chattering,
            "raised_at": iso_ms(self.raised_at_ms),
            "source_ts": iso_ms(self.source_ts_ms),
            "cleared_at": iso_ms(self.cleared_at_ms),
            "acked_at": iso_ms(self.acked_at_ms),
            "acked_by": self.acked_by,
            "value": self.value,
            "message": self.message,
            "action": self.action,
            "ticket_ids": list(self.ticket_ids),
            # extras
            "shelved_until": iso_ms(self.shelved_until_ms),
            "shelved_by": self.shelved_by,
            "shelve_reason": self.shelve_reason,
            "suppressed_reason": self.suppressed_reason,
            "cause": self.cause,
            "consequence": self.consequence,
            "count": self.count,
            "activated_at": iso_ms(self.activated_at_ms),
            "closed_at": iso_ms(self.closed_at_ms),
            "escalations": self.escalations,
            "updated_at": iso_ms(self.updated_at_ms),
        }


_ALARM_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Alarm))
_ALARM_COLUMNS: tuple[str, ...] = tuple(c.name for c in m.alarms.columns)
assert set(_ALARM_FIELDS) == set(_ALARM_COLUMNS), "Alarm and the alarms table disagree"


# Statements of the write path, built once (their compiled form is cached).
_INSERT_ALARM = sa.insert(m.alarms).returning(m.alarms.c.id)
_UPDATE_ALARM = (
    sa.update(m.alarms)
    .where(m.alarms.c.id == sa.bindparam("w_id"), m.alarms.c.version == sa.bindparam("w_ver"))
    .values({c: sa.bindparam(f"v_{c}") for c in _ALARM_FIELDS if c != "id"})
)
_NEXT_SEQ = (
    sa.update(m.meta)
    .where(m.meta.c.key == m.ALARM_SEQ)
    .values(value=m.meta.c.value + sa.bindparam("n", type_=sa.BigInteger()))
    .returning(m.meta.c.value)
)
_INSERT_JOURNAL = sa.insert(m.journal)
_INSERT_CHANGE = sa.insert(m.alarm_changes)


def _row(a: Alarm) -> dict[str, Any]:
    d = {name: getattr(a, name) for name in _ALARM_FIELDS if name != "id"}
    d["value"] = jr.json_safe(a.value)
    d["ticket_ids"] = list(a.ticket_ids)
    return d


def _from_row(row: Mapping[str, Any] | sa.RowMapping) -> Alarm:
    a = Alarm(**{name: row[name] for name in _ALARM_FIELDS})
    a.ticket_ids = list(a.ticket_ids or [])
    return a


class _Work:
    """What one operation changes: saved alarms, journal entries, listener changes,
    out-of-service rows. Built from copies; the cache is updated only after commit."""

    __slots__ = ("now_ms", "saves", "journal", "changes", "oos_put", "oos_drop")

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.saves: dict[Key, tuple[Alarm | None, Alarm]] = {}
        self.journal: list[tuple[Alarm | None, dict[str, Any]]] = []
        self.changes: dict[Key, tuple[Alarm, str, bool]] = {}
        self.oos_put: list[dict[str, Any]] = []
        self.oos_drop: list[tuple[str, str]] = []

    def create(self, alarm: Alarm) -> Alarm:
        self.saves[alarm.key] = (None, alarm)
        return alarm

    def edit(self, current: Alarm) -> Alarm:
        """A new version of ``current`` to change (the same one if already edited)."""
        if current.key in self.saves:
            return self.saves[current.key][1]
        new = replace(current, ticket_ids=list(current.ticket_ids), version=current.version + 1)
        new.updated_at_ms = self.now_ms
        self.saves[current.key] = (current, new)
        return new

    def log(
        self,
        alarm: Alarm | None,
        action: str,
        *,
        actor: str = SYSTEM_USER,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        rule: str | None = None,
        device: str | None = None,
        ticket_id: int | str | None = None,
    ) -> None:
        row = jr.entry(
            at_ms=self.now_ms,
            actor=actor,
            action=action,
            reason=reason,
            ticket_id=ticket_id,
            rule=alarm.rule if alarm else rule,
            device=alarm.device if alarm else device,
            point=alarm.point if alarm else None,
            state=alarm.state if alarm else None,
            detail=detail,
        )
        self.journal.append((alarm, row))

    def emit(self, alarm: Alarm, change: str, announce: bool) -> None:
        prev = self.changes.get(alarm.key)
        if prev is not None:
            change, announce = prev[1], prev[2] or announce
        self.changes[alarm.key] = (alarm, change, announce)

    @property
    def empty(self) -> bool:
        return not (self.saves or self.journal or self.changes or self.oos_put or self.oos_drop)


class AlarmService:
    """Alarms of one gateway, kept in the state store behind ``engine`` (migrated).

    ``specs`` are the rule pack's rules by id, ``clock`` the gateway clock (a
    ``ManualClock`` in tests), ``site`` the site model (zones and systems of devices).
    Construction loads every open alarm, the out-of-service list and recent activations,
    so a new service on the same database resumes where the last one stopped.
    """

    def __init__(
        self,
        engine: Engine,
        specs: Mapping[str, RuleSpec],
        clock: Clock,
        site: Site | None = None,
        *,
        max_shelve_minutes: int = 8 * 60,
        chatter_count: int = 3,
        chatter_window_s: float = 60.0,
        chatter_quiet_s: float = 300.0,
        critical_reannounce_s: float = 60.0,
        stale_after_s: float = 24 * 3600.0,
        changes_keep: int = 10_000,
        suppression: Mapping[str, Sequence[str]] = DEFAULT_SUPPRESSION,
    ) -> None:
        if chatter_count < 2:
            raise ValueError("chatter_count is at least 2")
        self._engine = engine
        self._reader = reader(engine)
        self._specs = dict(specs)
        self._clock = clock
        self._site = site
        self.max_shelve_minutes = max_shelve_minutes
        self.chatter_count = chatter_count
        self._chatter_window_ms = int(chatter_window_s * 1000)
        self._chatter_quiet_ms = int(chatter_quiet_s * 1000)
        self._reannounce_ms = int(critical_reannounce_s * 1000)
        self._stale_ms = int(stale_after_s * 1000)
        self._changes_keep = max(1, changes_keep)
        self._suppression = {k: tuple(v) for k, v in suppression.items()}
        self._lock = threading.RLock()
        self._listeners: list[Listener] = []
        self._open: dict[Key, Alarm] = {}
        self._by_id: dict[int, Alarm] = {}
        self._oos: dict[tuple[str, str], dict[str, Any]] = {}
        self._hits: dict[Key, deque[int]] = {}
        self._last_seq = 0
        self._pruned_to = 0
        self._unknown_rules: set[str] = set()
        self._tx: Connection | None = None  # the write transaction in progress, if any
        self._load()

    # ------------------------------------------------------------------ loading
    def _load(self) -> None:
        now = self._clock.now_ms()
        a, j = m.alarms, m.journal
        with self._reader.connect() as conn:
            for row in conn.execute(sa.select(a).where(a.c.state != CLOSED)).mappings():
                self._cache(_from_row(row))
            for row in conn.execute(sa.select(m.out_of_service)).mappings():
                self._oos[(row["rule"], row["device"])] = dict(row)
            q = (
                sa.select(j.c.at_ms, j.c.rule, j.c.device, j.c.point)
                .where(j.c.action.in_(ACTIVATIONS), j.c.at_ms > now - self._chatter_window_ms)
                .order_by(j.c.id)
            )
            for at_ms, rule, device, point in conn.execute(q):
                self._window((rule, device, point or "")).append(at_ms)
            self._last_seq = self._read_seq(conn)
            oldest = conn.execute(sa.select(sa.func.min(m.alarm_changes.c.seq))).scalar()
            self._pruned_to = (oldest - 1) if oldest is not None else self._last_seq
        log.info("alarm service: %d open alarms, last event %d", len(self._open), self._last_seq)

    @staticmethod
    def _read_seq(conn: Connection) -> int:
        v = conn.execute(sa.select(m.meta.c.value).where(m.meta.c.key == m.ALARM_SEQ)).scalar()
        return int(v or 0)

    def _cache(self, a: Alarm) -> None:
        assert a.id is not None
        held = self._open.get(a.key)
        if a.is_open:
            if held is not None and held.id != a.id and held.id is not None:
                self._by_id.pop(held.id, None)
            self._open[a.key] = a
            self._by_id[a.id] = a
        else:
            if held is not None and held.id == a.id:
                del self._open[a.key]
            self._by_id.pop(a.id, None)

    def _window(self, key: Key) -> deque[int]:
        w = self._hits.get(key)
        if w is None:
            w = self._hits[key] = deque(maxlen=max(16, self.chatter_count * 2))
        return w

    # ---------------------------------------------------------------- listeners
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(seq, alarm_dict)`` after every committed change (in the
        caller's thread, under the service lock: keep it short, e.g. hand the pair to an
        ``asyncio.Queue`` with ``loop.call_soon_threadsafe``). Returns an unsubscribe
        function."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def last_seq(self) -> int:
        """The newest sequence number this service handed out or loaded."""
        return self._last_seq

    def snapshot(self) -> tuple[int, AlarmDicts]:
        """``(last_seq, open alarms)`` taken together: what an SSE stream sends first,
        before the changes after ``last_seq``."""
        with self._lock:
            return self._last_seq, self.open_alarms()

    def current_seq(self) -> int:
        """Alias of :meth:`last_seq`."""
        return self._last_seq

    def changes_since(self, seq: int, limit: int = 1000) -> Changes | None:
        """Changes after ``seq`` (oldest first, at most ``limit``), for a reconnecting SSE
        client's ``Last-Event-ID``; ``[]`` when it missed nothing. ``None`` when the log
        cannot fill the gap (the changes after ``seq`` were trimmed: only the newest
        ``changes_keep`` are kept; or ``seq`` is newer than anything handed out): the
        client should then get a fresh :meth:`snapshot`."""
        seq = int(seq)
        c = m.alarm_changes
        q = sa.select(c.c.seq, c.c.data).where(c.c.seq > seq).order_by(c.c.seq).limit(limit)
        with self._reader.connect() as conn:
            last = self._read_seq(conn)
            if seq > last:
                return None
            rows = [(int(s), dict(d)) for s, d in conn.execute(q)]
        if seq < last and (not rows or rows[0][0] != seq + 1):
            return None
        return rows

    def oldest_seq(self) -> int:
        """The oldest change still kept (``last_seq() + 1`` when none is)."""
        with self._reader.connect() as conn:
            v = conn.execute(sa.select(sa.func.min(m.alarm_changes.c.seq))).scalar()
        return int(v) if v is not None else self._last_seq + 1

    # --------------------------------------------------------------- rule hits
    def apply(self, hit: RuleHit) -> Alarm | None:
        """Raise or clear the alarm of ``hit``; returns a copy of the alarm as it now is,
        or ``None`` (a clear with no open alarm, or a ticket-only rule). A repeat on an
        open alarm costs one database transaction and no query."""
        spec = self._spec(hit)
        if spec.raises == "ticket":
            return None
        key: Key = (hit.rule, hit.device, hit.point or "")
        with self._lock:
            if hit.active:
                alarm, activation = self._run(
                    lambda now: self._raise(hit, spec, key, now), [key]
                )
                if activation:
                    self._window(key).append(alarm.last_hit_ms)
                return replace(alarm, ticket_ids=list(alarm.ticket_ids))
            cur = self._open.get(key) or self._lookup_open(key)
            if cur is None or cur.state == CLEARED_UNACKED:
                return None if cur is None else replace(cur, ticket_ids=list(cur.ticket_ids))
            cleared = self._run(lambda now: self._clear(hit, key, now), [key])
            if cleared is None:
                return None
            return replace(cleared, ticket_ids=list(cleared.ticket_ids))

    def _lookup_open(self, key: Key) -> Alarm | None:
        """The open alarm of ``key`` in the database (another service may have raised
        it); cached when found. Only asked on a clear this service knows nothing of."""
        a = m.alarms
        q = sa.select(a).where(
            a.c.rule == key[0], a.c.device == key[1], a.c.point == key[2], a.c.state != CLOSED
        )
        with self._reader.connect() as conn:
            row = conn.execute(q).mappings().first()
        if row is None:
            return None
        alarm = _from_row(row)
        self._cache(alarm)
        return alarm

    def _spec(self, hit: RuleHit) -> RuleSpec:
        spec = self._specs.get(hit.rule)
        if spec is not None:
            return spec
        if hit.rule not in self._unknown_rules:
            self._unknown_rules.add(hit.rule)
            log.warning("hit for unknown rule %r: raised as a low-priority alarm", hit.rule)
        return RuleSpec(
            id=hit.rule,
            system=hit.system,
            priority="low",
            raises="alarm",
            message=hit.message or hit.rule,
            action="",
        )

    def _raise(
        self, hit: RuleHit, spec: RuleSpec, key: Key, now: int
    ) -> tuple[_Work, tuple[Alarm, bool]]:
        work = _Work(now)
        cur = self._open.get(key)
        priority = spec.priority_for(hit.system)
        activation = cur is None or cur.state == CLEARED_UNACKED
        activations = 1 + sum(1 for t in self._window(key) if t > now - self._chatter_window_ms)
        chatter = activation and priority != CRITICAL and activations >= self.chatter_count
        value = jr.json_safe(hit.value)
        if cur is None:
            new = work.create(
                Alarm(
                    rule=hit.rule,
                    site=hit.site,
                    system=hit.system,
                    device=hit.device,
                    point=hit.point or "",
                    zone=hit.zone or self._zone_of(hit.device),
                    priority=priority,
                    state=ACTIVE_UNACKED,
                    raised_at_ms=now,
                    activated_at_ms=now,
                    source_ts_ms=hit.ts_ms,
                    last_hit_ms=now,
                    last_announced_ms=now,
                    updated_at_ms=now,
                    value=value,
                    message=hit.message or spec.message,
                    action=spec.action,
                    cause=spec.cause,
                    consequence=spec.consequence,
                )
            )
            change = "raise"
        else:
            new = work.edit(cur)
            new.count += 1
            if hit.ts_ms >= cur.source_ts_ms:
                new.value = value
                new.source_ts_ms = hit.ts_ms
                if hit.message:
                    new.message = hit.message
            if cur.state == CLEARED_UNACKED:
                new.state = ACTIVE_UNACKED
                new.cleared_at_ms = None
                new.activated_at_ms = now
                new.last_hit_ms = now
                new.last_announced_ms = now
                new.escalations = 0
                change = "reactivate"
            else:
                change = "repeat"
        detail: dict[str, Any] = {"value": value, "source_ts_ms": hit.ts_ms, "count": new.count}
        if hit.context:
            detail["context"] = dict(hit.context)
        work.log(new, change, reason=hit.message or None, detail=detail)
        if chatter and not new.chattering:
            new.chattering = True
            work.log(
                new,
                "chattering",
                reason=f"{activations} activations within {self._chatter_window_ms // 1000} s",
                detail={"activations": activations},
            )
        self._mask_out_of_service(work, new)
        self._mask_suppressed(work, new)
        if new.rule in self._suppression:
            self._suppressor_changed(work, cur, new)
        announce = change != "repeat" and not new.masked
        work.emit(new, change, announce)
        return work, (new, activation)

    def _clear(self, hit: RuleHit, key: Key, now: int) -> tuple[_Work, Alarm | None]:
        work = _Work(now)
        cur = self._open.get(key)
        if cur is None or cur.state == CLEARED_UNACKED:
            return work, cur
        new = work.edit(cur)
        new.cleared_at_ms = now
        if cur.state == ACTIVE_ACKED:
            new.state = CLOSED
            new.closed_at_ms = now
        else:
            new.state = CLEARED_UNACKED
        if new.shelved:  # a shelve is one-shot: it ends when the alarm clears
            self._unshelve(new)
            work.log(new, "unshelve", reason="alarm cleared (one-shot shelve)")
        detail = {"value": jr.json_safe(hit.value), "source_ts_ms": hit.ts_ms}
        work.log(new, "clear", reason=hit.message or None, detail=detail)
        if new.rule in self._suppression:
            self._suppressor_changed(work, cur, new)
        work.emit(new, "close" if new.state == CLOSED else "clear", False)
        return work, new

    # ------------------------------------------------------------------- masks
    def _mask_out_of_service(self, work: _Work, a: Alarm) -> None:
        oos = a.priority != CRITICAL and (a.rule, a.device) in self._oos
        if oos and not a.out_of_service:
            a.out_of_service = True
            entry = self._oos[(a.rule, a.device)]
            work.log(a, "out_of_service", actor=entry["by"], reason=entry["reason"])
        elif not oos and a.out_of_service:
            a.out_of_service = False
            work.log(a, "in_service")

    def _suppressor_for(self, a: Alarm, *, override: Alarm | None = None) -> Alarm | None:
        """The active suppressing alarm (e.g. a fire alarm) in ``a``'s zone whose
        consequences include ``a``'s rule; ``override`` stands for its own cached copy."""
        if a.priority == CRITICAL or a.zone is None:
            return None
        rules = [
            s for s, pats in self._suppression.items()
            if any(fnmatch.fnmatchcase(a.rule, p) for p in pats)
        ]
        if not rules:
            return None
        candidates: Iterable[Alarm] = self._open.values()
        if override is not None:
            candidates = [*(c for c in self._open.values() if c.key != override.key), override]
        for s in candidates:
            if s.rule in rules and s.zone == a.zone and s.is_active and s.key != a.key:
                return s
        return None

    def _mask_suppressed(self, work: _Work, a: Alarm, *, override: Alarm | None = None) -> None:
        by = self._suppressor_for(a, override=override)
        if by is not None and not a.suppressed:
            a.suppressed = True
            a.suppressed_reason = (
                f"suppressed by design: {by.rule} active in zone {a.zone} ({by.device})"
            )
            work.log(
                a,
                "suppress",
                reason=a.suppressed_reason,
                detail={"by_rule": by.rule, "by_device": by.device, "by_alarm": by.id},
            )
        elif by is None and a.suppressed:
            a.suppressed = False
            work.log(a, "unsuppress", reason=f"{a.suppressed_reason}: lifted")
            a.suppressed_reason = None

    def _suppressor_changed(self, work: _Work, old: Alarm | None, new: Alarm) -> None:
        """A suppressing alarm (``fire.alarm``) was raised, returned or cleared: re-judge
        the consequential alarms of its zone."""
        if new.zone is None or (old is not None and old.is_active == new.is_active):
            return
        for a in list(self._open.values()):
            if a.zone != new.zone or a.key == new.key or a.priority == CRITICAL:
                continue
            if not any(
                fnmatch.fnmatchcase(a.rule, p) for p in self._suppression.get(new.rule, ())
            ):
                continue
            target = work.saves[a.key][1] if a.key in work.saves else a
            was = target.suppressed
            if was == (self._suppressor_for(target, override=new) is not None):
                continue
            target = work.edit(a)
            self._mask_suppressed(work, target, override=new)
            if target.suppressed != was:
                work.emit(
                    target,
                    "suppress" if target.suppressed else "unsuppress",
                    not target.suppressed and target.state == ACTIVE_UNACKED and not target.masked,
                )

    @staticmethod
    def _unshelve(a: Alarm) -> None:
        a.shelved = False
        a.shelved_until_ms = None
        a.shelved_by = None
        a.shelve_reason = None

    def _zone_of(self, device: str) -> str | None:
        d = self._site.device(device) if self._site is not None else None
        return d.zone if d is not None else None

    def _system_of(self, device: str) -> str | None:
        d = self._site.device(device) if self._site is not None else None
        return d.system if d is not None else None

    # --------------------------------------------------------- operator actions
    def ack(self, alarm_id: int | str, user: str, note: str | None = None) -> AlarmDict:
        """Acknowledge: ``active_unacked`` → ``active_acked`` (``closed`` for an event
        alarm that ``clears_on_ack``), ``cleared_unacked`` → ``closed``. Raises
        :class:`NotFound`, or :class:`Conflict` when already acknowledged or closed."""
        _need(user, "user")
        with self._lock:
            return self._run(lambda now: self._ack(self._current(alarm_id), user, note, now),
                             self._keys_of(alarm_id)).public()

    def _ack(self, cur: Alarm, user: str, note: str | None, now: int) -> tuple[_Work, Alarm]:
        if cur.state not in UNACKED_STATES:
            raise Conflict(f"alarm {cur.id} is {cur.state}: nothing to acknowledge")
        spec = self._specs.get(cur.rule)
        work = _Work(now)
        new = work.edit(cur)
        new.acked_at_ms = now
        new.acked_by = user
        detail: dict[str, Any] = {"from": cur.state}
        if cur.state == CLEARED_UNACKED or (spec is not None and spec.clears_on_ack):
            if cur.state == ACTIVE_UNACKED:
                new.cleared_at_ms = now
                detail["clears_on_ack"] = True
            new.state = CLOSED
            new.closed_at_ms = now
            if new.shelved:
                self._unshelve(new)
        else:
            new.state = ACTIVE_ACKED
        work.log(new, "ack", actor=user, reason=note or None, detail=detail)
        if new.rule in self._suppression:
            self._suppressor_changed(work, cur, new)
        work.emit(new, "ack", False)
        return work, new

    def shelve(self, alarm_id: int | str, user: str, minutes: int, reason: str) -> AlarmDict:
        """Shelve an open alarm for ``minutes`` (1..``max_shelve_minutes``); it stays
        shelved until then, until unshelved or until it clears. ``critical`` alarms and
        closed ones raise :class:`Conflict`; bad minutes or an empty reason
        :class:`Invalid`. Shelving a shelved alarm again sets a new end."""
        _need(user, "user")
        _need(reason, "reason")
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise Invalid("minutes must be a whole number")
        if not 1 <= minutes <= self.max_shelve_minutes:
            raise Invalid(f"minutes must be between 1 and {self.max_shelve_minutes}")

        def op(now: int) -> tuple[_Work, Alarm]:
            cur = self._current(alarm_id)
            if cur.priority == CRITICAL:
                raise Conflict(f"alarm {cur.id} is critical: critical alarms are never shelved")
            work = _Work(now)
            new = work.edit(cur)
            new.shelved = True
            new.shelved_until_ms = now + minutes * _MINUTE_MS
            new.shelved_by = user
            new.shelve_reason = reason
            work.log(
                new,
                "shelve",
                actor=user,
                reason=reason,
                detail={"minutes": minutes, "until": iso_ms(new.shelved_until_ms)},
            )
            work.emit(new, "shelve", False)
            return work, new

        with self._lock:
            return self._run(op, self._keys_of(alarm_id)).public()

    def unshelve(self, alarm_id: int | str, user: str) -> AlarmDict:
        """End a shelve early. :class:`Conflict` when the alarm is not shelved."""
        _need(user, "user")

        def op(now: int) -> tuple[_Work, Alarm]:
            cur = self._current(alarm_id)
            if not cur.shelved:
                raise Conflict(f"alarm {cur.id} is not shelved")
            work = _Work(now)
            new = work.edit(cur)
            self._unshelve(new)
            work.log(new, "unshelve", actor=user)
            work.emit(new, "unshelve", new.state == ACTIVE_UNACKED and not new.masked)
            return work, new

        with self._lock:
            return self._run(op, self._keys_of(alarm_id)).public()

    def set_out_of_service(
        self, rule: str, device: str, on: bool, user: str, reason: str | None = None
    ) -> AlarmDicts:
        """Take (rule, device) out of service (``on=True``, a reason is required) or return
        it to service. Its open alarms (every point) are flagged at once, and alarms it
        raises later are recorded but flagged. Never for a ``critical`` rule
        (:class:`Conflict`); unknown rule: :class:`NotFound`. Returns the alarms changed;
        asking for the state it is already in changes nothing."""
        _need(user, "user")
        if on:
            _need(reason, "reason")
        spec = self._specs.get(rule)
        if spec is None:
            raise NotFound(f"no rule {rule!r}")
        if spec.priority_for(self._system_of(device)) == CRITICAL:
            raise Conflict(f"{rule} is critical: critical alarms are never out of service")

        def op(now: int) -> tuple[_Work, _AlarmObjs]:
            work = _Work(now)
            if ((rule, device) in self._oos) == on:
                return work, []
            targets = [a for a in self._open.values() if a.rule == rule and a.device == device]
            if any(a.priority == CRITICAL for a in targets):
                raise Conflict(f"{rule} on {device} is critical: never out of service")
            if on:
                work.oos_put.append(
                    {"rule": rule, "device": device, "since_ms": now, "by": user,
                     "reason": reason or ""}
                )
            else:
                work.oos_drop.append((rule, device))
            work.log(None, "out_of_service" if on else "in_service", actor=user, reason=reason,
                     rule=rule, device=device)
            changed = []
            for cur in targets:
                new = work.edit(cur)
                new.out_of_service = on
                work.log(new, "out_of_service" if on else "in_service", actor=user,
                         reason=reason)
                work.emit(
                    new,
                    "out_of_service" if on else "in_service",
                    not on and new.state == ACTIVE_UNACKED and not new.masked,
                )
                changed.append(new)
            return work, changed

        with self._lock:
            changed = self._run(op, [a.key for a in self._open.values()
                                     if a.rule == rule and a.device == device])
            return [a.public() for a in changed]

    def out_of_service(self) -> AlarmDicts:
        """The (rule, device) pairs out of service, with who, since when and why."""
        with self._lock:
            return [
                {"rule": r, "device": d, "since": iso_ms(e["since_ms"]), "by": e["by"],
                 "reason": e["reason"]}
                for (r, d), e in sorted(self._oos.items())
            ]

    def link_ticket(
        self, alarm_id: int | str, ticket_id: int | str, user: str = SYSTEM_USER
    ) -> AlarmDict:
        """Record that ``ticket_id`` was opened for the alarm (open or closed); the
        ticket service calls this. Linking twice changes nothing."""

        def op(now: int) -> tuple[_Work, Alarm]:
            cur = self._current(alarm_id, open_only=False)
            work = _Work(now)
            if ticket_id in cur.ticket_ids:
                return work, cur
            new = work.edit(cur)
            new.ticket_ids = [*cur.ticket_ids, ticket_id]
            work.log(new, "link_ticket", actor=user, ticket_id=ticket_id)
            work.emit(new, "ticket", False)
            return work, new

        with self._lock:
            return self._run(op, self._keys_of(alarm_id)).public()

    # -------------------------------------------------------------------- time
    def tick(self, now: float | None = None) -> Changes:
        """Time-driven work; call every few seconds. ``now`` is epoch seconds (default:
        the clock). Ends expired shelves, re-announces and escalates ``critical`` alarms
        unacknowledged for ``critical_reannounce_s``, lifts ``chattering`` after
        ``chatter_quiet_s`` without activation, trims the change log. Returns the changes
        it made (also sent to listeners)."""
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        out: Changes = []

        def op(_now: int) -> tuple[_Work, None]:
            work = _Work(now_ms)
            for a in list(self._open.values()):
                if a.shelved and a.shelved_until_ms is not None and a.shelved_until_ms <= now_ms:
                    new = work.edit(a)
                    self._unshelve(new)
                    work.log(new, "unshelve", reason="shelve expired")
                    work.emit(new, "unshelve", new.state == ACTIVE_UNACKED and not new.masked)
                if (
                    a.priority == CRITICAL
                    and a.state in UNACKED_STATES
                    and now_ms - a.last_announced_ms >= self._reannounce_ms
                ):
                    new = work.edit(a)
                    new.escalations += 1
                    new.last_announced_ms = now_ms
                    unacked_s = (now_ms - a.activated_at_ms) / 1000
                    work.log(
                        new,
                        "escalate",
                        reason=f"critical alarm unacknowledged for {unacked_s:.0f} s",
                        detail={"level": new.escalations, "unacked_s": unacked_s},
                    )
                    work.emit(new, "reannounce", True)
                if a.chattering and now_ms - a.last_hit_ms >= self._chatter_quiet_ms:
                    new = work.edit(a)
                    new.chattering = False
                    quiet_s = (now_ms - a.last_hit_ms) / 1000
                    work.log(new, "chattering_ended", reason=f"quiet for {quiet_s:.0f} s")
                    work.emit(
                        new, "chattering_ended", new.state == ACTIVE_UNACKED and not new.masked
                    )
            return work, None

        with self._lock:
            if any(self._due(a, now_ms) for a in self._open.values()):
                out = self._run(op, list(self._open), changes=True)
            self._prune()
        return out

    def _due(self, a: Alarm, now_ms: int) -> bool:
        """Whether :meth:`tick` has something to do for ``a`` at ``now_ms``."""
        return (
            (a.shelved and a.shelved_until_ms is not None and a.shelved_until_ms <= now_ms)
            or (
                a.priority == CRITICAL
                and a.state in UNACKED_STATES
                and now_ms - a.last_announced_ms >= self._reannounce_ms
            )
            or (a.chattering and now_ms - a.last_hit_ms >= self._chatter_quiet_ms)
        )

    def _prune(self) -> None:
        keep = self._changes_keep
        if self._last_seq - self._pruned_to <= keep + max(1, keep // 10):
            return
        cutoff = self._last_seq - keep
        with self._engine.begin() as conn:
            conn.execute(sa.delete(m.alarm_changes).where(m.alarm_changes.c.seq <= cutoff))
        self._pruned_to = cutoff

    # ----------------------------------------------------------------- queries
    def open_alarms(self) -> AlarmDicts:
        """Every open alarm this service holds, oldest first."""
        with self._lock:
            return [a.public() for a in sorted(self._by_id.values(), key=lambda a: a.id or 0)]

    def list(
        self,
        state: str | Sequence[str] | None = None,
        priority: str | Sequence[str] | None = None,
        device: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[AlarmDicts, int]:
        """Alarms, newest first, and how many match. ``state`` and ``priority`` take one
        value, a comma-separated string or a list; ``state="open"`` means not closed."""
        a = m.alarms
        conds: _Conds = []
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
        if limit < 0 or offset < 0:
            raise Invalid("limit and offset are not negative")
        with self._reader.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(a).where(*conds)).scalar()
            rows = conn.execute(
                sa.select(a).where(*conds).order_by(a.c.id.desc()).limit(limit).offset(offset)
            ).mappings()
            items = [_from_row(r).public() for r in rows]
        return items, int(total or 0)

    def get(self, alarm_id: int | str) -> AlarmDict:
        """One alarm with its ``journal`` (oldest first). :class:`NotFound` if none."""
        aid = _alarm_id(alarm_id)
        with self._reader.connect() as conn:
            row = conn.execute(sa.select(m.alarms).where(m.alarms.c.id == aid)).mappings().first()
            if row is None:
                raise NotFound(f"no alarm {alarm_id}")
            out = _from_row(row).public()
            out["journal"] = jr.entries(conn, alarm_id=aid)
        return out

    # ------------------------------------------------------------- rule state
    def save_rule_state(self, data: Mapping[str, Any], name: str = "engine") -> None:
        """Persist the rule engine's pending timers (any JSON-able mapping)."""
        row = {"name": name, "saved_at_ms": self._clock.now_ms(), "data": jr.json_safe(data)}
        with self._engine.begin() as conn:
            _upsert(conn, m.rule_state, row, ["name"])

    def save_rule_state_parts(self, parts: Mapping[str, Mapping[str, Any]]) -> None:
        """Persist several named parts of the rule engine's state in one transaction
        (an incremental save: the engine's core plus one part per changed device)."""
        now = self._clock.now_ms()
        with self._engine.begin() as conn:
            for name, data in parts.items():
                row = {"name": name, "saved_at_ms": now, "data": jr.json_safe(data)}
                _upsert(conn, m.rule_state, row, ["name"])

    def load_rule_state_parts(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every part whose name starts with ``prefix``: ``{name: data}``."""
        q = sa.select(m.rule_state.c.name, m.rule_state.c.data).where(
            m.rule_state.c.name.startswith(prefix, autoescape=True)
        )
        with self._reader.connect() as conn:
            return {name: dict(data) for name, data in conn.execute(q) if data}

    def load_rule_state(self, name: str = "engine") -> dict[str, Any]:
        """What :meth:`save_rule_state` saved last (``{}`` if nothing)."""
        q = sa.select(m.rule_state.c.data).where(m.rule_state.c.name == name)
        with self._reader.connect() as conn:
            data = conn.execute(q).scalar()
        return dict(data) if data else {}

    # ------------------------------------------------------------------- KPIs
    def kpis(self, now: float | None = None) -> dict[str, Any]:
        """Alarm-management figures (EEMUA 191 / ISA-18.2) over the 24 h to ``now``
        (epoch seconds; default the clock), from the journal's activations:

        - ``rate``: activations per 10 minutes, 144 buckets ``(start, start+10 min]``
          ending at ``now``; average and peak;
        - ``flood``: a flood starts when more than 10 activations fall in the trailing
          10 minutes and ends when fewer than 5 do: episodes, time in flood (seconds and
          percent of the 24 h), each episode;
        - ``chattering``: alarms marked chattering now, and chattering episodes in 24 h;
        - ``worst_offenders``: the ten (rule, device) pairs with most activations;
        - ``priority_mix``: activations by priority against the 80/15/5 low/medium/high
          guidance (critical counts with high for the comparison);
        - ``stale``: alarms active for more than 24 h; ``open``: counts of open alarms.
        """
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        start = now_ms - _DAY_MS
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
        with self._reader.connect() as conn:
            rows = conn.execute(q).all()
            chatter_episodes = conn.execute(
                sa.select(sa.func.count())
                .select_from(j)
                .where(j.c.action == "chattering", j.c.at_ms > start, j.c.at_ms <= now_ms)
            ).scalar()
            open_rows = conn.execute(
                sa.select(
                    a.c.id, a.c.state, a.c.shelved, a.c.suppressed, a.c.out_of_service,
                    a.c.chattering, a.c.activated_at_ms, a.c.rule, a.c.device,
                ).where(a.c.state != CLOSED)
            ).mappings().all()

        times = [r[0] for r in rows]
        period = [r for r in rows if r[0] > start]

        buckets = [0] * (_DAY_MS // _BUCKET_MS)
        for r in period:
            buckets[(r[0] - start - 1) // _BUCKET_MS] += 1
        series = [
            {"start": iso_ms(start + i * _BUCKET_MS), "end": iso_ms(start + (i + 1) * _BUCKET_MS),
             "count": n}
            for i, n in enumerate(buckets)
        ]

        floods = _floods(times, now_ms)
        episodes = []
        in_flood_ms = 0
        for fs, fe, peak in floods:
            if fe is not None and fe <= start:
                continue
            in_flood_ms += min(fe if fe is not None else now_ms, now_ms) - max(fs, start)
            episodes.append({"start": iso_ms(fs), "end": iso_ms(fe), "peak_per_10min": peak})

        offenders = Counter((r[1], r[2]) for r in period)
        worst = sorted(offenders.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))[:10]

        mix = Counter(r[3] for r in period)
        total = len(period)
        counts = {p: mix.get(p, 0) for p in PRIORITIES}
        percent = {p: _pct(counts[p], total) for p in PRIORITIES}
        compared = {
            "low": percent["low"],
            "medium": percent["medium"],
            "high": _pct(counts["high"] + counts["critical"], total),
        }

        stale = [
            {"id": r["id"], "rule": r["rule"], "device": r["device"],
             "active_since": iso_ms(r["activated_at_ms"]),
             "active_h": round((now_ms - r["activated_at_ms"]) / 3_600_000, 2)}
            for r in open_rows
            if r["state"] in ACTIVE_STATES and now_ms - r["activated_at_ms"] > self._stale_ms
        ]
        return {
            "at": iso_ms(now_ms),
            "period": {"start": iso_ms(start), "end": iso_ms(now_ms), "hours": 24},
            "activations": total,
            "rate": {
                "bucket_minutes": 10,
                "series": series,
                "average_per_10min": round(total / len(buckets), 3),
                "peak_per_10min": max(buckets),
                "target_per_10min": 1,
            },
            "flood": {
                "start_above": 10,
                "end_below": 5,
                "episodes": len(episodes),
                "time_in_flood_s": in_flood_ms / 1000,
                "time_in_flood_pct": _pct(in_flood_ms, _DAY_MS),
                "periods": episodes,
            },
            "chattering": {
                "now": sum(1 for r in open_rows if r["chattering"]),
                "episodes_24h": int(chatter_episodes or 0),
            },
            "worst_offenders": [
                {"rule": rule, "device": dev, "count": n} for (rule, dev), n in worst
            ],
            "priority_mix": {
                "counts": counts,
                "percent": percent,
                "guidance_percent": dict(PRIORITY_GUIDANCE),
                "compared_percent": compared,
                "deviation_points": {
                    p: round(compared[p] - g, 1) for p, g in PRIORITY_GUIDANCE.items()
                },
            },
            "stale": {"threshold_hours": self._stale_ms / 3_600_000, "count": len(stale),
                      "alarms": stale},
            "open": {
                "total": len(open_rows),
                "unacked": sum(1 for r in open_rows if r["state"] in UNACKED_STATES),
                "shelved": sum(1 for r in open_rows if r["shelved"]),
                "suppressed": sum(1 for r in open_rows if r["suppressed"]),
                "out_of_service": sum(1 for r in open_rows if r["out_of_service"]),
            },
        }

    # ------------------------------------------------------------- machinery
    def _current(self, alarm_id: int | str, *, open_only: bool = True) -> Alarm:
        """The alarm ``alarm_id`` as this service knows it (loading it if another service
        created it). Raises NotFound, or Conflict if closed and ``open_only``."""
        aid = _alarm_id(alarm_id)
        a = self._by_id.get(aid)
        if a is not None:
            return a
        q = sa.select(m.alarms).where(m.alarms.c.id == aid)
        if self._tx is not None:
            row = self._tx.execute(q).mappings().first()
        else:
            with self._reader.connect() as conn:
                row = conn.execute(q).mappings().first()
        if row is None:
            raise NotFound(f"no alarm {alarm_id}")
        a = _from_row(row)
        if a.is_open:
            self._evict_key(a.key)
            self._cache(a)
        elif open_only:
            raise Conflict(f"alarm {aid} is closed")
        return a

    def _keys_of(self, alarm_id: int | str) -> _Keys:
        try:
            a = self._by_id.get(_alarm_id(alarm_id))
        except NotFound:
            return []
        return [a.key] if a is not None else []

    def _evict_key(self, key: Key) -> None:
        old = self._open.pop(key, None)
        if old is not None and old.id is not None:
            self._by_id.pop(old.id, None)

    def _run(
        self,
        op: Callable[[int], tuple[_Work, _R]],
        keys: Iterable[Key],
        *,
        changes: bool = False,
    ) -> Any:
        """Build a change with ``op(now_ms)`` from the cache and write it in one
        transaction; once committed, update the cache and tell the listeners.

        Every write transaction first locks the ``meta`` sequence row (it allocates the
        changes' sequence numbers), so writers of alarms are serialised on PostgreSQL as
        on SQLite (``BEGIN IMMEDIATE``) and cannot deadlock. When the database disagrees
        with the cache (another service got there first: the unique index or the version
        check refuses the write), the transaction is rolled back and the change rebuilt
        under that lock from freshly read alarms, so the next attempt succeeds."""
        resync: set[Key] = set(keys)
        for attempt in range(_RETRIES):
            work: _Work | None = None
            try:
                with self._engine.begin() as conn:
                    self._tx = conn
                    if attempt:
                        self._lock_writers(conn)
                        self._resync(conn, resync)
                    work, result = op(self._clock.now_ms())
                    emitted = self._write(conn, work)
            except (_Stale, IntegrityError) as exc:
                if attempt == _RETRIES - 1:
                    raise
                log.debug("alarm store: another writer got there first (%s); retrying", exc)
                if work is not None:
                    resync.update(work.saves)
                continue
            finally:
                self._tx = None
            self._committed(work, emitted)
            return emitted if changes else result
        raise AssertionError("unreachable")

    @staticmethod
    def _lock_writers(conn: Connection) -> None:
        conn.execute(
            sa.select(m.meta.c.value).where(m.meta.c.key == m.ALARM_SEQ).with_for_update()
        )

    def _write(self, conn: Connection, work: _Work) -> Changes:
        """Write ``work`` in the open transaction ``conn``; the changes to announce."""
        if work.empty:
            return []
        n = len(work.changes)
        # first the sequence row: the writers' lock (see _run)
        last = int(conn.execute(_NEXT_SEQ, {"n": n}).scalar_one())
        # updates in id order, inserts last
        saves = sorted(work.saves.values(), key=lambda s: (s[0] is None, s[1].id or 0))
        for old, new in saves:
            if old is None:
                new.id = conn.execute(_INSERT_ALARM, _row(new)).scalar_one()
            else:
                params = {f"v_{k}": v for k, v in _row(new).items()}
                params["w_id"] = new.id
                params["w_ver"] = old.version
                res = conn.execute(_UPDATE_ALARM, params)
                if res.rowcount != 1:
                    raise _Stale(f"alarm {new.id} changed in the database")
        for rule, device in work.oos_drop:
            conn.execute(
                sa.delete(m.out_of_service).where(
                    m.out_of_service.c.rule == rule, m.out_of_service.c.device == device
                )
            )
        for oos in work.oos_put:
            _upsert(conn, m.out_of_service, oos, ["rule", "device"])
        rows = []
        for alarm, entry in work.journal:
            if alarm is not None:
                entry["alarm_id"] = alarm.id
            rows.append(entry)
        if rows:
            conn.execute(_INSERT_JOURNAL, rows)
        emitted: Changes = []
        for i, (alarm, change, announce) in enumerate(work.changes.values()):
            data = alarm.public()
            data["change"] = change
            data["announce"] = announce
            emitted.append((last - n + 1 + i, data))
        if emitted:
            conn.execute(
                _INSERT_CHANGE,
                [{"seq": s, "at_ms": work.now_ms, "alarm_id": d["id"], "data": d}
                 for s, d in emitted],
            )
        return emitted

    def _committed(self, work: _Work, emitted: Changes) -> None:
        """After commit: the cache takes the new versions; listeners hear the changes."""
        for _old, new in work.saves.values():
            self._cache(new)
        for key in work.oos_drop:
            self._oos.pop(key, None)
        for oos in work.oos_put:
            self._oos[(oos["rule"], oos["device"])] = oos
        if emitted:
            self._last_seq = max(self._last_seq, emitted[-1][0])
            self._notify(emitted)

    def _resync(self, conn: Connection, keys: Iterable[Key]) -> None:
        """Reload the open alarm of each key from the database."""
        a = m.alarms
        for key in set(keys):
            self._evict_key(key)
            row = conn.execute(
                sa.select(a).where(
                    a.c.rule == key[0], a.c.device == key[1], a.c.point == key[2],
                    a.c.state != CLOSED,
                )
            ).mappings().first()
            if row is not None:
                self._cache(_from_row(row))

    def _notify(self, emitted: Changes) -> None:
        for seq, data in emitted:
            for cb in list(self._listeners):
                try:
                    cb(seq, data)
                except Exception:
                    log.exception("alarm listener %r failed", cb)


# ---------------------------------------------------------------------- helpers
def _need(value: str | None, what: str) -> None:
    if value is None or not str(value).strip():
        raise Invalid(f"{what} is required")


def parse_id(value: int | str, what: str = "alarm") -> int:
    """An id from a URL or a caller: an integer, else :class:`NotFound`."""
    if isinstance(value, bool):
        raise NotFound(f"no {what} {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no {what} {value}") from None


def _alarm_id(alarm_id: int | str) -> int:
    return parse_id(alarm_id, "alarm")


def split_values(v: str | Sequence[str] | None) -> list[str]:
    """A filter's values: ``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]``."""
    if v is None:
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    return [s for s in v if s]


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _upsert(conn: Connection, table: sa.Table, row: dict[str, Any], keys: list[str]) -> None:
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    else:
        cond = [table.c[k] == row[k] for k in keys]
        if conn.execute(sa.update(table).where(*cond).values(row)).rowcount == 0:
            conn.execute(sa.insert(table).values(row))
        return
    stmt = dialect_insert(table).values(row)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}
        )
    )


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
