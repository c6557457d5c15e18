"""The control-room page: ``/`` and its assets under ``/static/``, plus a small read it
needs: ``GET /api/v1/site`` (zones and devices; who is calling, ``GET /api/v1/me``, is in
``api.routes.auth``).

Every asset ships inside the package (``api/static``): no CDN, no build step. The files
are served by Starlette's ``StaticFiles`` (:data:`ASSETS`, mounted at ``/static`` by
``api.main``): each carries an ``ETag`` and ``Cache-Control: no-cache``, so the browser
revalidates on every load and gets ``304 Not Modified`` while the file is unchanged (a
new release never runs stale code). Dot-files are never served. The security headers
(the strict Content-Security-Policy among them) come from ``api.middleware`` on every
response.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope

from api.deps import CurrentUser, RuntimeDep
from api.schemas import SiteLayout

router = APIRouter(tags=["ui"])

#: the media types of the page's assets (not left to the host's mime.types)
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
}


def static_root() -> Path:
    return Path(__file__).resolve().parent.parent / "static"


class Assets(StaticFiles):
    """``StaticFiles`` with fixed media types, ``Cache-Control: no-cache`` and no
    dot-files."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        if any(part.startswith(".") and part != "." for part in Path(path).parts):
            return "", None
        return super().lookup_path(path)

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        media = TYPES.get(Path(full_path).suffix.lower())
        response = FileResponse(
            full_path, status_code=status_code, stat_result=stat_result, media_type=media
        )
        response.headers["Cache-Control"] = "no-cache"
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


ASSETS = Assets(directory=static_root())


@router.get("/", include_in_schema=False)
async def index(request: Request) -> Response:
    return await ASSETS.get_response("index.html", request.scope)


@router.get("/index.html", include_in_schema=False)
async def index_html() -> RedirectResponse:
    return RedirectResponse("/", status_code=308)


@router.get("/api/v1/site", response_model=SiteLayout)
async def site(rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
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
