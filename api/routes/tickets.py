"""Tickets: list, detail with journal, raise one (people), move one along its life."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.deps import CurrentUser, OperatorOrTechnician, RuntimeDep

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])

Status = Literal["open", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"]
Category = Literal["repair", "cleaning", "security", "complaint", "enquiry"]
Priority = Literal["critical", "high", "medium", "low"]


class TicketCreate(BaseModel):
    title: str = Field(min_length=1, max_length=256)
    category: Category
    priority: Priority
    device: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=4000)


class TicketTransition(BaseModel):
    to: Status
    note: str | None = Field(None, max_length=4000)
    assignee: str | None = Field(None, max_length=64)
    satisfaction: int | None = Field(None, ge=1, le=10)


def _svc(rt: Any) -> Any:
    if getattr(rt, "tickets", None) is None:
        raise HTTPException(503, "ticket service not running")
    return rt.tickets


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from gateway.tickets import ClosedLoop, Conflict, IllegalTransition, Invalid, NotFound

    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except (IllegalTransition, ClosedLoop) as exc:
        raise HTTPException(409, exc.detail()) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except Invalid as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("")
def list_tickets(
    rt: RuntimeDep,
    user: CurrentUser,
    status: str | None = None,
    crew: str | None = None,
    assignee: str | None = None,
    device: str | None = None,
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    items, total = _call(
        _svc(rt).list, status, crew, assignee=assignee, device=device, rule=rule,
        limit=limit, offset=offset,
    )
    return {"items": items, "total": total}


@router.get("/{ticket_id}")
def get_ticket(ticket_id: int, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    result: dict[str, Any] = _call(_svc(rt).get, ticket_id)
    return result


# changes run on the event loop, like every other change to alarms and tickets


@router.post("", status_code=201)
async def create_ticket(body: TicketCreate, rt: RuntimeDep, user: OperatorOrTechnician) -> Any:
    return _call(
        _svc(rt).create, title=body.title, category=body.category, priority=body.priority,
        device=body.device, description=body.description, user=user.name,
    )


@router.post("/{ticket_id}/transition")
async def transition(
    ticket_id: int, body: TicketTransition, rt: RuntimeDep, user: OperatorOrTechnician
) -> Any:
    return _call(
        _svc(rt).transition, ticket_id, body.to, user.name, note=body.note,
        assignee=body.assignee, satisfaction=body.satisfaction,
    )
