"""The HTTP shapes of assets, plans and checklists (contract section 7).

Public models (``extra="allow"``, like ``api.schemas``) describe what the routes answer;
request models describe the bodies: a plan (its parts are the site file's own types,
``rules.site``, so a plan reads the same in YAML and in JSON), checklist answers and a
cost entry.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictStr

from api.schemas import Public, Time
from rules.site import AssetSelector, CalendarTrigger, ChecklistItem, MeterTrigger, TrendTrigger
from rules.vocab import ID_RE, Priority


# ------------------------------------------------------------------------- answers
class AssetPublic(Public):
    """An asset: a device of the site file, or plant without telemetry (``device`` null)."""

    id: str
    type: str
    zone: str
    name: str
    device: str | None
    meters: dict[str, float]


class AssetDetail(AssetPublic):
    """One asset with its tickets (newest first), meter readings by day and cost to date."""

    history: list[dict[str, Any]]
    cost: dict[str, float]


class PlanPublic(Public):
    id: str
    title: str
    assets: list[str] | dict[str, Any]
    crew: str
    priority: str
    checklist: list[dict[str, Any]]
    trigger: dict[str, Any]
    source: str


class CalendarPublic(Public):
    """Occurrences due in the next days, and the preventive work overdue now."""

    to: Time
    items: list[dict[str, Any]]
    overdue: list[dict[str, Any]]


# ------------------------------------------------------------------------ requests
class PlanCreate(BaseModel):
    """``POST /api/v1/plans``: a plan; without ``id`` one is made up."""

    id: str | None = Field(None, pattern=ID_RE)
    title: str = Field(min_length=1, max_length=200)
    assets: list[str] | AssetSelector = Field(
        description="asset ids, or {type, zone?}", examples=[["ahu-01"], {"type": "fcu"}]
    )
    crew: str
    priority: Priority = Priority.LOW
    checklist: list[ChecklistItem] = Field(default_factory=list, max_length=100)
    trigger: CalendarTrigger | MeterTrigger | TrendTrigger
    description: str | None = Field(None, max_length=2000)


class ChecklistAnswers(BaseModel):
    """``POST /api/v1/tickets/{id}/checklist``: ``{item id: value}``."""

    answers: dict[str, StrictBool | StrictFloat | StrictStr] = Field(min_length=1, max_length=100)


class Part(BaseModel):
    name: StrictStr = Field(min_length=1, max_length=200)
    qty: StrictFloat = Field(ge=0)
    unit_cost: StrictFloat = Field(ge=0)


class CostEntry(BaseModel):
    """``POST /api/v1/tickets/{id}/costs``: labour minutes and parts used."""

    labour_min: StrictFloat | None = Field(None, ge=0, le=100_000)
    parts: list[Part] = Field(default_factory=list, max_length=100)
