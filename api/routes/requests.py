"""The staff side of people's requests: complaint replies, notification profiles, the
browser's feed and the zones' printable links.

- ``POST /api/v1/tickets/{id}/reply`` ``{"text"}`` (operator, technician, lead, manager):
  the written reply to a complaint; a complaint cannot be ``closed`` without it (409).
- ``GET``/``PUT /api/v1/me/notify``: the signed-in person's channels (e-mail, chat
  webhooks of WeCom, DingTalk, Feishu, Slack, Teams; browser notifications). Webhook URLs
  carry their group's key: they are shown back masked.
- ``GET /api/v1/me/notifications?after=ID``: the browser channel's feed (the phone page
  polls it while open and shows each item as a browser notification).
- ``GET /api/v1/requests/zones`` (operator, manager): each zone's request page link (what
  ``sitewatch requests qr`` prints).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import require
from api.deps import CurrentUser, TicketsDep
from api.schemas import IdPath, Offset, TicketPublic
from api.schemas_requests import (
    ComplaintReply,
    NotificationPage,
    NotifyProfileIn,
    NotifyProfileOut,
    ZoneLinks,
)
from gateway.errors import NotFound
from gateway.notify import Notifier
from gateway.people import Principal
from rules.vocab import Role

router = APIRouter(tags=["requests"])

Replier = Annotated[Principal, require(Role.OPERATOR, Role.TECHNICIAN, Role.LEAD, Role.MANAGER)]
Planner = Annotated[Principal, require(Role.OPERATOR, Role.MANAGER)]


def _services(request: Request) -> Any:
    services = getattr(request.app.state.runtime, "services", None)
    if services is None or getattr(services, "notifier", None) is None:
        raise NotFound("notifications are not running")
    return services


@router.post("/api/v1/tickets/{ticket_id}/reply", response_model=TicketPublic)
async def reply(
    ticket_id: IdPath, body: ComplaintReply, tickets: TicketsDep, user: Replier
) -> dict[str, Any]:
    """Record the written reply to a complaint (sent on by e-mail where the complainant
    left an address)."""
    return tickets.reply(ticket_id, body.text, user.user, principal=user)


@router.get("/api/v1/me/notify", response_model=NotifyProfileOut)
async def get_profile(request: Request, user: CurrentUser) -> dict[str, Any]:
    notifier: Notifier = _services(request).notifier
    return notifier.profiles.public(notifier.profiles.get(user.user))


@router.put("/api/v1/me/notify", response_model=NotifyProfileOut)
async def put_profile(body: NotifyProfileIn, request: Request, user: CurrentUser) -> dict[str, Any]:
    """Choose one's channels; every field is replaced."""
    notifier: Notifier = _services(request).notifier
    p = notifier.profiles.set(
        user.user,
        email=body.email,
        chats=[c.model_dump() for c in body.chats],
        browser=body.browser,
    )
    return notifier.profiles.public(p)


@router.get("/api/v1/me/notifications", response_model=NotificationPage)
async def notifications(
    request: Request,
    user: CurrentUser,
    after: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    items = _services(request).notifier.feed(user.user, after, limit)
    return {"items": items, "total": len(items)}


@router.get("/api/v1/requests/zones", response_model=ZoneLinks)
async def zones(request: Request, user: Planner) -> dict[str, Any]:
    """Each zone's request page (relative to ``public_url`` when set)."""
    services = _services(request)
    base = getattr(getattr(request.app.state.runtime, "settings", None), "public_url", "")
    items = [{**z, "url": f"{base}/r/{z['token']}"} for z in services.requests.zone_links()]
    return {"items": items, "total": len(items)}
