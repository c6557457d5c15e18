"""``GET /healthz`` and ``GET /metrics``: open to anyone (monitoring systems)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz(rt: RuntimeDep) -> dict[str, Any]:
    """``ok``, or ``degraded`` while a broker link or the time-series store is down."""
    return rt.health()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(rt: RuntimeDep) -> Response:
    """Prometheus text format."""
    rt.refresh_gauges()
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
