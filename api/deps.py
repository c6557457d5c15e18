"""Dependencies of the HTTP API: the running gateway, its services and the caller.

A route names what it needs by type (``Annotated`` aliases): :data:`RuntimeDep` (the
running gateway, ``app.state.runtime``), :data:`AlarmsDep` / :data:`TicketsDep` (its
services; 503 while one is not running), :data:`CurrentUser` (any role) and
:data:`Operator` / :data:`OperatorOrTechnician` (those roles or ``admin``, 403 for the
others).

The caller is a :class:`gateway.people.Principal` established by ``api.auth``: a
``SITEWATCH_API_TOKENS`` token, an API key or ID token (``Authorization: Bearer``; the
SSE stream also takes ``?access_token=``), or a session cookie (with ``X-CSRF-Token`` on
state-changing calls). Every route but ``/healthz``, ``/metrics`` and the sign-in needs
one; a caller that cannot be established is 401, a role that may not make the call 403.
Every dependency is ``async``: it runs on the event loop, like the routes, never in a
worker thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, status

from api.auth import authenticate, require
from gateway.people import Principal
from rules.vocab import Role

if TYPE_CHECKING:
    from gateway.alarms import AlarmService
    from gateway.runtime import Runtime
    from gateway.tickets import TicketService


async def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


async def get_alarms(request: Request) -> AlarmService:
    svc: AlarmService | None = getattr(request.app.state.runtime, "alarms", None)
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "alarm service not running")
    return svc


async def get_tickets(request: Request) -> TicketService:
    svc: TicketService | None = getattr(request.app.state.runtime, "tickets", None)
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "ticket service not running")
    return svc


AlarmsDep = Annotated["AlarmService", Depends(get_alarms)]
TicketsDep = Annotated["TicketService", Depends(get_tickets)]

CurrentUser = Annotated[Principal, Depends(authenticate)]


Operator = Annotated[Principal, require(Role.OPERATOR)]
OperatorOrTechnician = Annotated[Principal, require(Role.OPERATOR, Role.TECHNICIAN)]
