"""Rows that hold a spec written in the site file or through the API (maintenance plans,
round templates): one ``id``, its ``source`` (``site`` or ``api``), the ``spec`` as JSON,
``anchor_ms`` (when it was first seen: schedules count from there) and who made it when.

:func:`sync_site_specs` makes the table agree with the site file at start: new specs are
inserted, changed ones updated, and site specs no longer in the file removed (those made
through the API stay); :func:`add_api_spec` adds one made through the API. Both run in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Conflict

SITE = "site"
API = "api"


def sync_site_specs(
    conn: Connection,
    table: sa.Table,
    wanted: Mapping[str, dict[str, Any]],
    now_ms: int,
    *,
    on_change: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None,
    on_remove: Callable[[str], None] | None = None,
) -> None:
    """``wanted``: the site file's specs by id. ``on_change(id, old, new)`` runs after a
    spec is updated, ``on_remove(id)`` before a site spec is deleted (its own rows first)."""
    t = table
    have = {r.id: r for r in conn.execute(sa.select(t.c.id, t.c.source, t.c.spec))}
    for sid, spec in wanted.items():
        old = have.get(sid)
        if old is None:
            conn.execute(
                sa.insert(t).values(
                    id=sid,
                    source=SITE,
                    spec=spec,
                    anchor_ms=now_ms,
                    created_by=SITE,
                    created_at_ms=now_ms,
                    updated_at_ms=now_ms,
                )
            )
        elif old.spec != spec:
            conn.execute(
                sa.update(t)
                .where(t.c.id == sid)
                .values(spec=spec, source=SITE, updated_at_ms=now_ms)
            )
            if on_change is not None:
                on_change(sid, old.spec, spec)
    for sid, old in have.items():
        if old.source == SITE and sid not in wanted:
            if on_remove is not None:
                on_remove(sid)
            conn.execute(sa.delete(t).where(t.c.id == sid))


def add_api_spec(
    conn: Connection,
    table: sa.Table,
    sid: str,
    spec: dict[str, Any],
    user: str,
    now_ms: int,
    what: str,
) -> None:
    """A spec made through the API; :class:`Conflict` when the id is taken."""
    t = table
    if conn.execute(sa.select(t.c.id).where(t.c.id == sid)).first() is not None:
        raise Conflict(f"{what} {sid!r} exists already")
    conn.execute(
        sa.insert(t).values(
            id=sid,
            source=API,
            spec=spec,
            anchor_ms=now_ms,
            created_by=user,
            created_at_ms=now_ms,
            updated_at_ms=now_ms,
        )
    )
