"""Figures: alarm management (EEMUA 191 / ISA-18.2) and maintenance (tickets)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentUser, RuntimeDep
from api.routes.assets import maintenance_of
from api.schemas import Kpis
from gateway.rounds.wiring import rounds_of

router = APIRouter(prefix="/api/v1", tags=["kpis"])


@router.get("/kpis", response_model=Kpis)
async def kpis(
    rt: RuntimeDep,
    user: CurrentUser,
    days: Annotated[float, Query(gt=0, le=366, description="maintenance period, days")] = 30,
) -> dict[str, Any]:
    """Alarm figures over the last 24 h, maintenance figures over ``days``; a part is
    null while its service is not running."""
    alarms = getattr(rt, "alarms", None)
    tickets = getattr(rt, "tickets", None)
    pm = maintenance_of(rt)
    preventive = pm.figures(days=days) if pm is not None else None
    requests = getattr(getattr(rt, "services", None), "requests", None)
    people = requests.figures(days) if requests is not None else None
    rounds = rounds_of(rt)
    inspection = rounds.figures(days) if rounds is not None else None
    return {
        "alarms": alarms.kpis() if alarms is not None else None,
        "maintenance": tickets.kpis(days=days) if tickets is not None else None,
        # preventive maintenance (contract section 7), over the same ``days``
        "pm_compliance_pct": preventive["pm_compliance_pct"] if preventive else None,
        "planned_pct": preventive["planned_pct"] if preventive else None,
        "pm_overdue": preventive["pm_overdue"] if preventive else None,
        "preventive": preventive,
        # requests from people (contract section 9), over the same ``days``
        "satisfaction": people["satisfaction"] if people else None,
        "over_standard_time_pct": people["over_standard_time_pct"] if people else None,
        "requests": people,
        # inspection rounds (contract section 8), over the same ``days``
        "rounds": inspection["rounds"] if inspection else None,
        "inspection_fail_pct": (
            {z: v["fail_pct"] for z, v in inspection["by_zone"].items()} if inspection else None
        ),
        "inspection": inspection,
    }
