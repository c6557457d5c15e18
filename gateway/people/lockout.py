"""Sign-in lock-out: too many failures for one user or from one address wait a while.

Rule (contract §6): 10 failed sign-ins within 5 minutes for one user id, or from one
address, lock that user id, or that address, for 5 minutes from the 10th failure.
:meth:`Lockout.check` returns the seconds left to wait (``0``: go ahead), which the HTTP
layer sends as ``429`` with ``Retry-After``; a locked sign-in is refused before the
password is even looked at. A success clears the user's count (not the address's: one
right password must not wipe an address's record of guessing at other accounts). After
the lock the count starts again from zero.

Lifecycle of a throttle row (``login_throttle``, migration 0003), one per (``user``, id)
or (``addr``, address): **created** by the first failure, **grows** to at most the limit
(failure times older than the window drop out: a sliding window), **locks** at the limit
(``locked_until_ms``, failure list emptied), **released** when the clock passes
``locked_until_ms``, **deleted** by a success (user rows) or by :meth:`purge` once it
holds nothing current (no lock, no failure in the window).

Why in the state store and not in memory: a restart must not lift a lock (restarting
would be a way around it), several gateway processes on one PostgreSQL share one count,
and the gateway's memory stays flat whatever an attacker sends. The table itself is
bounded: at most ``limit`` times per row, and a row lives at most one window plus one
lock after its last failure (:meth:`purge`, also run by every tenth failure). User ids
that cannot exist (not matching the id pattern) are counted per address only, so guessed
garbage cannot fill it; unknown but well-formed ids are counted like real ones, so the
lock-out does not tell which accounts exist.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.clock import Clock
from gateway.people.models import valid_id
from gateway.store import models as m
from gateway.store.db import reader

log = logging.getLogger(__name__)

USER, ADDR = "user", "addr"
MAX_FAILURES = 10
WINDOW_S = 300.0
LOCK_S = 300.0


class Lockout:
    def __init__(
        self,
        db: Engine,
        clock: Clock,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        lock_s: float = LOCK_S,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lock_s <= 0:
            raise ValueError("max_failures >= 1, window_s > 0 and lock_s > 0")
        self._db = db
        self._clock = clock
        self.max_failures = max_failures
        self._window_ms = int(window_s * 1000)
        self._lock_ms = int(lock_s * 1000)
        self._since_purge = 0

    def check(self, user: str | None, addr: str | None) -> int:
        """Seconds to wait before ``user`` may try from ``addr`` (``0``: not locked)."""
        keys = list(_keys(user, addr))
        if not keys:
            return 0
        now = self._clock.now_ms()
        cond = sa.or_(
            *(sa.and_(m.login_throttle.c.kind == k, m.login_throttle.c.key == v) for k, v in keys)
        )
        with reader(self._db).connect() as conn:
            until = conn.execute(
                sa.select(sa.func.max(m.login_throttle.c.locked_until_ms)).where(cond)
            ).scalar()
        return _seconds(until, now)

    def failed(self, user: str | None, addr: str | None) -> int:
        """Record a failed sign-in; returns :meth:`check`'s answer after it."""
        now = self._clock.now_ms()
        wait = 0
        for kind, key in _keys(user, addr):
            for attempt in range(3):
                try:
                    with self._db.begin() as conn:
                        wait = max(wait, self._record(conn, kind, key, now))
                    break
                except IntegrityError:  # another process inserted the row first
                    if attempt == 2:
                        raise
        self._since_purge += 1
        if self._since_purge >= self.max_failures:
            self.purge()
        return wait

    def succeeded(self, user: str) -> None:
        """A right password: the user's count starts again."""
        with self._db.begin() as conn:
            conn.execute(
                sa.delete(m.login_throttle).where(
                    m.login_throttle.c.kind == USER, m.login_throttle.c.key == user
                )
            )

    def purge(self) -> int:
        """Delete rows holding nothing current; returns how many."""
        self._since_purge = 0
        now = self._clock.now_ms()
        t = m.login_throttle.c
        with self._db.begin() as conn:
            result = conn.execute(
                sa.delete(m.login_throttle).where(
                    t.updated_at_ms <= now - self._window_ms,
                    sa.or_(t.locked_until_ms.is_(None), t.locked_until_ms <= now),
                )
            )
        return int(result.rowcount or 0)

    def _record(self, conn: Connection, kind: str, key: str, now: int) -> int:
        t = m.login_throttle.c
        row = (
            conn.execute(
                sa.select(m.login_throttle).where(t.kind == kind, t.key == key).with_for_update()
            )
            .mappings()
            .first()
        )
        if row is not None and row["locked_until_ms"] is not None and row["locked_until_ms"] > now:
            return _seconds(row["locked_until_ms"], now)  # already locked: nothing to add
        times: list[int] = (
            []
            if row is None
            else [int(x) for x in row["failures"] or [] if int(x) > now - self._window_ms]
        )
        times.append(now)
        values: dict[str, Any] = {"failures": times, "locked_until_ms": None, "updated_at_ms": now}
        if len(times) >= self.max_failures:
            values.update(failures=[], locked_until_ms=now + self._lock_ms)
            # a user id as typed is not logged: it may be a password typed in the wrong box
            log.warning(
                "sign-in locked for %d s: %d failures within %d s for %s",
                self._lock_ms // 1000,
                len(times),
                self._window_ms // 1000,
                f"address {key}" if kind == ADDR else "one user id",
            )
        if row is None:
            conn.execute(sa.insert(m.login_throttle).values(kind=kind, key=key, **values))
        else:
            conn.execute(
                sa.update(m.login_throttle).where(t.kind == kind, t.key == key).values(values)
            )
        return _seconds(values["locked_until_ms"], now)


def _keys(user: str | None, addr: str | None) -> Iterator[tuple[str, str]]:
    if user and valid_id(user):
        yield USER, user
    if addr:
        yield ADDR, addr[:128]


def _seconds(until_ms: int | None, now_ms: int) -> int:
    if until_ms is None or until_ms <= now_ms:
        return 0
    return max(1, math.ceil((until_ms - now_ms) / 1000))
