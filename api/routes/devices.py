"""Devices and their stored telemetry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import CurrentUser, RuntimeDep
from gateway.clock import iso_ms
from gateway.sinks import QueryFailed, QueryNotSupported

router = APIRouter(prefix="/api/v1", tags=["devices"])


@router.get("/devices")
def list_devices(
    rt: RuntimeDep,
    user: CurrentUser,
    system: str | None = None,
    zone: str | None = None,
    online: bool | None = None,
) -> dict[str, Any]:
    now = rt.clock.now_ms()
    items = []
    for st in rt.registry.devices.values():
        if system and st.system != system:
            continue
        if zone and st.zone != zone:
            continue
        if online is not None and st.online(now) != online:
            continue
        items.append(rt.registry.public(st, now))
    items.sort(key=lambda d: (d["system"], d["id"]))
    return {"items": items, "total": len(items)}


@router.get("/devices/{device}")
def get_device(device: str, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    st = rt.registry.devices.get(device)
    if st is None:
        raise HTTPException(404, f"no device {device!r}")
    return rt.registry.public(st)


def _parse_time(name: str, raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if raw.lstrip("-").isdigit():
        return int(raw)
    text = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name}: expected RFC 3339 time or epoch milliseconds") from None
    if dt.tzinfo is None:
        raise HTTPException(422, f"{name}: the time needs a zone offset (e.g. Z)")
    return round(dt.timestamp() * 1000)


@router.get("/telemetry/{device}")
async def telemetry(
    device: str,
    rt: RuntimeDep,
    user: CurrentUser,
    field: str | None = None,
    start: str | None = None,
    end: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    start_ms = _parse_time("start", start)
    end_ms = _parse_time("end", end)
    if start_ms is None and end_ms is None:
        start_ms = rt.clock.now_ms() - 3600_000
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise HTTPException(422, "end is before start")
    if device not in rt.registry.devices:
        raise HTTPException(404, f"no device {device!r}")
    try:
        rows = await rt.sink.query(device, field, start_ms, end_ms, limit)
    except QueryNotSupported as exc:
        raise HTTPException(501, str(exc)) from None
    except QueryFailed as exc:
        raise HTTPException(503, f"time-series store unavailable: {exc}") from None
    items = [{"ts": iso_ms(r["ts"]), "field": r["field"], "value": r["value"]} for r in rows]
    return {"device": device, "items": items, "total": len(items)}
