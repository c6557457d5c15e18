"""Who is calling, and what that person may do to a ticket: the rule lives here only.

The HTTP layer establishes a :class:`Principal` for each request (from a session cookie,
an API key, a ``SITEWATCH_API_TOKENS`` token or an OpenID Connect ID token) and hands it
to the services: ``by`` (user id) and ``by_name`` go into the journal, ``acked_by`` and
ticket moves; ``via``/``via_id`` name the session or key it came through.

Ticket rules (contract §6):

- ``operator`` and ``admin`` move and reassign any ticket;
- ``lead``: moves the tickets of their crew (or assigned to them) and reassigns within
  the crew;
- ``technician``: moves the tickets of their own crew or assigned to them, reassigns none;
- ``manager``, ``viewer``, ``integrator``: move none (a manager reads everything).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gateway.errors import Forbidden
from rules.vocab import Role


class Via(StrEnum):
    SESSION = "session"
    KEY = "key"
    TOKEN = "token"
    OIDC = "oidc"


_ALL_TICKETS = frozenset({Role.OPERATOR, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Principal:
    #: user id (a key: ``key:<key id>``; a shared role token: the role)
    user: str
    name: str
    roles: frozenset[Role]
    crew: str | None
    via: Via
    #: the session or key id (``None`` for a shared token or an ID token)
    via_id: str | None = None

    def has(self, *roles: Role | str) -> bool:
        """Holds any of ``roles``."""
        return any(r in self.roles for r in roles)

    @property
    def by(self) -> str:
        return self.user

    @property
    def by_name(self) -> str:
        return self.name

    def me(self) -> dict[str, Any]:
        """``GET /api/v1/me``."""
        return {
            "user": self.user,
            "name": self.name,
            "roles": sorted_roles(self.roles),
            "crew": self.crew,
        }

    def audit(self) -> dict[str, Any]:
        """What a journal entry's ``detail`` records of the caller."""
        return {"by": self.user, "by_name": self.name, "via": self.via.value, "via_id": self.via_id}


def sorted_roles(roles: Iterable[Role]) -> list[str]:
    have = set(roles)
    return [r.value for r in Role if r in have]


def role_token_principal(role: Role | str, name: str | None = None) -> Principal:
    """The caller behind a shared ``SITEWATCH_API_TOKENS`` token: a role, no person."""
    r = Role(role)
    return Principal(
        user=name or r.value, name=name or r.value, roles=frozenset({r}), crew=None, via=Via.TOKEN
    )


def may_move_ticket(
    principal: Principal, ticket_crew: str | None, ticket_assignee: str | None
) -> bool:
    """May ``principal`` change the status of a ticket of ``ticket_crew`` assigned to
    ``ticket_assignee``?"""
    if principal.has(*_ALL_TICKETS):
        return True
    if (
        ticket_assignee is not None
        and ticket_assignee == principal.user
        and principal.has(Role.TECHNICIAN, Role.LEAD)
    ):
        return True
    return (
        principal.has(Role.TECHNICIAN, Role.LEAD)
        and principal.crew is not None
        and ticket_crew == principal.crew
    )


def may_reassign(
    principal: Principal, ticket_crew: str | None, new_assignee_crew: str | None
) -> bool:
    """May ``principal`` (re)assign a ticket of ``ticket_crew`` to a member of
    ``new_assignee_crew``? A lead only within their own crew."""
    if principal.has(*_ALL_TICKETS):
        return True
    return (
        principal.has(Role.LEAD)
        and principal.crew is not None
        and ticket_crew == principal.crew
        and new_assignee_crew == principal.crew
    )


def check_move(
    principal: Principal,
    ticket_id: int | str,
    ticket_crew: str | None,
    ticket_assignee: str | None,
) -> None:
    """:class:`Forbidden` (403) unless :func:`may_move_ticket`."""
    if not may_move_ticket(principal, ticket_crew, ticket_assignee):
        raise Forbidden(
            f"{principal.user} may not move ticket {ticket_id}: it belongs to crew "
            f"{ticket_crew!r} and is not assigned to them"
        )


def check_reassign(
    principal: Principal,
    ticket_id: int | str,
    ticket_crew: str | None,
    new_assignee_crew: str | None,
) -> None:
    """:class:`Forbidden` (403) unless :func:`may_reassign`."""
    if not may_reassign(principal, ticket_crew, new_assignee_crew):
        raise Forbidden(
            f"{principal.user} may not reassign ticket {ticket_id} of crew {ticket_crew!r}"
            + (f" to a member of crew {new_assignee_crew!r}" if new_assignee_crew else "")
        )
