"""The FastAPI application: small routers under ``api/routes``, one runtime in ``app.state``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.routes import alarms, devices, health, kpis, tickets, ui

if TYPE_CHECKING:
    from gateway.app import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="sitewatch",
        version="0.1.0",
        description="Building IoT monitoring and automated dispatch gateway",
    )
    app.state.runtime = runtime

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail: Any = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": detail}, status_code=422)

    app.include_router(health.router)
    app.include_router(devices.router)
    app.include_router(alarms.router)
    app.include_router(tickets.router)
    app.include_router(kpis.router)
    app.include_router(ui.router)
    for extra in runtime.extra_routers():
        app.include_router(extra)
    return app
