"""The site as data: zones, devices (with zone and usual reporting interval), crews and,
optionally, the plant without telemetry (``assets:``), maintenance plans (``plans:``), the
scorecard's baselines and targets (``scorecard:``) and inspection rounds (``rounds:``).

A leaf of the house like ``rules.model``: pydantic models and nothing of sitewatch's but
the vocabulary, so the rule engine, the gateway and the API share one description of a
site. A site is validated once, when it is built (``gateway.site.load_site`` reads the
YAML file); every error names the offending entry. Instances are frozen.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from rules.vocab import ID_RE, Priority, System, TicketCategory

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: a start to check a recurrence rule against (the rule's own start is the plan's)
_EPOCH_LOCAL = datetime(2026, 1, 1)


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


class Asset(_Strict):
    """Plant listed as an asset: without telemetry (``device`` null: a carpet, an
    extinguisher, a camera, the lift), or details of a device (``device`` = its id)."""

    id: str = Field(pattern=ID_RE)
    type: str
    zone: str
    name: str | None = None
    device: str | None = Field(None, description="the device that reports for it, if any")
    make: str | None = None
    model: str | None = None
    installed: date | None = None


ChecklistKind = Literal["check", "number", "text", "photo"]
MeterName = Literal["fan_hours", "on_hours", "lamp_hours", "starts"]


class ChecklistItem(_Strict):
    id: str = Field(pattern=ID_RE)
    text: str
    kind: ChecklistKind = "check"
    min: float | None = None
    max: float | None = None
    required: bool = True

    @model_validator(mode="after")
    def _limits(self) -> ChecklistItem:
        if (self.min is not None or self.max is not None) and self.kind != "number":
            raise ValueError(f"checklist item {self.id}: only a number item has limits")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"checklist item {self.id}: min is above max")
        return self


class CalendarTrigger(_Strict):
    """An RFC 5545 recurrence rule in the site's time zone, from ``start`` (a day; default
    the day the plan is first seen) at 00:00 unless the rule says ``BYHOUR``."""

    calendar: str
    lead_days: float = Field(0, ge=0, le=366)
    start: date | None = None
    from_completion: bool = False

    @field_validator("calendar")
    @classmethod
    def _rrule(cls, v: str) -> str:
        text = v.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        if "DTSTART" in text.upper() or "\n" in text:
            raise ValueError("calendar is one RRULE (the plan's start gives DTSTART)")
        try:
            rrulestr(text, dtstart=_EPOCH_LOCAL)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an RFC 5545 recurrence rule {v!r}: {exc}") from None
        return text


class MeterTrigger(_Strict):
    """Every ``every`` units of a meter measured from telemetry; due ``due_days`` after."""

    meter: MeterName
    every: float = Field(gt=0)
    due_days: float = Field(7, gt=0)


class TrendTrigger(_Strict):
    """The daily means of ``trend`` fitted over ``history_days``: open when the line
    crosses ``limit`` within ``within_days``."""

    trend: str
    limit: float
    within_days: float = Field(gt=0)
    history_days: int = Field(14, ge=3, le=365)


class AssetSelector(_Strict):
    type: str
    zone: str | None = None


class Plan(_Strict):
    id: str = Field(pattern=ID_RE)
    title: str = Field(min_length=1, max_length=200)
    assets: list[str] | AssetSelector
    crew: str
    priority: Priority = Priority.LOW
    checklist: list[ChecklistItem] = Field(default_factory=list)
    trigger: CalendarTrigger | MeterTrigger | TrendTrigger
    description: str | None = None

    @model_validator(mode="after")
    def _items(self) -> Plan:
        ids = [i.id for i in self.checklist]
        if len(ids) != len(set(ids)):
            raise ValueError(f"plan {self.id}: checklist item ids must be unique")
        return self


# ---- inspection rounds (gateway.rounds): templates of the site file's ``rounds:`` and the API's
# A schedule is one of: ``rrule`` (one RFC 5545 rule from the template's first day, local
# time), ``times`` (fixed local times) or ``every_min`` from ``start`` to ``end``; ``days``
# limits the last two. A ``check`` answered false or a ``number`` outside its limits is a
# failed item; ``photo``: ``on_fail`` asks for a photo of a failed item, ``always`` of any.
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class RoundItem(_Strict):
    id: str = Field(pattern=ID_RE)
    text: str = Field(min_length=1, max_length=200)
    kind: Literal["check", "number", "text", "photo"] = "check"
    min: float | None = None
    max: float | None = None
    required: bool = True
    standard: str | None = Field(None, max_length=500, description="the standard, written out")
    photo: Literal["never", "on_fail", "always"] = "on_fail"
    category: TicketCategory | None = Field(None, description="the ticket's (default: crew's)")
    priority: Priority | None = Field(None, description="the ticket's (default: template's)")

    @model_validator(mode="after")
    def _limits(self) -> RoundItem:
        if (self.min is not None or self.max is not None) and self.kind != "number":
            raise ValueError(f"item {self.id}: only a number item has limits")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"item {self.id}: min is above max")
        return self

    @property
    def can_fail(self) -> bool:
        return self.kind == "check" or (
            self.kind == "number" and (self.min is not None or self.max is not None)
        )


class RoundCheckpoint(_Strict):
    id: str = Field(pattern=ID_RE)
    zone: str
    name: str | None = Field(None, max_length=120)
    asset: str | None = None
    items: list[RoundItem] = Field(min_length=1, max_length=40)

    @model_validator(mode="after")
    def _unique(self) -> RoundCheckpoint:
        ids = [i.id for i in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError(f"checkpoint {self.id}: item ids must be unique")
        return self


class RoundSchedule(_Strict):
    rrule: str | None = None
    times: list[str] | None = None
    every_min: int | None = Field(None, ge=10, le=24 * 60)
    start: str = Field("00:00", pattern=HHMM)
    end: str = Field("23:59", pattern=HHMM)
    days: list[Weekday] | None = None

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, v: str | None) -> str | None:
        if v is None:
            return None
        text = v.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        if "DTSTART" in text.upper() or "\n" in text:
            raise ValueError("rrule is one RRULE (the template gives DTSTART)")
        try:
            rrulestr(text, dtstart=_EPOCH_LOCAL)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not an RFC 5545 recurrence rule {v!r}: {exc}") from None
        return text

    @field_validator("times")
    @classmethod
    def _times(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v or any(not re.fullmatch(HHMM, x) for x in v):
            raise ValueError("times are HH:MM local times, at least one")
        return sorted(set(v))

    @model_validator(mode="after")
    def _one_form(self) -> RoundSchedule:
        forms = [self.rrule is not None, self.times is not None, self.every_min is not None]
        if sum(forms) != 1:
            raise ValueError("a schedule is one of rrule, times or every_min")
        if self.every_min is not None and self.start > self.end:
            raise ValueError("start is after end")
        return self

    def local_times(self) -> list[str]:
        """The day's HH:MM times of a ``times`` or ``every_min`` schedule."""
        if self.times is not None:
            return list(self.times)
        if self.every_min is None:
            return []
        h0, m0 = (int(x) for x in self.start.split(":"))
        h1, m1 = (int(x) for x in self.end.split(":"))
        out, t = [], h0 * 60 + m0
        while t <= h1 * 60 + m1:
            out.append(f"{t // 60:02d}:{t % 60:02d}")
            t += self.every_min
        return out


