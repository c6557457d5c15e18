"""``GET /healthz`` and ``GET /metrics``: open to anyone (monitoring systems)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(rt: RuntimeDep) -> dict[str, Any]:
    return rt.health()


@router.get("/metrics")
def metrics(rt: RuntimeDep) -> Response:
    rt.refresh_gauges()
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)
