"""Alarms: list, detail with journal, acknowledge, shelve, unshelve, and the live stream.

Every route runs on the event loop, where the alarm service lives; the service's
methods are synchronous and short, so the routes call them directly. Its domain errors
(unknown alarm 404, a move the alarm's state refuses 409, a bad request 422) reach the
client through the one handler of ``api.errors``.

The stream is capped: while ``sse_max_clients`` streams are live in this process (the
hub's subscribers), the next one gets 503 with ``Retry-After`` (``api.server``).

Floods (issue 10, EEMUA 191; ``gateway.alarms.groups``): a new stream's snapshot is
bounded to the newest ``alarm_snapshot_per_priority`` (200) open alarms of each priority;
with ``?groups=true`` (the control room) open alarms of one rule, zone and priority from
``alarm_group_min`` (10) on come as one group in a ``snapshot`` summary event (counts per
priority, groups, what was left out) instead of one by one, and live ``groups`` events keep
the groups current. The rest pages from ``GET /api/v1/alarms`` (``before``: the cursor in
``next``; ``rule`` and ``zone``: a group's members); ``GET /api/v1/alarms/groups`` lists the
groups.
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
    AlarmGroups,
    AlarmPage,
    AlarmPublic,
    AlarmShelve,
    IdPath,
    Offset,
)
from api.server import SSE_RETRY_AFTER_S, setting
from gateway.alarms.groups import GROUP_MIN, SNAPSHOT_PER_PRIORITY
from gateway.errors import Invalid
from gateway.figures.service import WASTE_RULES
from rules.vocab import AlarmState, Priority

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

#: a state, or ``open`` for every state but ``closed``
StateFilter = AlarmState | Literal["open"]

_DIGITS = re.compile(r"[0-9]{1,19}")
#: changes a reconnecting stream is sent from the log at most (more: a fresh snapshot)
_RESUME_MAX = 1000


def _since(last_event_id: str | None) -> int | None:
    """The sequence number of ``Last-Event-ID`` (None when absent or empty)."""
    if not last_event_id:
        return None
    if not _DIGITS.fullmatch(last_event_id) or int(last_event_id) > MAX_INT64:
        raise Invalid(f"Last-Event-ID must be an integer from 0 to {MAX_INT64}")
    return int(last_event_id)


def _flood_setting(rt: Any, name: str, default: int) -> int:
    value = getattr(getattr(rt, "settings", None), name, None)
    return default if value is None else int(value)


@router.get("", response_model=AlarmPage)
async def list_alarms(
    alarms: AlarmsDep,
    user: CurrentUser,
    state: Annotated[StateFilter | None, Query(description="open: not closed")] = None,
    priority: Priority | None = None,
    device: str | None = None,
    rule: Annotated[str | None, Query(max_length=200)] = None,
    zone: Annotated[str | None, Query(max_length=200)] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_INT64, description="cursor: alarms older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Alarms, newest first; ``next`` is the cursor of the next page (pass it as
    ``before``), null on the last."""
    more: dict[str, Any] = {
        k: v for k, v in (("rule", rule), ("zone", zone), ("before", before)) if v is not None
    }
    items, total = alarms.list(
        state=state, priority=priority, device=device, limit=limit, offset=offset, **more
    )
    last = items[-1]["id"] if len(items) == limit and items else None
    return {"items": items, "total": total, "next": last}


@router.get("/groups", response_model=AlarmGroups)
async def list_groups(rt: RuntimeDep, alarms: AlarmsDep, user: CurrentUser) -> dict[str, Any]:
    """Open alarms of one rule, zone and priority from ``alarm_group_min`` on, as groups
    (largest first), with the open and unacknowledged counts per priority. Members:
    ``GET /api/v1/alarms?state=open&rule=&zone=&priority=``."""
    per = _flood_setting(rt, "alarm_snapshot_per_priority", SNAPSHOT_PER_PRIORITY)
    snap = alarms.views.snapshot(per, _flood_setting(rt, "alarm_group_min", GROUP_MIN))
    return {"items": snap["groups"], "total": len(snap["groups"]), "counts": snap["counts"]}


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
    groups: Annotated[
        bool, Query(description="a grouped snapshot, a snapshot summary and live groups")
    ] = False,
) -> StreamingResponse:
    """Server-Sent Events: the open alarms first (the newest ``alarm_snapshot_per_priority``
    of each priority), then one event ``alarm`` per change (its ``id`` a rising sequence
    number honoured in ``Last-Event-ID``). ``groups=true``: members of groups left out of
    the snapshot, which ends with a ``snapshot`` event (``counts``, ``groups``, ``more``);
    ``groups`` events as groups change (see the module doc)."""
    since = _since(last_event_id)
    cap = int(setting(getattr(rt, "settings", None), "sse_max_clients"))
    if rt.alarm_hub.clients >= cap:
        raise HTTPException(
            503,
            f"{cap} live alarm streams already: retry in {SSE_RETRY_AFTER_S} s",
            headers={"Retry-After": str(SSE_RETRY_AFTER_S)},
        )

    per = _flood_setting(rt, "alarm_snapshot_per_priority", SNAPSHOT_PER_PRIORITY)
    group_min = _flood_setting(rt, "alarm_group_min", GROUP_MIN)
    views = getattr(alarms, "views", None)  # (a service without views: every open alarm)

    def initial() -> sse.Initial:
        if since is not None:
            missed = alarms.changes_since(since, _RESUME_MAX)
            # a client further behind than that (a flood) gets a fresh snapshot instead
            if missed is not None and len(missed) < _RESUME_MAX:
                return list(missed)
        if views is None:
            seq = alarms.current_seq()
            return [(seq, a) for a in alarms.open_alarms()]
        # no groups asked: nothing is grouped away (a client that reads only alarm events)
        snap = views.snapshot(per, group_min if groups else 0)
        seq = snap["seq"]
        out: list[Any] = [(seq, a) for a in snap["alarms"]]
        if groups:
            keys = ("seq", "counts", "groups", "more", "limit", "group_min")
            out.append((seq, {k: snap[k] for k in keys}, "snapshot"))
        return out

    live = (lambda: views.groups(group_min)) if groups and views is not None else None
    gen = sse.stream(rt.alarm_hub, initial, rt.stopping, groups=live)
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
