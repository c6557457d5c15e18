"""Domain errors, one family for every service (alarms, tickets and those to come).

The HTTP layer maps them in one exception handler: :class:`NotFound` → 404,
:class:`Conflict` → 409 (a move the object's life does not allow), :class:`Invalid` →
422 (a request that names something that cannot be), :class:`Forbidden` → 403 (the
person may not do this to this object). ``detail()`` is what the client is shown.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    def detail(self) -> Any:
        """What the HTTP client is shown as ``{"detail": ...}``."""
        return str(self)


class NotFound(DomainError, LookupError):
    """No such object (HTTP 404)."""


class Conflict(DomainError):
    """The object's state does not allow this (HTTP 409)."""


class Invalid(DomainError, ValueError):
    """The request is well-formed but cannot be carried out (HTTP 422)."""


class Forbidden(DomainError):
    """This person may not do this to this object (HTTP 403)."""
