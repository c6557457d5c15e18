"""Assets: every device of the site and the plant without telemetry, with history.

Every role reads. The maintenance service is the running site's
(``runtime.maintenance``, else ``runtime.services.maintenance``); 503 while there is none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status

from api.deps import CurrentUser
from api.schemas import Page
from api.schemas_maintenance import AssetDetail, AssetPublic, CalendarPublic
from rules.vocab import ID_PATTERN

if TYPE_CHECKING:
    from gateway.maintenance import MaintenanceService

router = APIRouter(prefix="/api/v1", tags=["maintenance"])


def maintenance_of(runtime: Any) -> MaintenanceService | None:
    svc = getattr(runtime, "maintenance", None)
    if svc is None:
        svc = getattr(getattr(runtime, "services", None), "maintenance", None)
    return svc


async def get_maintenance(request: Request) -> MaintenanceService:
    svc = maintenance_of(request.app.state.runtime)
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "maintenance not running")
    return svc


MaintenanceDep = Annotated["MaintenanceService", Depends(get_maintenance)]
AssetId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$")]


@router.get("/assets", response_model=Page[AssetPublic])
async def list_assets(pm: MaintenanceDep, user: CurrentUser) -> dict[str, Any]:
    """Every asset with its meters."""
    items = pm.assets()
    return {"items": items, "total": len(items)}


@router.get("/assets/{asset_id}", response_model=AssetDetail)
async def get_asset(asset_id: AssetId, pm: MaintenanceDep, user: CurrentUser) -> dict[str, Any]:
    """One asset: its tickets newest first, meters and their daily readings, cost to date."""
    return pm.asset(asset_id)


@router.get("/maintenance/calendar", response_model=CalendarPublic)
async def calendar(
    pm: MaintenanceDep,
    user: CurrentUser,
    days: Annotated[float, Query(gt=0, le=366)] = 90,
) -> dict[str, Any]:
    """Occurrences due in the next ``days`` (90) and the preventive work overdue."""
    return pm.calendar(days)
