"""Helpers for the rule tests: a small site in Asia/Shanghai and message makers."""

from __future__ import annotations

from typing import Any

from rules.model import Event, Status, Telemetry

# 2026-01-05 (a Monday) 12:00 Asia/Shanghai == 04:00 UTC
NOON_SH = 1_767_585_600_000
S = 1000
MIN = 60 * S

SITE_DATA: dict[str, Any] = {
    "site": "sc01",
    "name": "Sales centre",
    "timezone": "Asia/Shanghai",
    "zones": [
        {"id": "L1", "name": "Lobby"},
        {"id": "L2", "name": "Show flats"},
        {"id": "L3", "name": "Offices"},
    ],
    "devices": [
        {"id": "fcu-1", "system": "hvac", "type": "fcu", "zone": "L1", "interval_s": 60},
        {"id": "ahu-1", "system": "hvac", "type": "ahu", "zone": "L3", "interval_s": 300},
        {
            "id": "lc-1",
            "system": "lighting",
            "type": "lighting_circuit",
            "zone": "L1",
            "interval_s": 60,
        },
        {"id": "door-1", "system": "access", "type": "door", "zone": "L1", "interval_s": 30},
        {"id": "sd-1", "system": "fire", "type": "smoke_detector", "zone": "L2", "interval_s": 60},
        {"id": "sd-2", "system": "fire", "type": "smoke_detector", "zone": "L3", "interval_s": 60},
        {
            "id": "fp-1",
            "system": "fire",
            "type": "fire_panel",
            "zone": "L1",
            "interval_s": 60,
            "points": ["sd-1", "sd-2"],
        },
    ],
    "crews": [],
}

SYSTEM_OF = {d["id"]: d["system"] for d in SITE_DATA["devices"]}


def tel(device: str, ts: int, recv: int | None = None, **values: Any) -> Telemetry:
    return Telemetry(
        "sc01", SYSTEM_OF.get(device, "hvac"), device, ts, values, ts if recv is None else recv
    )


def ev(
    device: str,
    ts: int,
    type_: str,
    point: str | None = None,
    zone: str | None = None,
    recv: int | None = None,
    **attrs: Any,
) -> Event:
    return Event(
        "sc01",
        SYSTEM_OF.get(device, "fire"),
        device,
        ts,
        type_,
        ts if recv is None else recv,
        point,
        zone,
        attrs,
    )


def status(device: str, online: bool, recv: int) -> Status:
    return Status("sc01", SYSTEM_OF.get(device, "hvac"), device, online, recv)
