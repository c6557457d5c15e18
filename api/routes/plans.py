"""Maintenance plans: every role reads them; managers (and admins) make them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from api.auth import require
from api.deps import CurrentUser
from api.routes.assets import MaintenanceDep
from api.schemas import Page
from api.schemas_maintenance import PlanCreate, PlanPublic
from gateway.people import Principal
from rules.vocab import Role

router = APIRouter(prefix="/api/v1/plans", tags=["maintenance"])

Manager = Annotated[Principal, require(Role.MANAGER)]


@router.get("", response_model=Page[PlanPublic])
async def list_plans(pm: MaintenanceDep, user: CurrentUser) -> dict[str, Any]:
    """Every plan (the site file's and the API's), with the assets it resolves to."""
    items = pm.plans()
    return {"items": items, "total": len(items)}


@router.post("", status_code=201, response_model=PlanPublic)
async def create_plan(body: PlanCreate, pm: MaintenanceDep, user: Manager) -> dict[str, Any]:
    """A plan; 409 for an id in use, 422 for a crew or asset the site does not have."""
    return pm.add_plan(body.model_dump(mode="json", exclude_none=True), user.user)
