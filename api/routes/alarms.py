"""Alarms: list, detail with journal, acknowledge, shelve, unshelve, and the live stream."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.deps import CurrentUser, Operator, RuntimeDep

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

State = Literal["active_unacked", "active_acked", "cleared_unacked", "closed", "open"]
Priority = Literal["critical", "high", "medium", "low"]


class AlarmAck(BaseModel):
    note: str | None = Field(None, max_length=2000)


class AlarmShelve(BaseModel):
    minutes: int = Field(gt=0, description="how long; the service caps it at its maximum")
    reason: str = Field(min_length=1, max_length=2000)


def _svc(rt: Any) -> Any:
    if rt.alarms is None:
        raise HTTPException(503, "alarm service not running")
    return rt.alarms


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from gateway.alarms import Conflict, Invalid, NotFound

    try:
        return fn(*args, **kwargs)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    except Invalid as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("")
def list_alarms(
    rt: RuntimeDep,
    user: CurrentUser,
    state: State | None = None,
    priority: Priority | None = None,
    device: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    items, total = _svc(rt).list(
        state=state, priority=priority, device=device, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/stream")
async def stream(
    request: Request,
    rt: RuntimeDep,
    user: CurrentUser,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    svc = _svc(rt)
    since: int | None = None
    if last_event_id:
        try:
            since = int(last_event_id)
        except ValueError:
            raise HTTPException(422, "Last-Event-ID must be an integer") from None

    def initial() -> list[tuple[int, dict[str, Any]]]:
        if since is not None:
            missed = svc.changes_since(since)
            if missed is not None:
                return list(missed)
        seq = svc.current_seq()
        return [(seq, a) for a in svc.open_alarms()]

    gen = rt.alarm_hub.stream(initial, rt.stopping)
    return StreamingResponse(
        gen,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/{alarm_id}")
def get_alarm(alarm_id: int, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    result: dict[str, Any] = _call(_svc(rt).get, alarm_id)
    return result


# operator actions run on the event loop, like every other change to alarms


@router.post("/{alarm_id}/ack")
async def ack(alarm_id: int, rt: RuntimeDep, user: Operator, body: AlarmAck | None = None) -> Any:
    _svc(rt)
    return _call(rt.ack_alarm, alarm_id, user.name, body.note if body else None)


@router.post("/{alarm_id}/shelve")
async def shelve(alarm_id: int, body: AlarmShelve, rt: RuntimeDep, user: Operator) -> Any:
    return _call(_svc(rt).shelve, alarm_id, user.name, body.minutes, body.reason)


@router.post("/{alarm_id}/unshelve")
async def unshelve(alarm_id: int, rt: RuntimeDep, user: Operator) -> Any:
    return _call(_svc(rt).unshelve, alarm_id, user.name)
