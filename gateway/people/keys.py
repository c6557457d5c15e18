"""API keys for machines: integrators and scripts (``api_keys``, migration 0003).

Lifecycle of a key:

1. **Created** by an admin (:meth:`KeyService.create`: name, roles, optional expiry):
   the token (``swk_`` + 32 random bytes) is returned once in :class:`NewKey` and only its
   SHA-256 hash is stored.
2. **Used** as ``Authorization: Bearer <token>``: :meth:`lookup` reads the store on every
   call (no cache), so a revoked or expired key is refused (:class:`Unauthenticated`,
   401) at once. ``last_used`` is written at most once a minute.
3. **Revoked** by :meth:`revoke`: the row stays (``revoked_at``) so the journal's
   ``via_id`` still names a key that exists; it never works again. **Expired** when the
   clock passes ``expires_at``.

:meth:`list` never shows a token or its hash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.errors import Invalid, NotFound
from gateway.people.models import ApiKey, NewKey, Unauthenticated, parse_roles
from gateway.people.principal import Principal, Via
from gateway.people.tokens import KEY_PREFIX, MAX_TOKEN_LEN, new_id, new_token, token_hash
from gateway.store import models as m
from gateway.store.db import reader

log = logging.getLogger(__name__)

TOUCH_S = 60.0


def key_principal(key: ApiKey) -> Principal:
    return Principal(
        user=f"key:{key.id}",
        name=key.name,
        roles=frozenset(key.roles),
        crew=None,
        via=Via.KEY,
        via_id=key.id,
    )


class KeyService:
    def __init__(self, db: Engine, clock: Clock, *, touch_s: float = TOUCH_S) -> None:
        self._db = db
        self._clock = clock
        self._touch_ms = int(touch_s * 1000)

    def create(
        self,
        name: str,
        roles: str | Iterable[str],
        expires_at_ms: int | None = None,
        *,
        by: str | None = None,
    ) -> NewKey:
        name = (name or "").strip()
        if not name or len(name) > 128:
            raise Invalid("a key needs a name of 1 to 128 characters")
        granted = parse_roles(roles)
        now = self._clock.now_ms()
        if expires_at_ms is not None and expires_at_ms <= now:
            raise Invalid("expires_at is in the past")
        token = new_token(KEY_PREFIX)
        kid = new_id("k")
        with self._db.begin() as conn:
            conn.execute(
                sa.insert(m.api_keys).values(
                    id=kid,
                    name=name,
                    roles=[r.value for r in granted],
                    token_hash=token_hash(token),
                    created_at_ms=now,
                    created_by=by,
                    expires_at_ms=expires_at_ms,
                )
            )
        log.info(
            "API key %s (%s) created by %s with roles %s", kid, name, by or "?", ",".join(granted)
        )
        return NewKey(self.get(kid), token)

    def lookup(self, token: str | None) -> ApiKey:
        """The live key of ``token``; :class:`Unauthenticated` when unknown, revoked or
        expired."""
        if not token or len(token) > MAX_TOKEN_LEN or not token.startswith(KEY_PREFIX):
            raise Unauthenticated("invalid API key")
        with reader(self._db).connect() as conn:
            row = (
                conn.execute(
                    sa.select(m.api_keys).where(m.api_keys.c.token_hash == token_hash(token))
                )
                .mappings()
                .first()
            )
        if row is None:
            raise Unauthenticated("invalid API key")
        key = ApiKey.from_row(row)
        now = self._clock.now_ms()
        if key.revoked_at_ms is not None:
            raise Unauthenticated(f"API key {key.id} is revoked")
        if key.expires_at_ms is not None and key.expires_at_ms <= now:
            raise Unauthenticated(f"API key {key.id} expired")
        if key.last_used_ms is None or now - key.last_used_ms >= self._touch_ms:
            with self._db.begin() as conn:
                conn.execute(
                    sa.update(m.api_keys).where(m.api_keys.c.id == key.id).values(last_used_ms=now)
                )
        return key

    def principal(self, token: str | None) -> Principal:
        return key_principal(self.lookup(token))

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke now (idempotent); :class:`NotFound` for an unknown id."""
        with self._db.begin() as conn:
            found = conn.execute(
                sa.update(m.api_keys)
                .where(m.api_keys.c.id == key_id, m.api_keys.c.revoked_at_ms.is_(None))
                .values(revoked_at_ms=self._clock.now_ms())
            )
        key = self.get(key_id)
        if found.rowcount:
            log.info("API key %s (%s) revoked", key.id, key.name)
        return key

    def get(self, key_id: str) -> ApiKey:
        with reader(self._db).connect() as conn:
            row = (
                conn.execute(sa.select(m.api_keys).where(m.api_keys.c.id == key_id))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        return ApiKey.from_row(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        q = sa.select(m.api_keys).order_by(m.api_keys.c.created_at_ms, m.api_keys.c.id)
        if not include_revoked:
            q = q.where(m.api_keys.c.revoked_at_ms.is_(None))
        with reader(self._db).connect() as conn:
            return [ApiKey.from_row(r) for r in conn.execute(q).mappings()]
