"""The request page of a zone and the private progress link (contract section 9): no
sign-in, so every route here guards itself.

- ``GET /r/{zone_token}``: the page (``api/static/portal.html``), in Chinese or English;
  with ``Accept: application/json`` the zone it is for. A forged or retired token is 404.
- ``POST /r/{zone_token}`` ``{"kind", "description"?, "contact"?, "photo"?}`` → 201
  ``{"progress_url": "/p/<token>"}``; 429 with ``Retry-After`` after 5 submissions in a
  minute from one address or for one zone token; a body over :data:`MAX_BODY` bytes is
  413 before it is read further (:class:`BoundedRoute`).
- ``GET /p/{progress_token}``: JSON with ``Accept: application/json`` (status in plain
  words, due time, whether the survey is open), the page otherwise; an unknown token is
  404 (the same answer for every wrong token: nothing to list or guess).
- ``POST /p/{progress_token}/survey``: the four scores and a comment, once (409 after).
- ``POST /r/{zone_token}/photo`` (multipart ``file``) → 201 ``{"id"}``: the request's photo,
  checked like every photo (413, 415, metadata stripped) and attached to the ticket when the
  request naming it is sent; only staff with rights to the ticket see it.

Texts are stored and shown as text: the page sets them with ``textContent``, and the
strict Content-Security-Policy (``api.middleware``) allows no inline script.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from api.routes.photos import read_upload
from api.routes.ui import ASSETS
from api.schemas_requests import PortalCreated, PortalRequest, PortalZone, Progress, Survey
from api.schemas_rounds import PhotoCreated
from gateway.errors import NotFound
from gateway.photos import PhotoRejected
from gateway.requests import RateLimited, RequestService

MAX_BODY = 16 * 1024
PAGE = "portal.html"


class BoundedRoute(APIRoute):
    """A route whose request body may not exceed :data:`MAX_BODY` bytes (413), checked on
    ``Content-Length`` and, for a chunked body, while it is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            if request.method in ("POST", "PUT", "PATCH"):
                length = request.headers.get("content-length")
                too_big = JSONResponse({"detail": "request body too large"}, status_code=413)
                if length is not None:
                    if not length.isdigit() or int(length) > MAX_BODY:
                        return too_big
                else:
                    body = b""
                    async for chunk in request.stream():
                        body += chunk
                        if len(body) > MAX_BODY:
                            return too_big
                    request._body = body  # starlette reads the body from here from now on
            return await handler(request)

        return bounded


router = APIRouter(tags=["requests"], route_class=BoundedRoute)
#: the request page's photo upload (a body of up to 10 MB, so not bounded like the rest)
photo_router = APIRouter(tags=["requests"])


def _service(request: Request) -> RequestService:
    services = getattr(request.app.state.runtime, "services", None)
    svc: RequestService | None = getattr(services, "requests", None)
    if svc is None:
        raise NotFound("the request page is not running")
    return svc


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def _page(request: Request, status_code: int = 200) -> Response:
    resp = await ASSETS.get_response(PAGE, request.scope)
    resp.status_code = status_code
    resp.headers["Cache-Control"] = "no-store"
    return resp


@router.get("/r/{zone_token}", response_model=PortalZone)
async def request_page(zone_token: str, request: Request) -> Any:
    """The zone's request page (or, as JSON, the zone it is for)."""
    svc = _service(request)
    if _wants_json(request):
        return svc.zone(zone_token)
    try:
        svc.zone(zone_token)
    except NotFound:
        return await _page(request, 404)
    return await _page(request)


@router.post("/r/{zone_token}", status_code=201, response_model=PortalCreated)
async def submit(zone_token: str, body: PortalRequest, request: Request) -> Any:
    """Send a request: a ticket routed to its crew; the answer's link shows its progress."""
    svc = _service(request)
    try:
        token = svc.submit(
            zone_token,
            kind=body.kind,
            description=body.description,
            contact=body.contact,
            photo=body.photo,
            address=request.client.host if request.client else "",
        )
    except RateLimited as exc:
        return JSONResponse(
            {"detail": exc.detail()},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return {"progress_url": f"/p/{token}"}


@router.get("/p/{progress_token}", response_model=Progress)
async def progress(progress_token: str, request: Request) -> Any:
    """The request's progress (JSON), or the page that shows it."""
    svc = _service(request)
    if _wants_json(request):
        return JSONResponse(svc.progress(progress_token), headers={"Cache-Control": "no-store"})
    try:
        svc.progress(progress_token)
    except NotFound:
        return await _page(request, 404)
    return await _page(request)


@router.post("/p/{progress_token}/survey", response_model=Progress)
async def survey(progress_token: str, body: Survey, request: Request) -> Any:
    """Answer the survey once the request is resolved; once only (409 after)."""
    return _service(request).survey(progress_token, body.model_dump())


@photo_router.post("/r/{zone_token}/photo", status_code=201, response_model=PhotoCreated)
async def upload_photo(zone_token: str, request: Request) -> Any:
    """A photo for a request of this zone (multipart, field ``file``): 413 above 10 MB, 415
    for what is not an image by content, 404 for a forged code, 429 like submissions. Its
    ``id`` goes into the request's ``photo``."""
    svc = _service(request)
    svc.zone(zone_token)  # a forged code: 404 before anything is read
    data = await read_upload(request)
    try:
        return svc.upload_photo(
            zone_token, data, address=request.client.host if request.client else ""
        )
    except RateLimited as exc:
        return JSONResponse(
            {"detail": exc.detail()},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except PhotoRejected as exc:
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status)
