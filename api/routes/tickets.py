"""Tickets: list, detail with journal, raise one (people), move one along its life.

Every route runs on the event loop and calls the ticket service directly (its methods
are synchronous and short). A move the ticket's life does not allow is the service's
``IllegalTransition`` / ``ClosedLoop`` (409, the detail lists the allowed moves); the
one handler of ``api.errors`` maps them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import require
from api.deps import CurrentUser, OperatorOrTechnician, TicketsDep
from api.schemas import (
    IdPath,
    Offset,
    Page,
    TicketCreate,
    TicketDetail,
    TicketPublic,
    TicketTransition,
)
from api.schemas_maintenance import ChecklistAnswers, CostEntry
from gateway.people import Principal
from rules.vocab import Role

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])
#: answers a checklist, records costs: technicians (leads are technicians too) and admins
Technician = Annotated[Principal, require(Role.TECHNICIAN)]

STATUS_HELP = (
    "one status, or several comma-separated; open_any: every status but closed and cancelled"
)


@router.get("", response_model=Page[TicketPublic])
async def list_tickets(
    tickets: TicketsDep,
    user: CurrentUser,
    status: Annotated[str | None, Query(description=STATUS_HELP)] = None,
    crew: Annotated[str | None, Query(description="a crew id, or me: the caller's")] = None,
    assignee: Annotated[str | None, Query(description="a user id, or me: the caller")] = None,
    device: str | None = None,
    rule: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Tickets, newest first; ``assignee=me`` are the caller's ("my tickets"),
    ``crew=me`` their crew's."""
    if assignee == "me":
        assignee = user.user
    if crew == "me":
        crew = user.crew or ""
    items, total = tickets.list(
        status, crew, assignee=assignee, device=device, rule=rule, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/{ticket_id}", response_model=TicketDetail)
async def get_ticket(ticket_id: IdPath, tickets: TicketsDep, user: CurrentUser) -> dict[str, Any]:
    """One ticket with its journal."""
    return tickets.get(ticket_id)


@router.post("", status_code=201, response_model=TicketPublic)
async def create_ticket(
    body: TicketCreate, tickets: TicketsDep, user: OperatorOrTechnician
) -> dict[str, Any]:
    """A request or complaint raised by a person: routed to its category's crew."""
    return tickets.create(
        title=body.title,
        category=body.category,
        priority=body.priority,
        device=body.device,
        description=body.description,
        user=user.user,
        audit=user.audit(),
        channel=body.channel,
    )


@router.post("/{ticket_id}/transition", response_model=TicketPublic)
async def transition(
    ticket_id: IdPath, body: TicketTransition, tickets: TicketsDep, user: OperatorOrTechnician
) -> dict[str, Any]:
    """Move a ticket along its life; a move its life does not allow gets 409. A
    technician moves only tickets of their crew or assigned to them, a lead also
    reassigns within the crew (403 otherwise); taking an unassigned ticket to
    ``assigned`` without an assignee takes it oneself."""
    return tickets.transition(
        ticket_id,
        body.to,
        user.user,
        note=body.note,
        assignee=body.assignee,
        satisfaction=body.satisfaction,
        principal=user,
    )


@router.post("/{ticket_id}/checklist", response_model=TicketPublic)
async def answer_checklist(
    ticket_id: IdPath, body: ChecklistAnswers, tickets: TicketsDep, user: Technician
) -> dict[str, Any]:
    """Answer checklist items (``{"answers": {item id: value}}``, contract section 7); a
    number outside its item's limits opens a corrective ticket linked to this one. Only
    the ticket's crew or assignee (403 otherwise); 422 for an unknown item or a value of
    the wrong kind; 409 once the ticket is resolved."""
    return tickets.answer_checklist(ticket_id, body.answers, user.user, principal=user)


@router.post("/{ticket_id}/costs", response_model=TicketPublic)
async def add_cost(
    ticket_id: IdPath, body: CostEntry, tickets: TicketsDep, user: Technician
) -> dict[str, Any]:
    """Record labour minutes and parts (``name``, ``qty``, ``unit_cost``) on a ticket:
    its asset's cost to date adds them up."""
    return tickets.add_cost(
        ticket_id,
        user.user,
        labour_min=body.labour_min,
        parts=[p.model_dump() for p in body.parts],
        principal=user,
    )
