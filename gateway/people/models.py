"""Values of the people package: users, sessions, keys, and the one error it adds.

A :class:`User` is read from the ``users`` table and never carries its password hash; a
:class:`Session` carries the hash of its CSRF token only to compare a presented one. The
secrets handed out once (:class:`NewSession`, :class:`NewKey`) keep them out of
``repr()`` so that logging one of these values never prints a token.

:class:`Unauthenticated` is the caller-is-not-who-it-claims error (HTTP 401): unknown,
expired or revoked session or key, a bad ID token. It is a :class:`DomainError`, so the
HTTP layer's handler shows ``detail()``; it must map it to 401 (``WWW-Authenticate``).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gateway.clock import iso_ms
from gateway.errors import DomainError, Invalid
from gateway.people.tokens import token_hash
from rules.vocab import ID_RE, ROLES, Role

_ID = re.compile(ID_RE)

#: a row read from the store, or a plain mapping with the same keys
RowLike = Mapping[str, Any] | sa.RowMapping


class Unauthenticated(DomainError):
    """Who is calling cannot be established (HTTP 401)."""


def valid_id(value: str) -> bool:
    """``value`` is a user, crew or member id of the contract (``ID_RE``)."""
    return bool(_ID.match(value))


def parse_roles(values: str | Iterable[str], *, allow_empty: bool = False) -> tuple[Role, ...]:
    """Roles from ``"a,b"`` or an iterable of names, deduplicated, in :data:`ROLES` order;
    :class:`Invalid` names every unknown one."""
    items = values.split(",") if isinstance(values, str) else list(values)
    names = [str(v).strip() for v in items if str(v).strip()]
    unknown = sorted({n for n in names if n not in ROLES})
    if unknown:
        raise Invalid(
            f"unknown role(s) {', '.join(unknown)} (roles: {', '.join(r.value for r in ROLES)})"
        )
    if not names and not allow_empty:
        raise Invalid("at least one role is needed")
    wanted = set(names)
    return tuple(r for r in ROLES if r in wanted)


def merge_roles(*groups: Iterable[str]) -> tuple[Role, ...]:
    """The union of ``groups`` in :data:`ROLES` order (unknown names dropped)."""
    wanted = {str(r) for g in groups for r in g}
    return tuple(r for r in ROLES if r in wanted)


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    #: what the user may do: ``granted_roles`` and ``site_roles`` together
    roles: tuple[Role, ...]
    #: given by an admin (``users add``/``PATCH``)
    granted_roles: tuple[Role, ...]
    #: given by the site file (crew member, lead, site manager), rewritten by each sync
    site_roles: tuple[Role, ...]
    crew: str | None
    active: bool
    has_password: bool
    created_at_ms: int
    updated_at_ms: int

    @property
    def usable(self) -> bool:
        """Active and holding at least one role: may sign in."""
        return self.active and bool(self.roles)

    def public(self) -> dict[str, Any]:
        """The admin API's view (``GET /api/v1/users``): never a hash."""
        return {
            "user": self.id,
            "name": self.name,
            "roles": [r.value for r in self.roles],
            "granted_roles": [r.value for r in self.granted_roles],
            "site_roles": [r.value for r in self.site_roles],
            "crew": self.crew,
            "active": self.active,
            "has_password": self.has_password,
            "created_at": iso_ms(self.created_at_ms),
            "updated_at": iso_ms(self.updated_at_ms),
        }

    @classmethod
    def from_row(cls, row: RowLike) -> User:
        granted = merge_roles(row["roles"] or ())
        site = merge_roles(row["site_roles"] or ())
        return cls(
            id=row["id"],
            name=row["name"],
            roles=merge_roles(granted, site),
            granted_roles=granted,
            site_roles=site,
            crew=row["crew"],
            active=bool(row["active"]),
            has_password=row["password_hash"] is not None,
            created_at_ms=int(row["created_at_ms"]),
            updated_at_ms=int(row["updated_at_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session as looked up from its cookie."""

    id: str
    user: User
    addr: str | None
    created_at_ms: int
    last_seen_ms: int
    expires_at_ms: int
    csrf_hash: str = field(repr=False)

    def csrf_ok(self, presented: str | None) -> bool:
        """``presented`` (the ``X-CSRF-Token`` header) is this session's CSRF token."""
        if not presented or len(presented) > 256:
            return False
        return hmac.compare_digest(token_hash(presented), self.csrf_hash)


@dataclass(frozen=True, slots=True)
class NewSession:
    """What a sign-in hands out once: the cookie's token and the CSRF token."""

    session: Session
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    roles: tuple[Role, ...]
    created_at_ms: int
    created_by: str | None
    expires_at_ms: int | None
    revoked_at_ms: int | None
    last_used_ms: int | None

    def public(self) -> dict[str, Any]:
        """``GET /api/v1/keys``: never the token, nor its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "roles": [r.value for r in self.roles],
            "created_at": iso_ms(self.created_at_ms),
            "created_by": self.created_by,
            "expires_at": iso_ms(self.expires_at_ms),
            "revoked_at": iso_ms(self.revoked_at_ms),
            "last_used_at": iso_ms(self.last_used_ms),
        }

    @classmethod
    def from_row(cls, row: RowLike) -> ApiKey:
        return cls(
            id=row["id"],
            name=row["name"],
            roles=merge_roles(row["roles"] or ()),
            created_at_ms=int(row["created_at_ms"]),
            created_by=row["created_by"],
            expires_at_ms=row["expires_at_ms"],
            revoked_at_ms=row["revoked_at_ms"],
            last_used_ms=row["last_used_ms"],
        )


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: ``token`` is shown once and stored nowhere."""

    key: ApiKey
    token: str = field(repr=False)
