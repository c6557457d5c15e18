"""Who did it, in the journal: the caller's facts an entry records, and how they read back.

A service that acts for a person takes ``audit``, the :meth:`Principal.audit` mapping
(``by`` user id, ``by_name``, ``via`` session/key/token/oidc, ``via_id`` the session or
key id), and merges it into the journal entry's ``detail`` (:func:`audit_detail`) while
the entry's actor stays the user id. Reading back, :func:`with_by` gives every entry
top-level ``by`` and ``by_name`` (the actor and, when recorded, the person's name; the
gateway's own entries are ``system``). Nothing secret is ever part of it: ``via_id``
names a session or key by its public id, never by its token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

AUDIT_KEYS = ("by", "by_name", "via", "via_id")
#: what a service is handed: ``Principal.audit()``
Audit = Mapping[str, Any]


def audit_detail(audit: Audit | None, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``detail`` with the caller's facts of ``audit`` added (only the known keys)."""
    out = dict(detail or {})
    for key in AUDIT_KEYS:
        value = (audit or {}).get(key)
        if value is not None:
            out[key] = value
    return out


def with_by(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Journal entries (``gateway.store.journal.public``) with ``by`` and ``by_name``."""
    out = []
    for e in entries:
        detail = e.get("detail") or {}
        by = e.get("user")
        out.append({**e, "by": by, "by_name": detail.get("by_name") or by})
    return out
