"""Devices (last values, liveness) and their stored telemetry.

The registry lives on the event loop: the routes read it there (``async def``), never
from a worker thread while messages change it.

A telemetry query is checked before the store is asked: a ``field`` no reading can have
(``time``, a control character, over 64 characters: the decoder's rule) and a ``start``
or ``end`` outside what the store holds (:data:`FIRST_MS` to :data:`LAST_MS`, 1970 to
2262: InfluxDB's nanosecond times) or in the wrong order are the client's mistake, 422
saying which; 503 is kept for a store that does not answer.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator, BaseModel, Field

from api.auth import require
from api.deps import CurrentUser, RuntimeDep
from api.schemas import DevicePublic, Page, Telemetry
from gateway import onboarding
from gateway.clock import iso_ms, parse_rfc3339_ms
from gateway.decode import FIELD_RE
from gateway.errors import Invalid, NotFound
from gateway.people import Principal
from gateway.sinks import QueryFailed, QueryNotSupported
from rules.vocab import Role

router = APIRouter(prefix="/api/v1", tags=["devices"])

TIME_HELP = "RFC 3339 time with a zone offset (e.g. Z), or epoch milliseconds"
#: the times a reading can have in the store: 1970 to InfluxDB's last whole millisecond
FIRST_MS = 0
LAST_MS = 9_223_372_036_853
_EPOCH_MS = re.compile(r"-?[0-9]+")


def _field_name(name: str | None) -> str | None:
    """``field`` as a reading can have it (the decoder's rule), else a ValueError."""
    if not name:
        return None
    if name == "time":
        raise ValueError("'time' is the timestamp, not a field")
    if len(name) > 64:
        raise ValueError("a field name is not longer than 64 characters")
    if not FIELD_RE.fullmatch(name):
        raise ValueError("a field name has no control character")
    return name


FieldName = Annotated[str | None, AfterValidator(_field_name)]


@router.get("/devices", response_model=Page[DevicePublic])
async def list_devices(
    rt: RuntimeDep,
    user: CurrentUser,
    system: str | None = None,
    zone: str | None = None,
    online: bool | None = None,
) -> dict[str, Any]:
    """Every device the gateway knows, by system then id."""
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


@router.get("/devices/{device}", response_model=DevicePublic)
async def get_device(device: str, rt: RuntimeDep, user: CurrentUser) -> dict[str, Any]:
    st = rt.registry.devices.get(device)
    if st is None:
        raise NotFound(f"no device {device!r}")
    return rt.registry.public(st)


class DevicesIn(BaseModel):
    """Devices to place: each ``{id, system, type, zone, name?, interval?}`` (seconds);
    every bad item is named by its index, and nothing is placed while any is bad."""

    devices: list[dict[str, Any]] = Field(min_length=1, max_length=onboarding.MAX_ROWS)


@router.post("/devices", response_model=Page[DevicePublic], status_code=201)
async def add_devices(
    body: DevicesIn, rt: RuntimeDep, user: Annotated[Principal, require(Role.INTEGRATOR)]
) -> dict[str, Any]:
    """Onboarding (integrator, admin): new devices join the site, devices already seen
    on the wire but not in the site file (unzoned) are placed in their zone."""
    devices, errors = onboarding.validate(
        body.devices, rt.site, first=0, where="item", known=rt.registry.devices
    )
    onboarding.check(errors)
    rt.place_devices(devices)
    now = rt.clock.now_ms()
    items = [rt.registry.public(rt.registry.devices[d.id], now) for d in devices]
    return {"items": items, "total": len(items)}


def _time(name: str, raw: str | None) -> int | None:
    """``start`` / ``end`` in epoch milliseconds (None when not given); 422 when it is
    no time or outside :data:`FIRST_MS` .. :data:`LAST_MS`."""
    if not raw:
        return None
    ms: int | None
    if _EPOCH_MS.fullmatch(raw):
        ms = int(raw) if len(raw) <= 20 else None
    else:
        try:
            ms = parse_rfc3339_ms(raw)
        except ValueError as exc:
            raise Invalid(f"{name}: {exc}") from None
    if ms is None or not FIRST_MS <= ms <= LAST_MS:
        raise Invalid(
            f"{name}: out of range ({iso_ms(FIRST_MS)} to {iso_ms(LAST_MS)},"
            f" or epoch milliseconds {FIRST_MS} to {LAST_MS})"
        )
    return ms


@router.get("/telemetry/{device}", response_model=Telemetry)
async def telemetry(
    device: str,
    rt: RuntimeDep,
    user: CurrentUser,
    field: Annotated[FieldName, Query(description="one field (all when absent)")] = None,
    start: Annotated[str | None, Query(description=TIME_HELP)] = None,
    end: Annotated[str | None, Query(description=TIME_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> dict[str, Any]:
    """Stored readings (the last hour when neither ``start`` nor ``end`` is given)."""
    start_ms = _time("start", start)
    end_ms = _time("end", end)
    if start_ms is None and end_ms is None:
        start_ms = rt.clock.now_ms() - 3600_000
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise Invalid("end is before start")
    if device not in rt.registry.devices:
        raise NotFound(f"no device {device!r}")
    try:
        rows = await rt.sink.query(device, field, start_ms, end_ms, limit)
    except QueryNotSupported as exc:
        raise HTTPException(501, str(exc)) from None
    except QueryFailed as exc:
        raise HTTPException(503, f"time-series store unavailable: {exc}") from None
    items = [{"ts": iso_ms(r["ts"]), "field": r["field"], "value": r["value"]} for r in rows]
    return {"device": device, "items": items, "total": len(items)}
