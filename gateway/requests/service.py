"""Requests from the people in the building: the zone's page, progress, the survey.

Life of a request::

    QR code on the wall ──> /r/{zone_token} ──> submit ──> ticket (source portal) ──> crew
                                                  │
                                                  └──> /p/{progress_token}: status, due
                                                        times; once resolved the survey
                                                        (once) ──> ticket.survey

:meth:`RequestService.submit` checks the zone token (404 when forged or retired), the
limits (at most 5 submissions a minute per address and per zone token: :class:`RateLimited`,
429 with ``Retry-After``) and the body, then creates the ticket through the ticket
service (routed like any person's request: ``repair`` without a device goes to
``repair_crew``; ``other`` is an ``enquiry``) and, **in the same transaction**, the
``portal_requests`` row holding the progress token's hash, the zone, the kind and the
contact. The contact (a phone number or an e-mail address) is kept off the ticket's public
object; the notifier uses an e-mail address to send a complaint's reply. The progress view
carries no ticket id, name or contact: only what the person told and plain status.

Key: ``portal_secret`` (comma-separated, the first signs: see ``gateway.requests.tokens``);
when it is empty, a random key is made once and kept in the state store (``portal_keys``),
so printed codes survive restarts.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from gateway.clock import Clock, iso_ms
from gateway.errors import DomainError, Invalid, NotFound
from gateway.requests.figures import request_figures
from gateway.requests.limits import SlidingWindow
from gateway.requests.tokens import ZoneTokens, new_progress_token, parse_keys, token_hash
from gateway.store import models as m
from gateway.store.db import reader
from gateway.tickets import TicketService
from gateway.tickets.feedback import survey_open
from gateway.tickets.model import SOURCE_PORTAL, Ticket, from_row
from gateway.tickets.store import TicketTx
from rules.site import Site
from rules.vocab import Priority, TicketCategory

#: what the page offers → the ticket's category
KIND_CATEGORY: Mapping[str, str] = {
    "cleaning": TicketCategory.CLEANING,
    "repair": TicketCategory.REPAIR,
    "security": TicketCategory.SECURITY,
    "complaint": TicketCategory.COMPLAINT,
    "enquiry": TicketCategory.ENQUIRY,
    "other": TicketCategory.ENQUIRY,
}
KINDS: tuple[str, ...] = tuple(KIND_CATEGORY)
KIND_PRIORITY: Mapping[str, str] = {"security": Priority.HIGH}
MAX_DESCRIPTION = 2000
CONTACT_RE = re.compile(r"^(?:\+?[0-9 ()-]{5,32}|[^@\s]{1,64}@[^@\s]{1,255})$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
PORTAL_USER = "requester"
_KEY_ROW = "zone"


class RateLimited(DomainError):
    """Too many submissions (HTTP 429); ``retry_after`` seconds until the next."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"too many requests: try again in {retry_after} s")


def portal_keys(engine: Engine, clock: Clock, configured: str | Sequence[str]) -> list[str]:
    """The configured keys, or the one kept in the state store (made at first start)."""
    keys = parse_keys(configured)
    if keys:
        return keys
    t = m.portal_keys
    with engine.begin() as conn:
        got = conn.execute(sa.select(t.c.secret).where(t.c.id == _KEY_ROW)).scalar()
        if got is None:
            got = secrets.token_urlsafe(32)
            conn.execute(sa.insert(t).values(id=_KEY_ROW, secret=got, created_at_ms=clock.now_ms()))
    return [str(got)]


def _clean(text: Any, limit: int, what: str) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > limit:
        raise Invalid(f"{what} is a text of at most {limit} characters")
    text = "".join(ch for ch in text if ch.isprintable() or ch in "\n\t").strip()
    return text or None


