"""The control-room page: ``/`` and its assets under ``/static/``, plus two small reads it
needs: ``GET /api/v1/me`` (who the token is) and ``GET /api/v1/site`` (zones and devices).

Every asset ships inside the package (``api/static``): no CDN, no build step. The page and
its assets carry a strict Content-Security-Policy: scripts and styles only from this
origin, no inline script, no plugins, no framing.
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

from api.deps import CurrentUser, RuntimeDep

router = APIRouter(tags=["ui"])

CSP = (
    "default-src 'none'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self'; "
    "media-src 'none'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}


def static_root() -> Traversable:
    return resources.files("api").joinpath("static")


def _asset(path: str) -> Traversable:
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") or p.startswith(".") or "\\" in p for p in parts):
        raise HTTPException(404, "no such asset")
    node = static_root()
    for p in parts:
        node = node.joinpath(p)
    if not node.is_file():
        raise HTTPException(404, "no such asset")
    return node


def _serve(path: str, cache: str) -> Response:
    node = _asset(path)
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    media = TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
    headers = dict(SECURITY_HEADERS)
    headers["Cache-Control"] = cache
    return Response(node.read_bytes(), media_type=media, headers=headers)


@router.get("/", include_in_schema=False)
def index() -> Response:
    return _serve("index.html", "no-cache")


@router.get("/index.html", include_in_schema=False)
def index_html() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)


@router.get("/static/{path:path}", include_in_schema=False)
def static(path: str) -> Response:
    # revalidated each load (ETag-free, small files): a new release never runs stale code
    return _serve(path, "no-cache")


@router.get("/api/v1/me")
def me(user: CurrentUser) -> dict[str, Any]:
    """Who the token belongs to: the page shows only what this role may do."""
    return {"role": user.role, "name": user.name}


@router.get("/api/v1/site")
def site(rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    """The site's layout for the building view: zones with their devices (names from the
    site file; devices registered on their first message join their zone, or none), and
    the crews with their members' names (no phone numbers)."""
    s = rt.site
    zones: list[dict[str, Any]] = [
        {"id": z.id, "name": z.name, "floor": z.floor, "devices": []} for z in s.zones
    ]
    by_zone = {z["id"]: z for z in zones}
    unzoned: list[dict[str, Any]] = []
    for st in sorted(rt.registry.devices.values(), key=lambda d: (d.system, d.id)):
        d = {"id": st.id, "name": st.name, "system": st.system, "type": st.type}
        target = by_zone.get(st.zone) if st.zone else None
        (target["devices"] if target is not None else unzoned).append(d)
    return {
        "site": rt.site_id,
        "name": s.name,
        "timezone": s.timezone,
        "zones": zones,
        "unzoned": unzoned,
        "crews": [
            {
                "id": c.id,
                "name": c.name,
                "lead": c.lead,
                "members": [{"id": m.id, "name": m.name} for m in c.members],
            }
            for c in s.crews
        ],
    }
