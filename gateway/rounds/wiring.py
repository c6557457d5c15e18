"""How a site's rounds and photos are built and found: one place for the site factory.

:func:`build_rounds` makes the site's :class:`~gateway.photos.Photos` (a
:class:`~gateway.photos.FolderStore` in :func:`photos_dir`) and its
:class:`~gateway.rounds.RoundService` over the site's state store and ticket service,
telling crew leads of missed rounds through the notifier's channels when there is one.
:func:`rounds_of` finds a running site's service (``services.rounds``), building it on
first use when the site factory has not (reads catch up on the schedule by themselves,
so such a site still flags missed rounds; its tick makes that prompt).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection, make_url

from gateway.clock import Clock
from gateway.photos import FolderStore, Photos
from gateway.rounds.findings import Opener
from gateway.rounds.service import RoundService, Tell
from rules.site import Site

log = logging.getLogger("sitewatch.rounds")


def photos_dir(settings: Any) -> Path:
    """``settings.photos_dir`` when set; else ``photos/`` beside a SQLite state store;
    else ``./photos``."""
    configured = getattr(settings, "photos_dir", None)
    if configured:
        return Path(configured)
    try:
        url = make_url(str(getattr(settings, "db_url", "") or ""))
    except Exception:  # noqa: BLE001 - not a URL: the default
        return Path("photos")
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "photos"
    return Path("photos")


def notifier_tell(notifier: Any) -> Tell | None:
    """The notifier's channels (e-mail, chat, the phone page's feed) as a :data:`Tell`."""
    send = getattr(notifier, "_send", None)
    if send is None:
        return None
    from gateway.notify.chat import Notice

    def tell(conn: Connection, people: list[str], title: str, lines: list[str], now: int) -> None:
        send(conn, people, Notice(title=title, lines=tuple(lines)), now, limited=False)

    return tell


def build_rounds(
    settings: Any,
    site: Site,
    clock: Clock,
    db: Engine,
    *,
    tickets: Opener,
    notifier: Any = None,
    site_id: str | None = None,
) -> RoundService:
    photos = Photos(db, FolderStore(photos_dir(settings)), clock, site_id or site.site)
    return RoundService(db, site, clock, tickets, photos, tell=notifier_tell(notifier))


def rounds_of(runtime: Any) -> RoundService | None:
    """The running site's rounds (``None`` while it has no state store or tickets)."""
    svc = getattr(runtime, "rounds", None)
    if isinstance(svc, RoundService):
        return svc
    services = getattr(runtime, "services", None)
    if services is None:
        return None
    svc = getattr(services, "rounds", None)
    if svc is None:
        db, tickets = getattr(services, "db", None), getattr(services, "tickets", None)
        if db is None or tickets is None:
            return None
        svc = build_rounds(
            getattr(runtime, "settings", None),
            services.site,
            runtime.clock,
            db,
            tickets=tickets,
            notifier=getattr(services, "notifier", None),
            site_id=getattr(services, "site_id", None),
        )
        services.rounds = svc
        log.info("rounds built on first use (the site factory does not build them)")
    return svc
