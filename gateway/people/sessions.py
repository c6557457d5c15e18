"""Sessions of people signed in with a password (``sessions``, migration 0003).

Lifecycle of a session:

1. **Created** by :meth:`SessionService.create` at sign-in: a random cookie token and a
   random CSRF token, both handed out once (:class:`NewSession`) and stored as SHA-256
   hashes only, with the user, the address, ``created``, ``last_seen`` and ``expires`` =
   ``last_seen`` + the idle timeout (default 12 h). A user keeps at most
   ``max_per_user`` sessions: the least recently seen ones end first.
2. **Used** by :meth:`lookup` on each request: refused (:class:`Unauthenticated`) when
   unknown, past ``expires`` (the row is deleted), or the user is disabled or has no
   role left; otherwise ``last_seen`` and ``expires`` move forward (written at most once
   a minute, so a page polling the API does not write on every call). State-changing
   calls also check :meth:`Session.csrf_ok` on the ``X-CSRF-Token`` header.
3. **Ended** by :meth:`end` (sign-out), by :func:`end_sessions_of` when the user is
   disabled or gets a new password, or swept by :meth:`purge` once idle too long.

Time is the injected clock's.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock
from gateway.people.models import NewSession, RowLike, Session, Unauthenticated, User
from gateway.people.principal import Principal, Via
from gateway.people.tokens import MAX_TOKEN_LEN, new_id, new_token, token_hash
from gateway.store import models as m
from gateway.store.db import reader

log = logging.getLogger(__name__)

IDLE_S = 12 * 3600.0
TOUCH_S = 60.0
MAX_PER_USER = 20


def end_sessions_of(conn: Connection, user_id: str) -> int:
    """End every session of ``user_id`` inside the caller's transaction."""
    result = conn.execute(sa.delete(m.sessions).where(m.sessions.c.user_id == user_id))
    return int(result.rowcount or 0)


def session_principal(session: Session) -> Principal:
    user = session.user
    return Principal(
        user=user.id,
        name=user.name,
        roles=frozenset(user.roles),
        crew=user.crew,
        via=Via.SESSION,
        via_id=session.id,
    )


