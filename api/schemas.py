"""The HTTP API's shapes: one pydantic model per use, named as the contract (section 4) does.

Two kinds of model live here:

- *public* models (``...Public``, ``...Detail``, :class:`Health`, :class:`Kpis`, ...)
  describe what a route answers. They are declared as each route's ``response_model``,
  so ``/openapi.json`` documents every response. The services build plain dicts; the
  route returns them and FastAPI validates them against these models on the way out.
  Objects may carry more fields than the contract lists (``extra="allow"``): nothing a
  service returns is dropped, the listed fields are the ones promised.
- *request* models (:class:`AlarmAck`, :class:`AlarmShelve`, :class:`TicketCreate`,
  :class:`TicketTransition`) describe a body the client sends. Integers are strict (a
  JSON string ``"5"`` is refused with 422 naming the field), strings take no number;
  the vocabulary's enums (``rules.vocab``) fix the words a field takes. Unknown fields
  are ignored.
- *parameters* (:data:`IdPath`, :data:`Offset`): an id in a path and a list's offset are
  bounded by :data:`MAX_INT64`, what the store's integer columns hold (past it SQLite
  cannot even compare them): a larger one is 422, never 500.

Times are strings, RFC 3339 UTC with milliseconds and ``Z``, exactly as the services
format them (``gateway.clock.iso_ms``); the schema marks them ``format: date-time``.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from rules.vocab import AlarmState, Priority, TicketCategory, TicketStatus

T = TypeVar("T")

#: RFC 3339 UTC with milliseconds and ``Z`` (``2026-01-01T08:00:00.000Z``), or null
Time = Annotated[
    str | None,
    Field(json_schema_extra={"format": "date-time"}, examples=["2026-01-01T08:00:00.000Z"]),
]
#: ids are opaque: an integer or a string
Id = int | str

#: the largest id, offset or sequence number: a signed 64-bit integer
MAX_INT64 = 2**63 - 1
#: an alarm's or ticket's id in a path
IdPath = Annotated[int, Path(ge=1, le=MAX_INT64)]
#: how many items of a list to skip
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]


class Public(BaseModel):
    """Base of every response model: extra fields pass through."""

    model_config = ConfigDict(extra="allow")


class Page(Public, Generic[T]):
    """A list: ``{"items": [...], "total": N}``; ``total`` counts every match, not only
    this page's."""

    items: list[T]
    total: int


# ------------------------------------------------------------------------- journal
class JournalEntry(Public):
    """One entry of the append-only journal: who did what to an alarm or ticket, when."""

    id: Id
    at: Time
    user: str = Field(description="who: a user name, or 'system' for the gateway")
    action: str
    reason: str | None = None
    alarm_id: Id | None = None
    ticket_id: Id | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


# -------------------------------------------------------------------------- alarms
class AlarmPublic(Public):
    """The alarm object (contract section 4)."""

    id: Id
    rule: str
    site: str
    system: str
    device: str
    point: str | None = None
    zone: str | None = None
    priority: Priority
    state: AlarmState
    shelved: bool
    suppressed: bool
    out_of_service: bool
    chattering: bool
    raised_at: Time = Field(description="gateway time the alarm was raised")
    source_ts: Time = Field(description="the triggering reading's own time")
    cleared_at: Time = None
    acked_at: Time = None
    acked_by: str | None = None
    value: Any = Field(None, description="the triggering value, or the event type")
    message: str | None = None
    action: str | None = Field(None, description="what the operator should do")
    ticket_ids: list[Id] = Field(default_factory=list)


class AlarmDetail(AlarmPublic):
    """One alarm with its journal, oldest entry first (an energy-waste alarm also with the
    kWh its device used while it was active)."""

    journal: list[JournalEntry]
    wasted_kwh: float | None = None


class AlarmPage(Page[AlarmPublic]):
    """A page of alarms; ``next``: the cursor of the next page (``?before=``), null on the
    last."""

    next: Id | None = None


class AlarmGroup(Public):
    """Open alarms of one rule, zone and priority shown as one (EEMUA 191 flood handling;
    ``gateway.alarms.groups``): "2,310 devices offline in zone car-park". Never fire or
    critical alarms."""

    id: str = Field(description="group:<rule>:<zone>:<priority>")
    kind: Literal["group"] = "group"
    rule: str
    zone: str
    priority: Priority
    count: int = Field(description="open alarms in the group")
    unacked: int
    active: int
    raised_at: Time = Field(description="the oldest member's")
    updated_at: Time = Field(description="the newest change of a member")
    newest_id: Id
    message: str
    message_zh: str


