"""The alarm service: rule hits in, alarms out (ISA-18.2 / IEC 62682 / EEMUA 191).

:class:`AlarmService` turns the rule engine's :class:`~rules.model.RuleHit` values into
alarms kept in the state store (``gateway.store``), and carries out the operators'
actions on them. Every method is **synchronous** and short (in-memory work, one database
transaction: ``gateway.store.work``); floods go in batches (``submit``, ``alarms.batch``).

Concurrency: every method runs on the gateway's asyncio event loop (the HTTP routes too)
and none awaits, so each runs to its end before the next starts: there is no lock, and a
service must not be called from another thread. Several services (processes) may share
one database: a second service on the same database that races to create the same alarm
gets the partial unique index's ``IntegrityError``, reloads the existing alarm and updates
it instead; every update is guarded by a version number, so a stale in-memory copy is
reloaded and the change retried, never lost (``gateway.alarms.store``).

Where the rest lives: the alarm record and its states ``gateway.alarms.model``; what hits
and operator actions change ``gateway.alarms.lifecycle``; out of service and suppression
``gateway.alarms.masks``; the tick ``gateway.alarms.timers``; lists and the change log
``gateway.alarms.queries``; figures ``gateway.alarms.kpis``.

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

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Engine

from gateway.alarms.batch import WRITE_BATCH, Backlog, Result, Then, build, key_of, split
from gateway.alarms.cache import AlarmCache
from gateway.alarms.changes import AlarmChanges
from gateway.alarms.groups import AlarmViews
from gateway.alarms.kpis import alarm_kpis
from gateway.alarms.lifecycle import Lifecycle
from gateway.alarms.masks import DEFAULT_SUPPRESSION, Masks
from gateway.alarms.model import SYSTEM_USER, Alarm, AlarmDict, Change, Key
from gateway.alarms.queries import AlarmDicts, AlarmQueries
from gateway.alarms.store import AlarmStore, oldest_kept, read_seq
from gateway.alarms.timers import Timers
from gateway.clock import Clock, iso_ms
from gateway.errors import Conflict, Invalid, NotFound
from gateway.people.audit import Audit
from gateway.site import Site
from gateway.store.filters import parse_id
from gateway.store.work import Listeners, Tx, UnitOfWork
from rules.model import RuleHit, RuleSpec
from rules.vocab import AlarmState, Priority

log = logging.getLogger(__name__)

Listener = Callable[[int, AlarmDict], None]
Changes = list[Change]
_R = TypeVar("_R")
_Op = Callable[[int], tuple[AlarmChanges, _R]]
_RETRIES = 5
_Keys = list[Key]  # (``list`` is a method in the class body)


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
        write_batch: int = WRITE_BATCH,
    ) -> None:
        if chatter_count < 2:
            raise ValueError("chatter_count is at least 2")
        self._specs = dict(specs)
        self._clock = clock
        self._site = site
        self.max_shelve_minutes = max_shelve_minutes
        self.chatter_count = chatter_count
        self._stale_ms = int(stale_after_s * 1000)
        self._changes_keep = max(1, changes_keep)
        self._store = AlarmStore(engine)
        self._uow = UnitOfWork(engine, clock, name="alarm store", retries=_RETRIES)
        self._queries = AlarmQueries(self._store.reader)
        self._cache = AlarmCache(chatter_count)
        self._masks = Masks(self._cache, suppression)
        self._life = Lifecycle(
            self._cache,
            self._masks,
            self._zone_of,
            chatter_count=chatter_count,
            chatter_window_ms=int(chatter_window_s * 1000),
        )
        self._timers = Timers(
            reannounce_ms=int(critical_reannounce_s * 1000),
            chatter_quiet_ms=int(chatter_quiet_s * 1000),
        )
        self._listeners: Listeners[[int, AlarmDict]] = Listeners("alarm")
        self._last_seq = 0
        self._pruned_to = 0
        self._unknown_rules: set[str] = set()
        self.write_batch = max(1, write_batch)
        self._backlog = Backlog(self._apply_many, self.write_batch)
        self.views = AlarmViews(self._cache.by_id.values, self.last_seq)  # groups, snapshot
        self._load()

    def _load(self) -> None:
        since = self._clock.now_ms() - self._life.chatter_window_ms
        with self._store.reader.connect() as conn:
            self._cache.load(conn, since)
            self._last_seq = read_seq(conn)
            oldest = oldest_kept(conn)
            self._pruned_to = (oldest - 1) if oldest is not None else self._last_seq
        log.info(
            "alarm service: %d open alarms, last event %d", len(self._cache.open), self._last_seq
        )

    # ---------------------------------------------------------------- listeners
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call ``callback(seq, alarm_dict)`` after every committed change (on the event
        loop: keep it short, e.g. put the pair on an ``asyncio.Queue``). Returns an
        unsubscribe function."""
        return self._listeners.subscribe(callback)

    def last_seq(self) -> int:
        """The newest sequence number this service handed out or loaded."""
        return self._last_seq

    def current_seq(self) -> int:
        """Alias of :meth:`last_seq`."""
        return self._last_seq

    def snapshot(self) -> tuple[int, AlarmDicts]:
        """``(last_seq, open alarms)`` taken together: what an SSE stream sends first,
        before the changes after ``last_seq``."""
        return self._last_seq, self.open_alarms()

    # --------------------------------------------------------------- rule hits
    def apply(self, hit: RuleHit) -> Alarm | None:
        """Raise or clear the alarm of ``hit``; returns a copy of the alarm as it now is,
        or ``None`` (a clear with no open alarm, or a ticket-only rule). A repeat on an
        open alarm costs one database transaction and no query."""
        key = key_of(hit)
        if self._backlog.has(key):
            self._backlog.run_key(key)  # what waits for this key goes first
        return self._apply_one(hit, key)

    def _apply_one(self, hit: RuleHit, key: Key) -> Alarm | None:
        spec = self._spec(hit)
        if spec.raises == "ticket":
            return None
        if hit.active:
            alarm, activation = self._run(lambda now: self._life.raise_(hit, spec, key, now), [key])
            if activation:
                self._cache.window(key).append(alarm.last_hit_ms)
            return alarm.copy()
        cur = self._cache.open.get(key) or self._lookup_open(key)
        if cur is None or cur.state == AlarmState.CLEARED_UNACKED:
            return None if cur is None else cur.copy()
        cleared = self._run(lambda now: self._life.clear(hit, key, now), [key])
        return None if cleared is None else cleared.copy()

    def apply_many(self, hits: Sequence[RuleHit]) -> list[Alarm | None]:
        """:meth:`apply` of each hit in order, ``write_batch`` hits per transaction
        (``gateway.alarms.batch``); one result per hit. Holds the loop until done: for a
        flood, :meth:`submit`."""
        for key in {key_of(h) for h in hits}:
            self._backlog.run_key(key)
        return self._apply_many(hits)

    def submit(self, hits: Sequence[RuleHit], then: Then | None = None) -> None:
        """Hand over a flood of hits: written in batches by a task that lets the loop run
        between them; ``then(hit, alarm)`` once each is committed. A later :meth:`apply`
        on a key still waiting writes that key's waiting hits first."""
        self._backlog.submit(hits, then)

    def flush(self) -> None:
        """Write what :meth:`submit` left waiting, now (on shutdown)."""
        self._backlog.flush()

    def _apply_many(self, hits: Sequence[RuleHit]) -> list[Alarm | None]:
        out: list[Alarm | None] = []
        for batch in split(hits, self._alone, self.write_batch):
            if len(batch) == 1:
                out.append(self._apply_one(batch[0], key_of(batch[0])))
                continue
            keys = [key_of(h) for h in batch]
            for h, key in zip(batch, keys, strict=True):
                if not h.active and key not in self._cache.open:
                    self._lookup_open(key)
            op = partial(build, batch, life=self._life, cache=self._cache, spec_of=self._spec)
            done: list[Result] = self._run(op, keys)
            for alarm, activation in done:
                if activation and alarm is not None:
                    self._cache.window(alarm.key).append(alarm.last_hit_ms)
                out.append(None if alarm is None else alarm.copy())
        return out

    def _alone(self, hit: RuleHit) -> bool:  # critical, or suppressing others: on its own
        crit = self._spec(hit).priority_for(hit.system) == Priority.CRITICAL
        return crit or self._masks.suppresses(hit.rule)

    def _lookup_open(self, key: Key) -> Alarm | None:
        """The open alarm of ``key`` in the database (another service may have raised
        it); cached when found. Only asked on a clear this service knows nothing of."""
        with self._store.reader.connect() as conn:
            alarm = self._store.open_alarm(conn, key)
        if alarm is not None:
            self._cache.put(alarm)
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
            priority=Priority.LOW,
            raises="alarm",
            message=hit.message or hit.rule,
            action="",
        )

    def _zone_of(self, device: str) -> str | None:
        d = self._site.device(device) if self._site is not None else None
        return d.zone if d is not None else None

    def _system_of(self, device: str) -> str | None:
        d = self._site.device(device) if self._site is not None else None
        return d.system if d is not None else None

    # --------------------------------------------------------- operator actions
    def ack(
        self,
        alarm_id: int | str,
        user: str,
        note: str | None = None,
        *,
        audit: Audit | None = None,
    ) -> AlarmDict:
        """Acknowledge: ``active_unacked`` → ``active_acked`` (``closed`` for an event
        alarm that ``clears_on_ack``), ``cleared_unacked`` → ``closed``. Raises
        :class:`NotFound`, or :class:`Conflict` when already acknowledged or closed.
        ``user`` (the user id) becomes ``acked_by``; ``audit`` (``Principal.audit()``:
        ``by``, ``by_name``, ``via``, ``via_id``) goes into the journal entry."""
        _need(user, "user")

        def op(now: int) -> tuple[AlarmChanges, Alarm]:
            cur = self._current(alarm_id)
            return self._life.ack(cur, self._specs.get(cur.rule), user, note, now, audit)

        return self._run(op, self._keys_of(alarm_id)).public()

    def shelve(
        self,
        alarm_id: int | str,
        user: str,
        minutes: int,
        reason: str,
        *,
        audit: Audit | None = None,
    ) -> AlarmDict:
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
        return self._run(
            lambda now: self._life.shelve(
                self._current(alarm_id), user, minutes, reason, now, audit
            ),
            self._keys_of(alarm_id),
        ).public()

    def unshelve(self, alarm_id: int | str, user: str, *, audit: Audit | None = None) -> AlarmDict:
        """End a shelve early. :class:`Conflict` when the alarm is not shelved."""
        _need(user, "user")
        return self._run(
            lambda now: self._life.unshelve(self._current(alarm_id), user, now, audit),
            self._keys_of(alarm_id),
        ).public()

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
        if spec.priority_for(self._system_of(device)) == Priority.CRITICAL:
            raise Conflict(f"{rule} is critical: critical alarms are never out of service")
        changed = self._run(
            lambda now: self._life.set_out_of_service(rule, device, on, user, reason, now),
            [a.key for a in self._cache.of(rule, device)],
        )
        return [a.public() for a in changed]

    def out_of_service(self) -> AlarmDicts:
        """The (rule, device) pairs out of service, with who, since when and why."""
        return [
            {
                "rule": r,
                "device": d,
                "since": iso_ms(e["since_ms"]),
                "by": e["by"],
                "reason": e["reason"],
            }
            for (r, d), e in sorted(self._cache.oos.items())
        ]

    # ------------------------------------------------- what the tickets ask of alarms
    def link_ticket(
        self, alarm_id: int | str, ticket_id: int | str, user: str = SYSTEM_USER
    ) -> AlarmDict:
        """Record that ``ticket_id`` was opened for the alarm (open or closed); the
        ticket service calls this. Linking twice changes nothing."""
        return self._run(
            lambda now: self._life.link_ticket(
                self._current(alarm_id, open_only=False), ticket_id, user, now
            ),
            self._keys_of(alarm_id),
        ).public()

    def is_active(self, rule: str, device: str) -> bool:
        """Whether an alarm of ``rule`` on ``device`` (any point) is active."""
        return any(a.is_active for a in self._cache.of(rule, device))

    def active_alarms(self) -> list[Alarm]:
        """The active alarms held, oldest first: read only, not copies (a change makes a
        new version; the tickets' and notifier's ticks read them every second)."""
        return [a for a in self._sorted() if a.is_active]

    # -------------------------------------------------------------------- time
    def tick(self, now: float | None = None) -> Changes:
        """Time-driven work (``gateway.alarms.timers``); call every few seconds. ``now``
        is epoch seconds (default: the clock). Also trims the change log. Returns the
        changes it made (also sent to listeners)."""
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        out: Changes = []
        due = self._timers.due_keys(self._cache.open, self._cache.timed, now_ms)
        if due:  # only these are read (not every open alarm of a flood)
            tick = partial(self._timers.tick_keys, self._cache.open, due, now_ms)
            out = self._run(lambda _now: (tick(), None), due, changes=True)
        keep = self._changes_keep
        if self._last_seq - self._pruned_to > keep + max(1, keep // 10):
            cutoff = self._last_seq - keep
            self._store.prune(cutoff)
            self._pruned_to = cutoff
        return out

    # ----------------------------------------------------------------- queries
    def _sorted(self) -> list[Alarm]:
        return sorted(self._cache.by_id.values(), key=lambda a: a.id or 0)

    def open_alarms(self) -> AlarmDicts:
        """Every open alarm this service holds, oldest first."""
        return [a.public() for a in self._sorted()]

    def list(
        self,
        state: str | Sequence[str] | None = None,
        priority: str | Sequence[str] | None = None,
        device: str | None = None,
        limit: int = 100,
        offset: int = 0,
        **more: Any,
    ) -> tuple[AlarmDicts, int]:
        """See :meth:`gateway.alarms.queries.AlarmQueries.list` (``more``: ``rule``,
        ``zone``, ``before``)."""
        return self._queries.list(state, priority, device, limit, offset, **more)

    def get(self, alarm_id: int | str) -> AlarmDict:
        """One alarm with its ``journal`` (oldest first). :class:`NotFound` if none."""
        return self._queries.get(alarm_id)

    def changes_since(self, seq: int, limit: int = 1000) -> Changes | None:
        """See :meth:`gateway.alarms.queries.AlarmQueries.changes_since` (``None``: get a
        fresh :meth:`snapshot`)."""
        return self._queries.changes_since(seq, limit)

    def oldest_seq(self) -> int:
        """The oldest change still kept (``last_seq() + 1`` when none is)."""
        oldest = self._queries.oldest_seq()
        return oldest if oldest is not None else self._last_seq + 1

    def kpis(self, now: float | None = None) -> dict[str, Any]:
        """Alarm-management figures over the 24 h to ``now`` (epoch seconds; default the
        clock): see ``gateway.alarms.kpis``."""
        now_ms = self._clock.now_ms() if now is None else int(round(now * 1000))
        return alarm_kpis(self._store.reader, now_ms, self._stale_ms)

    # ------------------------------------------- rule state (RuleStateStore's now)
    # ------------------------------------------------------------- machinery
    def _current(self, alarm_id: int | str, *, open_only: bool = True) -> Alarm:
        """The alarm ``alarm_id`` as this service knows it (loading it if another service
        created it). Raises NotFound, or Conflict if closed and ``open_only``."""
        aid = parse_id(alarm_id, "alarm")
        a = self._cache.by_id.get(aid)
        if a is not None:
            return a
        tx = self._uow.current
        if tx is not None:
            a = self._store.by_id(tx.conn, aid)
        else:
            with self._store.reader.connect() as conn:
                a = self._store.by_id(conn, aid)
        if a is None:
            raise NotFound(f"no alarm {alarm_id}")
        if a.is_open:
            self._cache.evict(a.key)
            self._cache.put(a)
        elif open_only:
            raise Conflict(f"alarm {aid} is closed")
        return a

    def _keys_of(self, alarm_id: int | str) -> _Keys:
        try:
            a = self._cache.by_id.get(parse_id(alarm_id, "alarm"))
        except NotFound:
            return []
        return [a.key] if a is not None else []

    def _run(self, op: _Op[_R], keys: Iterable[Key], *, changes: bool = False) -> Any:
        """Build a change with ``op(now_ms)`` from the cache and write it in one
        transaction of the unit of work; once committed, the cache takes the new
        versions and the listeners hear the changes. On a retry (another service got
        there first) the writers' lock is taken and the alarms involved are re-read
        before ``op`` runs again (see ``gateway.alarms.store``)."""
        resync: set[Key] = set(keys)

        def attempt(tx: Tx) -> Any:
            work, result = op(tx.now_ms)
            resync.update(work.saves)
            emitted = self._store.write(tx, work)
            tx.on_commit(lambda: self._committed(work, emitted))
            return emitted if changes else result

        def reread(tx: Tx) -> None:
            self._store.lock_writers(tx.conn)
            for key in resync:
                self._cache.evict(key)
                alarm = self._store.open_alarm(tx.conn, key)
                if alarm is not None:
                    self._cache.put(alarm)

        return self._uow.run(attempt, on_retry=reread)

    def _committed(self, work: AlarmChanges, emitted: Changes) -> None:
        self._cache.take(work)
        if emitted:
            self._last_seq = max(self._last_seq, emitted[-1][0])
            for seq, data in emitted:
                self._listeners.notify(seq, data)


def _need(value: str | None, what: str) -> None:
    if value is None or not str(value).strip():
        raise Invalid(f"{what} is required")