class SessionService:
    def __init__(
        self,
        db: Engine,
        clock: Clock,
        *,
        idle_s: float = IDLE_S,
        touch_s: float = TOUCH_S,
        max_per_user: int = MAX_PER_USER,
    ) -> None:
        if idle_s <= 0 or max_per_user < 1:
            raise ValueError("idle_s > 0 and max_per_user >= 1")
        self._db = db
        self._clock = clock
        self.idle_ms = int(idle_s * 1000)
        self._touch_ms = int(touch_s * 1000)
        self._max = max_per_user

    def create(self, user: User, addr: str | None = None) -> NewSession:
        token, csrf = new_token(), new_token()
        now = self._clock.now_ms()
        sid = new_id("s")
        addr = None if addr is None else addr[:64]
        with self._db.begin() as conn:
            conn.execute(
                sa.insert(m.sessions).values(
                    id=sid,
                    token_hash=token_hash(token),
                    csrf_hash=token_hash(csrf),
                    user_id=user.id,
                    addr=addr,
                    created_at_ms=now,
                    last_seen_ms=now,
                    expires_at_ms=now + self.idle_ms,
                )
            )
            self._trim(conn, user.id, sid, now)
            row = conn.execute(sa.select(m.sessions).where(m.sessions.c.id == sid)).mappings().one()
        log.info("session %s started for user %s", sid, user.id)
        return NewSession(_session(row, user), token, csrf)

    def lookup(self, token: str | None) -> Session:
        """The live session of cookie ``token``; :class:`Unauthenticated` otherwise."""
        if not token or len(token) > MAX_TOKEN_LEN:
            raise Unauthenticated("not signed in")
        digest = token_hash(token)
        now = self._clock.now_ms()
        with reader(self._db).connect() as conn:
            found = (
                conn.execute(
                    sa.select(m.sessions, m.users)
                    .join_from(m.sessions, m.users, m.sessions.c.user_id == m.users.c.id)
                    .where(m.sessions.c.token_hash == digest)
                )
                .mappings()
                .first()
            )
        if found is None:
            raise Unauthenticated("not signed in (unknown or ended session)")
        sid = found[m.sessions.c.id]
        if found[m.sessions.c.expires_at_ms] <= now:
            self._delete(sid)
            raise Unauthenticated("session expired: sign in again")
        user = User.from_row(_user_part(found))
        if not user.usable:
            self._delete(sid)
            raise Unauthenticated(f"user {user.id} is disabled")
        session = _session(_session_part(found), user)
        if now - session.last_seen_ms >= self._touch_ms:
            expires = now + self.idle_ms
            with self._db.begin() as conn:
                conn.execute(
                    sa.update(m.sessions)
                    .where(m.sessions.c.id == sid)
                    .values(
                        last_seen_ms=now,
                        expires_at_ms=expires,
                    )
                )
            session = Session(
                session.id,
                user,
                session.addr,
                session.created_at_ms,
                now,
                expires,
                session.csrf_hash,
            )
        return session

    def principal(self, token: str | None) -> Principal:
        return session_principal(self.lookup(token))

    def end(self, token: str | None) -> bool:
        """Sign-out: ``True`` when a session ended."""
        if not token or len(token) > MAX_TOKEN_LEN:
            return False
        with self._db.begin() as conn:
            sid = conn.execute(
                sa.delete(m.sessions)
                .where(m.sessions.c.token_hash == token_hash(token))
                .returning(m.sessions.c.id)
            ).scalar()
        if sid is not None:
            log.info("session %s ended", sid)
        return sid is not None

    def end_all(self, user_id: str) -> int:
        with self._db.begin() as conn:
            return end_sessions_of(conn, user_id)

    def list_for(self, user_id: str) -> list[Session]:
        """The user's sessions, most recently seen first (expired ones included until
        purged)."""
        with reader(self._db).connect() as conn:
            user_row = (
                conn.execute(sa.select(m.users).where(m.users.c.id == user_id)).mappings().first()
            )
            if user_row is None:
                return []
            rows = (
                conn.execute(
                    sa.select(m.sessions)
                    .where(m.sessions.c.user_id == user_id)
                    .order_by(m.sessions.c.last_seen_ms.desc(), m.sessions.c.id)
                )
                .mappings()
                .all()
            )
        user = User.from_row(user_row)
        return [_session(r, user) for r in rows]

    def purge(self) -> int:
        """Delete sessions idle past their expiry; returns how many."""
        with self._db.begin() as conn:
            result = conn.execute(
                sa.delete(m.sessions).where(m.sessions.c.expires_at_ms <= self._clock.now_ms())
            )
        return int(result.rowcount or 0)

    def _delete(self, sid: str) -> None:
        with self._db.begin() as conn:
            conn.execute(sa.delete(m.sessions).where(m.sessions.c.id == sid))

    def _trim(self, conn: Connection, user_id: str, keep_id: str, now: int) -> None:
        """Drop the user's expired sessions and all but the ``max_per_user - 1`` most
        recently seen others (``keep_id``, the new one, stays)."""
        mine = m.sessions.c.user_id == user_id
        conn.execute(sa.delete(m.sessions).where(mine, m.sessions.c.expires_at_ms <= now))
        others = (
            sa.select(m.sessions.c.id)
            .where(mine, m.sessions.c.id != keep_id)
            .order_by(
                m.sessions.c.last_seen_ms.desc(),
                m.sessions.c.created_at_ms.desc(),
                m.sessions.c.id.desc(),
            )
            .limit(self._max - 1)
        )
        keep = [keep_id, *(r[0] for r in conn.execute(others))]
        conn.execute(sa.delete(m.sessions).where(mine, m.sessions.c.id.not_in(keep)))


def _session(row: RowLike, user: User) -> Session:
    return Session(
        id=str(row["id"]),
        user=user,
        addr=row["addr"],
        created_at_ms=int(row["created_at_ms"]),
        last_seen_ms=int(row["last_seen_ms"]),
        expires_at_ms=int(row["expires_at_ms"]),
        csrf_hash=str(row["csrf_hash"]),
    )


def _session_part(row: sa.RowMapping) -> dict[str, Any]:
    return {c.name: row[c] for c in m.sessions.c}


def _user_part(row: sa.RowMapping) -> dict[str, Any]:
    return {c.name: row[c] for c in m.users.c}