class PriorityCounts(Public):
    open: int
    unacked: int


class AlarmGroups(Public):
    """``GET /api/v1/alarms/groups``: the groups, largest first, and the open and
    unacknowledged alarms per priority."""

    items: list[AlarmGroup]
    total: int
    counts: dict[str, PriorityCounts]


class AlarmAck(BaseModel):
    """``POST /api/v1/alarms/{id}/ack``."""

    note: str | None = Field(None, max_length=2000)


class AlarmShelve(BaseModel):
    """``POST /api/v1/alarms/{id}/shelve``: hide an alarm for a while (never a critical)."""

    minutes: StrictInt = Field(gt=0, description="how long; the service caps it at its maximum")
    reason: str = Field(min_length=1, max_length=2000)


# ------------------------------------------------------------------------- tickets
class TicketPublic(Public):
    """The ticket object (contract section 4)."""

    id: Id
    title: str
    category: str
    priority: Priority
    status: TicketStatus
    source: str
    rule: str | None = None
    crew: str | None = None
    assignee: str | None = None
    device: str | None = None
    alarm_id: Id | None = None
    created_at: Time
    assigned_at: Time = None
    started_at: Time = None
    resolved_at: Time = None
    closed_at: Time = None
    assign_by: Time = None
    respond_by: Time = Field(None, description="in progress by")
    resolve_by: Time = None
    callback_by: Time = None
    breached: list[str] = Field(default_factory=list, description="the clocks missed")
    repeat_of: Id | None = None
    satisfaction: int | None = Field(None, ge=1, le=10)


class TicketDetail(TicketPublic):
    """One ticket with its journal, oldest entry first."""

    journal: list[JournalEntry]


class TicketCreate(BaseModel):
    """``POST /api/v1/tickets``: a request or complaint raised by a person."""

    title: str = Field(min_length=1, max_length=256)
    category: TicketCategory
    priority: Priority
    device: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=4000)
    channel: Literal["staff", "phone"] = Field(
        "staff", description="how the request reached staff (figures count requests by channel)"
    )


class TicketTransition(BaseModel):
    """``POST /api/v1/tickets/{id}/transition``: move a ticket along its life."""

    to: TicketStatus
    note: str | None = Field(None, max_length=4000)
    assignee: str | None = Field(None, max_length=64)
    satisfaction: StrictInt | None = Field(None, ge=1, le=10)


# ------------------------------------------------------------------------- devices
class DevicePublic(Public):
    """A device: its last values and liveness."""

    id: str
    name: str | None = None
    system: str
    type: str | None = None
    zone: str | None = None
    online: bool
    last_seen: Time = Field(None, description="gateway time of the last valid message")
    values: dict[str, Any] = Field(default_factory=dict, description="last value per field")


class Reading(Public):
    """One stored reading of one field."""

    ts: Time
    field: str
    value: Any


class Telemetry(Page[Reading]):
    """Stored readings of one device, oldest first."""

    device: str


# ------------------------------------------------------------------ health, figures
class Health(Public):
    """``GET /healthz``: ``ok``, or ``degraded`` while a link or the store is down."""

    status: Literal["ok", "degraded"]


class Kpis(Public):
    """Alarm-management (EEMUA 191 / ISA-18.2) and maintenance figures; each part is
    ``null`` while its service is not running. The figures are open-ended (new ones are
    added as the gateway learns them)."""

    alarms: dict[str, Any] | None
    maintenance: dict[str, Any] | None


# ----------------------------------------------------------------- the page's reads
class SiteDevice(Public):
    id: str
    name: str | None = None
    system: str
    type: str | None = None


class SiteZone(Public):
    id: str
    name: str | None = None
    floor: Any = None
    devices: list[SiteDevice]


class CrewMember(Public):
    id: str
    name: str | None = None


class SiteCrew(Public):
    id: str
    name: str | None = None
    lead: str | None = None
    members: list[CrewMember]


class SiteLayout(Public):
    """The site as the building view draws it: zones with their devices, devices in no
    zone, and the crews with their members' names (no phone numbers)."""

    site: str
    name: str | None = None
    timezone: str
    zones: list[SiteZone]
    unzoned: list[SiteDevice]
    crews: list[SiteCrew]