class RequestService:
    """Requests of one site (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        site: Site,
        tickets: TicketService,
        *,
        keys: Sequence[str],
        site_id: str | None = None,
        repair_crew: str = "electrical",
        limit: int = 5,
        window_s: float = 60.0,
        max_keys: int = 10_000,
    ) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._clock = clock
        self.site = site
        self.site_id = site_id or site.site
        self.tickets = tickets
        self.repair_crew = repair_crew
        self.tokens = ZoneTokens(keys, self.site_id, [z.id for z in site.zones])
        #: the site's photo store (``gateway.photos``), set by the site factory: a request
        #: may carry one photo, uploaded first through :meth:`upload_photo`
        self.photos: Any = None
        self.by_address = SlidingWindow(limit, window_s, max_keys)
        self.by_zone = SlidingWindow(limit, window_s, max_keys)

    # ------------------------------------------------------------------ the page
    def zone(self, zone_token: str) -> dict[str, Any]:
        """The zone a token names (:class:`NotFound` for a forged or retired one)."""
        zid = self.tokens.zone(zone_token)
        z = next((z for z in self.site.zones if z.id == zid), None) if zid else None
        if z is None:
            raise NotFound("no such request page")
        return {
            "zone": z.id,
            "name": z.name,
            "floor": z.floor,
            "site": self.site.name,
            "timezone": self.site.timezone,
        }

    def zone_links(self) -> list[dict[str, Any]]:
        """Every zone with its token (the printed QR codes)."""
        return [
            {"zone": z.id, "name": z.name, "floor": z.floor, "token": self.tokens.sign(z.id)}
            for z in self.site.zones
        ]

    def upload_photo(self, zone_token: str, data: bytes, *, address: str = "") -> dict[str, Any]:
        """A photo for a request of the zone (before it is sent): the same checks as every
        photo (413, 415, metadata stripped), the same limit per address and per zone code
        as submissions; it belongs to no one until a request claims it."""
        zone = self.zone(zone_token)
        if self.photos is None:
            raise NotFound("photos are not kept here")
        now = self._clock.monotonic()
        wait = max(
            self.by_address.retry_after(address, now), self.by_zone.retry_after(zone_token, now)
        )
        if wait:
            raise RateLimited(wait)
        self.by_address.hit(address, now)
        self.by_zone.hit(zone_token, now)
        meta: dict[str, Any] = self.photos.upload(data, _photo_owner(zone["zone"]))
        return meta

    def submit(
        self,
        zone_token: str,
        *,
        kind: str,
        description: str | None = None,
        contact: str | None = None,
        photo: str | None = None,
        address: str = "",
    ) -> str:
        """Create the request's ticket; returns the progress token (shown once)."""
        zone = self.zone(zone_token)
        now = self._clock.monotonic()
        wait = max(
            self.by_address.retry_after(address, now), self.by_zone.retry_after(zone_token, now)
        )
        if wait:
            raise RateLimited(wait)
        self.by_address.hit(address, now)  # every attempt counts, a refused one too
        self.by_zone.hit(zone_token, now)
        if kind not in KIND_CATEGORY:
            raise Invalid(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        text = _clean(description, MAX_DESCRIPTION, "description")
        who = _clean(contact, 128, "contact")
        if who is not None and not CONTACT_RE.match(who):
            raise Invalid("contact is a phone number or an e-mail address")
        if photo is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", photo):
            raise Invalid("photo is the id of an uploaded photo")
        token = new_progress_token()
        digest = token_hash(token)

        def store_request(ttx: TicketTx, t: Ticket) -> None:
            ttx.conn.execute(
                sa.insert(m.portal_requests).values(
                    ticket_id=t.tid,
                    zone=zone["zone"],
                    kind=kind,
                    token_hash=digest,
                    contact=who,
                    created_at_ms=ttx.now,
                )
            )
            if photo is not None:
                if self.photos is None:
                    raise Invalid("photos are not kept here")
                self.photos.claim(ttx.conn, [photo], _photo_owner(zone["zone"]), ticket_id=t.tid)

        self.tickets.create(
            title=f"{kind}: {zone['name']}",
            category=KIND_CATEGORY[kind],
            priority=KIND_PRIORITY.get(kind, Priority.MEDIUM),
            user=PORTAL_USER,
            description=text if photo is None else f"{text or ''}\n[photo {photo}]".strip(),
            source=SOURCE_PORTAL,
            channel=SOURCE_PORTAL,
            zone=zone["zone"],
            repair_crew=self.repair_crew,
            then=store_request,
        )
        return token

    # ---------------------------------------------------------------- progress
    def _find(self, progress_token: str) -> tuple[dict[str, Any], Ticket]:
        if not 16 <= len(progress_token) <= 64:
            raise NotFound("no such request")
        pr, t = m.portal_requests, m.tickets
        with self._reader.connect() as conn:
            row = (
                conn.execute(sa.select(pr).where(pr.c.token_hash == token_hash(progress_token)))
                .mappings()
                .first()
            )
            if row is None:
                raise NotFound("no such request")
            trow = conn.execute(sa.select(t).where(t.c.id == row["ticket_id"])).mappings().first()
        if trow is None:
            raise NotFound("no such request")
        return dict(row), from_row(trow)

    def progress(self, progress_token: str) -> dict[str, Any]:
        """What the person sees (contract section 9), and a little more in plain terms."""
        req, t = self._find(progress_token)
        return {
            "status": t.status,
            "kind": req["kind"],
            "zone": req["zone"],
            "timezone": self.site.timezone,
            "created_at": iso_ms(t.created_at_ms),
            "resolve_by": iso_ms(t.resolve_by_ms),
            "resolved_at": iso_ms(t.resolved_at_ms),
            "reply_by": iso_ms(t.reply_by_ms),
            "reply": (t.reply or {}).get("text"),
            "description": t.description,
            "survey_open": survey_open(t),
            "surveyed": t.survey is not None,
        }

    def survey(self, progress_token: str, answers: Mapping[str, Any]) -> dict[str, Any]:
        """Record the survey once (``Conflict`` 409 after, or before it is resolved)."""
        req, t = self._find(progress_token)
        self.tickets.record_survey(t.tid, answers)
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(m.portal_requests)
                .where(m.portal_requests.c.id == req["id"])
                .values(surveyed_at_ms=self._clock.now_ms())
            )
        return self.progress(progress_token)

    def figures(self, days: float = 30.0) -> dict[str, Any]:
        """The figures of ``gateway.requests.figures`` over the last ``days``."""
        return request_figures(self._reader, self._clock.now_ms(), days)

    def contact_of(self, ticket_id: int) -> str | None:
        pr = m.portal_requests
        with self._reader.connect() as conn:
            got = conn.execute(sa.select(pr.c.contact).where(pr.c.ticket_id == ticket_id)).scalar()
        return None if got is None else str(got)


def _photo_owner(zone: str) -> str:
    """Who uploaded a request page's photo: the page of that zone (no person signs in)."""
    return f"portal:{zone}"
