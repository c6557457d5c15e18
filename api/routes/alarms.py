"""Alarms: list, detail with journal, acknowledge, shelve, unshelve, and the live stream.

Every route runs on the event loop, where the alarm service lives; the service's
methods are synchronous and short, so the routes call them directly. Its domain errors
(unknown alarm 404, a move the alarm's state refuses 409, a bad request 422) reach the
client through the one handler of ``api.errors``.

The stream is capped: while ``sse_max_clients`` streams are live in this process (the
hub's subscribers), the next one gets 503 with ``Retry-After`` (``api.server``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from api import sse
from api.deps import AlarmsDep, CurrentUser, Operator, RuntimeDep
from api.routes.figures import figures_of
from api.schemas import (
    MAX_INT64,
    AlarmAck,
    AlarmDetail,
    AlarmPublic,
    AlarmShelve,
    IdPath,
    Offset,
    Page,
)
from api.server import SSE_RETRY_AFTER_S, setting
from gateway.errors import Invalid
from gateway.figures.service import WASTE_RULES
from rules.vocab import AlarmState, Priority

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

#: a state, or ``open`` for every state but ``closed``
StateFilter = AlarmState | Literal["open"]

_DIGITS = re.compile(r"[0-9]{1,19}")


def _since(last_event_id: str | None) -> int | None:
    """The sequence number of ``Last-Event-ID`` (None when absent or empty)."""
    if not last_event_id:
        return None
    if not _DIGITS.fullmatch(last_event_id) or int(last_event_id) > MAX_INT64:
        raise Invalid(f"Last-Event-ID must be an integer from 0 to {MAX_INT64}")
    return int(last_event_id)


@router.get("", response_model=Page[AlarmPublic])
async def list_alarms(
    alarms: AlarmsDep,
    user: CurrentUser,
    state: Annotated[StateFilter | None, Query(description="open: not closed")] = None,
    priority: Priority | None = None,
    device: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alarms, newest first."""
    items, total = alarms.list(
        state=state, priority=priority, device=device, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "alarm events"}},
)
async def stream(
    rt: RuntimeDep,
    alarms: AlarmsDep,
    user: CurrentUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    """Server-Sent Events: every open alarm first, then one event ``alarm`` per change
    (its ``id`` a rising sequence number honoured in ``Last-Event-ID``)."""
    since = _since(last_event_id)
    cap = int(setting(getattr(rt, "settings", None), "sse_max_clients"))
    if rt.alarm_hub.clients >= cap:
        raise HTTPException(
            503,
            f"{cap} live alarm streams already: retry in {SSE_RETRY_AFTER_S} s",
            headers={"Retry-After": str(SSE_RETRY_AFTER_S)},
        )

    def initial() -> list[tuple[int, dict[str, Any]]]:
        if since is not None:
            missed = alarms.changes_since(since)
            if missed is not None:
                return list(missed)
        seq = alarms.current_seq()
        return [(seq, a) for a in alarms.open_alarms()]

    gen = sse.stream(rt.alarm_hub, initial, rt.stopping)
    return StreamingResponse(
        gen,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alarm_id}", response_model=AlarmDetail)
async def get_alarm(
    alarm_id: IdPath, request: Request, rt: RuntimeDep, alarms: AlarmsDep, user: CurrentUser
) -> dict[str, Any]:
    """One alarm with its journal; an energy-waste alarm also with the energy its device
    used while it was active (``wasted_kwh``)."""
    alarm = alarms.get(alarm_id)
    if alarm["rule"] in WASTE_RULES:
        alarm["wasted_kwh"] = (await figures_of(request, rt).alarm_waste(alarm_id))["kwh"]
    return alarm


@router.post("/{alarm_id}/ack", response_model=AlarmPublic)
async def ack(
    alarm_id: IdPath,
    rt: RuntimeDep,
    alarms: AlarmsDep,
    user: Operator,
    body: AlarmAck | None = None,
) -> dict[str, Any]:
    """Acknowledge (the runtime also tells the rule engine: an event alarm with no
    clearing condition closes)."""
    return rt.ack_alarm(alarm_id, user.user, body.note if body else None, audit=user.audit())


@router.post("/{alarm_id}/shelve", response_model=AlarmPublic)
async def shelve(
    alarm_id: IdPath, body: AlarmShelve, alarms: AlarmsDep, user: Operator
) -> dict[str, Any]:
    """Shelve for ``minutes``; a critical alarm is never shelved (409)."""
    return alarms.shelve(alarm_id, user.user, body.minutes, body.reason, audit=user.audit())


@router.post("/{alarm_id}/unshelve", response_model=AlarmPublic)
async def unshelve(alarm_id: IdPath, alarms: AlarmsDep, user: Operator) -> dict[str, Any]:
    """End a shelve early (409 when the alarm is not shelved)."""
    return alarms.unshelve(alarm_id, user.user, audit=user.audit())
