"""Figures: alarm management (EEMUA 191 / ISA-18.2) and maintenance (tickets)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["kpis"])


@router.get("/kpis")
def kpis(
    rt: RuntimeDep,
    user: CurrentUser,
    days: Annotated[float, Query(gt=0, le=366, description="maintenance period, days")] = 30,
) -> dict[str, Any]:
    alarms = rt.alarms.kpis() if rt.alarms is not None else None
    tickets = getattr(rt, "tickets", None)
    maintenance = tickets.kpis(days=days) if tickets is not None else None
    return {"alarms": alarms, "maintenance": maintenance}