class RoundTemplate(_Strict):
    id: str = Field(pattern=ID_RE)
    name: str = Field(min_length=1, max_length=200)
    crew: str
    schedule: RoundSchedule
    checkpoints: list[RoundCheckpoint] = Field(min_length=1, max_length=100)
    grace_min: float = Field(30, gt=0, le=24 * 60, description="start within, after due")
    window_min: float = Field(60, gt=0, le=24 * 60, description="finish within, after due")
    open_ahead_min: float = Field(15, ge=0, le=24 * 60, description="startable before due")
    priority: Priority = Priority.MEDIUM
    description: str | None = None

    @model_validator(mode="after")
    def _unique(self) -> RoundTemplate:
        ids = [c.id for c in self.checkpoints]
        if len(ids) != len(set(ids)):
            raise ValueError(f"round {self.id}: checkpoint ids must be unique")
        if self.window_min < self.grace_min:
            raise ValueError(f"round {self.id}: window_min is shorter than grace_min")
        return self


def check_rounds(
    rounds: list[RoundTemplate], zones: set[str], crews: set[str], assets: set[str]
) -> None:
    """Every template's ids unique, its crew, zones and assets the site's (ValueError)."""
    seen: set[str] = set()
    for r in rounds:
        if r.id in seen:
            raise ValueError(f"round {r.id!r} is listed twice")
        seen.add(r.id)
        if crews and r.crew not in crews:
            raise ValueError(f"round {r.id!r}: crew {r.crew!r} is not a crew of the site")
        for c in r.checkpoints:
            if c.zone not in zones:
                raise ValueError(f"round {r.id!r}: zone {c.zone!r} is not a zone of the site")
            if c.asset is not None and c.asset not in assets:
                raise ValueError(f"round {r.id!r}: asset {c.asset!r} is not an asset or device")


