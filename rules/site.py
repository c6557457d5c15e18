"""The site as data: zones, devices (with zone and usual reporting interval) and crews.

A leaf of the house like ``rules.model``: pydantic models and nothing of sitewatch's but
the vocabulary, so the rule engine, the gateway and the API share one description of a
site. A site is validated once, when it is built (``gateway.site.load_site`` reads the
YAML file); every error names the offending entry. Instances are frozen.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rules.vocab import ID_RE, System

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(_Strict):
    id: str = Field(pattern=ID_RE)
    name: str
    floor: str | None = None


class Device(_Strict):
    id: str = Field(pattern=ID_RE)
    system: System
    type: str = Field(
        description="ahu, fcu, lighting_circuit, door, smoke_detector, heat_detector, fire_panel…"
    )
    zone: str
    name: str | None = None
    interval_s: float = Field(60, gt=0, description="usual reporting interval, seconds")
    points: list[str] = Field(default_factory=list, description="detectors/inputs behind a panel")

    @property
    def display_name(self) -> str:
        return self.name or self.id


class Shift(_Strict):
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    start: str = Field("00:00", pattern=r"^\d\d:\d\d$")
    end: str = Field("24:00", pattern=r"^\d\d:\d\d$")


class Member(_Strict):
    id: str = Field(pattern=ID_RE)
    name: str
    phone: str | None = None
    shifts: list[Shift] = Field(default_factory=list)


class Crew(_Strict):
    id: str = Field(pattern=ID_RE)
    name: str
    lead: str | None = Field(None, description="member id of the crew lead")
    on_call: str | None = Field(None, description="member id on call outside shifts")
    members: list[Member] = Field(default_factory=list)

    @model_validator(mode="after")
    def _refs(self) -> Crew:
        ids = {m.id for m in self.members}
        for what in ("lead", "on_call"):
            ref = getattr(self, what)
            if ref is not None and ref not in ids:
                raise ValueError(f"crew {self.id}: {what} {ref!r} is not one of its members")
        return self


class Site(_Strict):
    site: str = Field(pattern=ID_RE)
    name: str
    timezone: str
    site_manager: str | None = None
    zones: list[Zone]
    devices: list[Device]
    crews: list[Crew] = Field(default_factory=list)
    _devices_by_id: dict[str, Device] | None = PrivateAttr(None)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _check(self) -> Site:
        zones = {z.id for z in self.zones}
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"device {d.id!r} is listed twice")
            seen.add(d.id)
            if d.zone not in zones:
                raise ValueError(f"device {d.id!r}: zone {d.zone!r} is not a zone of the site")
        crew_ids = [c.id for c in self.crews]
        if len(crew_ids) != len(set(crew_ids)):
            raise ValueError("crew ids must be unique")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def device(self, device_id: str) -> Device | None:
        return self._by_id().get(device_id)

    def crew(self, crew_id: str) -> Crew | None:
        for c in self.crews:
            if c.id == crew_id:
                return c
        return None

    def _by_id(self) -> dict[str, Device]:
        if self._devices_by_id is None:
            self._devices_by_id = {d.id: d for d in self.devices}
        return self._devices_by_id
