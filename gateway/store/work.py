"""The unit of work both services write through: one transaction, retried, then told.

Life of one operation (:meth:`UnitOfWork.run`)::

    begin ──> op(tx) ──> flush: hooks, then the journal ──> commit ──> after-commit calls
      ^                          │
      └── rolled back, again <───┘  Stale or IntegrityError (a racing writer), at most
                                    ``retries`` attempts; the last one's error is raised

- ``op(tx)`` does the operation's reads and writes on ``tx.conn`` (``tx.now_ms`` is the
  gateway clock when the attempt began), adds journal entries with :meth:`Tx.journal`,
  registers :meth:`Tx.on_flush` hooks (written last, in the same transaction: e.g. the
  outbox's notifications) and :meth:`Tx.on_commit` calls (cache updates, listeners, work
  on another service), which run only once the transaction is committed.
- A racing writer on the same database shows as :class:`Stale` (a version check refused
  an update) or as an ``IntegrityError`` (a unique index refused an insert): the
  transaction is rolled back, nothing registered on it runs, and ``op`` runs again in a
  new transaction, after ``on_retry(tx)`` (e.g. lock the writers and re-read).
- After commit the calls run in order; one that fails is logged and the others still run
  (the change is committed: nothing that follows can undo it).

Concurrency: everything runs on the gateway's asyncio event loop and no method here (nor
any ``op``) awaits, so an operation runs to its end before the next begins and no lock is
needed. A service, and its unit of work, belongs to one thread.

:class:`Listeners` is the subscribe/notify list both services tell their changes to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.clock import Clock
from gateway.store import journal as jr

log = logging.getLogger(__name__)

R = TypeVar("R")
P = ParamSpec("P")


class Stale(Exception):
    """A row changed in the database since it was read: its versioned update was refused."""


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


class Tx:
    """One attempt of one operation: the open transaction and what to do around it."""

    __slots__ = ("conn", "now_ms", "attempt", "_journal", "_flush", "_commit")

    def __init__(self, conn: Connection, now_ms: int, attempt: int) -> None:
        self.conn = conn
        self.now_ms = now_ms
        self.attempt = attempt
        self._journal: list[tuple[dict[str, Any], HasId | None]] = []
        self._flush: list[Callable[[], None]] = []
        self._commit: list[Callable[[], None]] = []

    def journal(self, entry: dict[str, Any], *, alarm: HasId | None = None) -> None:
        """Journal ``entry`` (made by :func:`gateway.store.journal.entry`) at flush. With
        ``alarm``, the entry's ``alarm_id`` is that alarm's id at flush (an alarm this
        transaction inserts has its id only once inserted)."""
        self._journal.append((entry, alarm))

    def on_flush(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` after ``op``, before the journal is written and the commit."""
        self._flush.append(fn)

    def on_commit(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the transaction is committed (never if it is not)."""
        self._commit.append(fn)

    def flush(self) -> None:
        i = 0
        while i < len(self._flush):  # a hook may register another
            self._flush[i]()
            i += 1
        rows = []
        for entry, alarm in self._journal:
            if alarm is not None:
                entry["alarm_id"] = alarm.id
            rows.append(entry)
        jr.append(self.conn, rows)

    def committed(self) -> list[Callable[[], None]]:
        return list(self._commit)


class UnitOfWork:
    """Runs operations on ``engine`` as described in the module doc (``name`` is for the
    log; ``retries`` is the number of attempts)."""

    def __init__(self, engine: Engine, clock: Clock, *, name: str, retries: int = 3) -> None:
        if retries < 1:
            raise ValueError("retries is at least 1")
        self._engine = engine
        self._clock = clock
        self.name = name
        self.retries = retries
        self._current: Tx | None = None

    @property
    def current(self) -> Tx | None:
        """The attempt in progress (``None`` outside :meth:`run` and after its commit)."""
        return self._current

    def run(self, op: Callable[[Tx], R], *, on_retry: Callable[[Tx], None] | None = None) -> R:
        if self._current is not None:
            raise RuntimeError(f"{self.name}: an operation is already in progress")
        for attempt in range(self.retries):
            try:
                with self._engine.begin() as conn:
                    tx = self._current = Tx(conn, self._clock.now_ms(), attempt)
                    if attempt and on_retry is not None:
                        on_retry(tx)
                    result = op(tx)
                    tx.flush()
            except (Stale, IntegrityError) as exc:
                if attempt == self.retries - 1:
                    raise
                log.debug("%s: another writer got there first (%s); retrying", self.name, exc)
                continue
            finally:
                self._current = None
            for fn in tx.committed():
                try:
                    fn()
                except Exception:
                    log.exception("%s: after commit, %r failed", self.name, fn)
            return result
        raise AssertionError("unreachable")


class Listeners(Generic[P]):
    """Callbacks told of each committed change; one that fails is logged, not raised."""

    __slots__ = ("what", "_callbacks")

    def __init__(self, what: str) -> None:
        self.what = what
        self._callbacks: list[Callable[P, None]] = []

    def subscribe(self, callback: Callable[P, None]) -> Callable[[], None]:
        """Add ``callback``; returns the function that removes it."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for cb in list(self._callbacks):
            try:
                cb(*args, **kwargs)
            except Exception:
                log.exception("%s listener %r failed", self.what, cb)

    def __len__(self) -> int:
        return len(self._callbacks)