class FigureGoal(_Strict):
    """One scorecard figure's baseline and target (either may be absent)."""

    baseline: float | None = None
    target: float | None = None
    source: str | None = Field(None, description="where the numbers come from")


class Scorecard(_Strict):
    """The manager's scorecard (``gateway.figures``): the report's language and, per
    figure id, its baseline and target. A figure not listed has neither."""

    language: Literal["zh", "en"] = "en"
    figures: dict[str, FigureGoal] = Field(default_factory=dict)

    @field_validator("figures")
    @classmethod
    def _ids(cls, v: dict[str, FigureGoal]) -> dict[str, FigureGoal]:
        for key in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", key):
                raise ValueError(f"scorecard figure id {key!r} is not lower_snake_case")
        return v


class Site(_Strict):
    site: str = Field(pattern=ID_RE)
    name: str
    timezone: str
    site_manager: str | None = None
    zones: list[Zone]
    devices: list[Device]
    crews: list[Crew] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)
    plans: list[Plan] = Field(default_factory=list)
    scorecard: Scorecard | None = None
    #: inspection rounds (``rules.site``), optional
    rounds: list[RoundTemplate] = Field(default_factory=list)
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
        self._check_assets(zones, seen)
        assets = seen | {a.id for a in self.assets}
        check_rounds(self.rounds, zones, set(crew_ids), assets)
        return self

    def _check_assets(self, zones: set[str], devices: set[str]) -> None:
        ids = set(devices)
        for a in self.assets:
            if a.zone not in zones:
                raise ValueError(f"asset {a.id!r}: zone {a.zone!r} is not a zone of the site")
            if a.device is not None and a.device not in devices:
                raise ValueError(f"asset {a.id!r}: device {a.device!r} is not a device")
            if a.id in ids and a.device != a.id:
                raise ValueError(f"asset {a.id!r} is listed twice (or names another device)")
            ids.add(a.id)
        crews = {c.id for c in self.crews}
        plan_ids: set[str] = set()
        for p in self.plans:
            if p.id in plan_ids:
                raise ValueError(f"plan {p.id!r} is listed twice")
            plan_ids.add(p.id)
            if crews and p.crew not in crews:
                raise ValueError(f"plan {p.id!r}: crew {p.crew!r} is not a crew of the site")
            for aid in p.assets if isinstance(p.assets, list) else []:
                if aid not in ids:
                    raise ValueError(f"plan {p.id!r}: asset {aid!r} is not an asset")

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
        # read from pydantic's store of private attributes directly: ``self._devices_by_id``
        # goes through BaseModel.__getattr__ (tens of µs: the engine asks per new device)
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        by_id: dict[str, Device] | None = private.get("_devices_by_id")
        if by_id is None:
            by_id = private["_devices_by_id"] = {d.id: d for d in self.devices}
        return by_id
