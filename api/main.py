"""The FastAPI application: small routers under ``api/routes``, one runtime in ``app.state``.

Life: the runtime (``gateway.runtime.Runtime``) builds the app with :func:`create_app` and
serves it on its own event loop; every route is ``async`` and reads the runtime from
``app.state.runtime``. Errors are mapped in ``api.errors``, security headers added by
``api.middleware`` (around everything, the 500 page included), shapes declared in
``api.schemas`` (``/openapi.json``), the documentation page served from here by
``api.docs`` (``/docs``, no CDN; no ``/redoc``). How many clients the server holds is
``api.server``'s: the app carries the ``uvicorn.Config`` keyword arguments for its
runtime's settings in ``app.state.server_options``, for whoever serves it. In a cluster,
a request for a site another process owns is forwarded to it (:class:`SitePaths`,
``gateway.cluster.forward``): any process answers for every site.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api import docs, errors
from api.middleware import SecuredFastAPI
from api.routes import (
    alarms,
    assets,
    auth,
    devices,
    figures,
    health,
    keys,
    kpis,
    photos,
    plans,
    portal,
    requests,
    rounds,
    tickets,
    ui,
    users,
)
from api.server import server_options, setting
from gateway.cluster.forward import Forwarder

if TYPE_CHECKING:
    from gateway.runtime import Runtime

ROUTERS = (
    health.router,
    auth.router,
    users.router,
    keys.router,
    devices.router,
    alarms.router,
    tickets.router,
    assets.router,
    plans.router,
    kpis.router,
    figures.router,
    portal.router,
    portal.photo_router,
    requests.router,
    rounds.router,
    photos.router,
    ui.router,
)


_SITE_PATH = re.compile(r"^/api/v1/sites/([A-Za-z0-9_.-]{1,64})(/.*)?$")


class SitePaths:
    """``/api/v1/sites/{site}/...`` is ``/api/v1/...`` answered for that site (contract
    §12). A process serving several sites (``gateway.multisite.Host``: ``site_runtime``)
    answers with an app of that site's runtime (made on first use, one per runtime), an
    unknown site is 404. A site served by another process of the cluster (the host has
    ``leases``) is forwarded to its owner (``gateway.cluster.forward``: 503 with
    ``Retry-After`` while it has none), and so is every other ``/api/v1/...`` route (the
    single-site routes mean the first site) while the first site is served elsewhere:
    behind a load balancer every process gives the same answers. Without leases (one
    process) such a site is 503. A single-site runtime answers for its own site only."""

    def __init__(self, app: Any, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime
        self._apps: dict[str, tuple[Any, Any]] = {}  # site -> (its runtime, its app)
        leases = getattr(runtime, "leases", None) if hasattr(runtime, "site_runtime") else None
        self.forwarder: Forwarder | None = None
        if leases is not None:
            limit = setting(getattr(runtime, "settings", None), "http_max_connections")
            self.forwarder = Forwarder(leases, max_connections=int(limit))

    def _site_app(self, site: str, sub: Any) -> Any:
        cached = self._apps.get(site)
        if cached is None or cached[0] is not sub:  # a new runtime after a takeover
            cached = self._apps[site] = (sub, create_app(sub))
        return cached[1]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        m = _SITE_PATH.match(path)
        rt, fwd = self.runtime, self.forwarder
        pick = getattr(rt, "site_runtime", None)
        if m is None:
            first = next(iter(rt.sites), None) if fwd is not None else None
            if fwd is not None and first is not None and path.startswith("/api/v1/"):
                if rt.site_runtime(first) is None:  # the single-site routes: the first site
                    await fwd(scope, receive, send, first)
                    return
            await self.app(scope, receive, send)
            return
        site, rest = m.group(1), m.group(2) or "/"
        known = site in rt.sites if pick is not None else site == getattr(rt, "site_id", None)
        if not known:
            await JSONResponse({"detail": f"no site {site} here"}, 404)(scope, receive, send)
            return
        app = self.app
        if pick is not None:
            sub = pick(site)
            if sub is None and fwd is not None:
                await fwd(scope, receive, send, site)
                return
            if sub is None:
                detail = f"site {site} is served by another process"
                await JSONResponse({"detail": detail}, 503)(scope, receive, send)
                return
            app = self._site_app(site, sub)
        path = "/api/v1" + rest
        await app({**scope, "path": path, "raw_path": path.encode()}, receive, send)


def create_app(runtime: Runtime) -> FastAPI:
    app = SecuredFastAPI(
        title="sitewatch",
        version="0.1.0",
        description="Building IoT monitoring and automated dispatch gateway",
        docs_url=None,  # FastAPI's pages load Swagger UI / ReDoc from a CDN: api.docs
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.server_options = server_options(getattr(runtime, "settings", None))
    errors.install(app)
    docs.install(app)
    for router in (*ROUTERS, *runtime.extra_routers()):
        app.include_router(router)
    app.mount("/static", ui.ASSETS, name="static")
    app.add_middleware(SitePaths, runtime=runtime)
    return app
