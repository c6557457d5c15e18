"""sitewatch's vocabulary: every name the contract fixes, spelled once.

A leaf module: it imports nothing of sitewatch's, so every layer (``rules``, ``gateway``,
``api``, ``simulators``) may use it. The enums are ``StrEnum``s: a member *is* its string
(``Priority.CRITICAL == "critical"``), so they go into JSON, SQL and MQTT topics as they
are, and pydantic validates request bodies against them.
"""

from __future__ import annotations

from enum import StrEnum

#: a site, zone, device, crew or member id (contract §2: ``[A-Za-z0-9_.-]{1,64}``)
ID_PATTERN = r"[A-Za-z0-9_.-]{1,64}"
ID_RE = rf"^{ID_PATTERN}$"


class System(StrEnum):
    LIGHTING = "lighting"
    HVAC = "hvac"
    ACCESS = "access"
    FIRE = "fire"


SYSTEMS: tuple[str, ...] = tuple(System)


class Kind(StrEnum):
    """The last segment of a device topic."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


PRIORITIES: tuple[Priority, ...] = tuple(Priority)


class AlarmState(StrEnum):
    ACTIVE_UNACKED = "active_unacked"
    ACTIVE_ACKED = "active_acked"
    CLEARED_UNACKED = "cleared_unacked"
    CLOSED = "closed"


ALARM_STATES: tuple[AlarmState, ...] = tuple(AlarmState)
ACTIVE_STATES: frozenset[str] = frozenset({AlarmState.ACTIVE_UNACKED, AlarmState.ACTIVE_ACKED})


class TicketStatus(StrEnum):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


TICKET_STATUSES: tuple[TicketStatus, ...] = tuple(TicketStatus)


class TicketCategory(StrEnum):
    """What a person's request is about (routes it to a crew)."""

    REPAIR = "repair"
    CLEANING = "cleaning"
    SECURITY = "security"
    COMPLAINT = "complaint"
    ENQUIRY = "enquiry"


TICKET_CATEGORIES: tuple[TicketCategory, ...] = tuple(TicketCategory)
#: the category of a maintenance plan's ticket (not one a person may choose: it has no crew
#: route; the plan names the crew)
PREVENTIVE = "preventive"


class TicketSource(StrEnum):
    RULE = "rule"
    PERSON = "person"
    PORTAL = "portal"  # the zone's request page (no account)
    PLAN = "plan"  # a preventive-maintenance plan's occurrence
    INSPECTION = "inspection"  # a failed item of an inspection round


class Role(StrEnum):
    """Who may do what over HTTP (contract §4, §6)."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    TECHNICIAN = "technician"
    LEAD = "lead"
    MANAGER = "manager"
    INTEGRATOR = "integrator"
    ADMIN = "admin"


ROLES: tuple[Role, ...] = tuple(Role)
