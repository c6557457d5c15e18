"""The FastAPI application: small routers under ``api/routes``, one runtime in ``app.state``.

Life: the runtime (``gateway.runtime.Runtime``) builds the app with :func:`create_app` and
serves it on its own event loop; every route is ``async`` and reads the runtime from
``app.state.runtime``. Errors are mapped in ``api.errors``, security headers added by
``api.middleware`` (around everything, the 500 page included), shapes declared in
``api.schemas`` (``/openapi.json``), the documentation page served from here by
``api.docs`` (``/docs``, no CDN; no ``/redoc``). How many clients the server holds is
``api.server``'s: the app carries the ``uvicorn.Config`` keyword arguments for its
runtime's settings in ``app.state.server_options``, for whoever serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

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
from api.server import server_options

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
    requests.router,
    rounds.router,
    photos.router,
    ui.router,
)


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
    return app
