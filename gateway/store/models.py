"""Tables of the state store (alarms, journal, rule state, meta).

These declarative models describe the schema the Alembic migrations in
``gateway/store/migrations`` create; ``tests/gateway/test_store.py`` checks that the two
never drift apart. The schema is only ever created or changed by a migration, never by
``metadata.create_all``.

Conventions:

- times are epoch milliseconds in ``BIGINT`` columns named ``*_ms`` (one unit everywhere,
  no time-zone ambiguity between SQLite and PostgreSQL; JSON output converts them with
  :func:`gateway.clock.iso_ms`);
- ``alarms.point`` is ``''`` when the alarm has no point, so the partial unique index on
  ``(rule, device, point) WHERE state != 'closed'`` also covers point-less alarms;
- ``journal`` is append-only (a trigger refuses ``UPDATE`` and ``DELETE``); it carries
  ``alarm_id`` or ``ticket_id`` so the ticket service (a later migration adds its
  ``tickets`` table) journals into the same table.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A 64-bit key that is still SQLite's rowid alias (only ``INTEGER PRIMARY KEY`` is).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

OPEN_WHERE = "state != 'closed'"

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


class AlarmRow(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        # One open alarm per (rule, device, point): enforced by the database itself.
        sa.Index(
            "uq_alarms_open_key",
            "rule",
            "device",
            "point",
            unique=True,
            sqlite_where=sa.text(OPEN_WHERE),
            postgresql_where=sa.text(OPEN_WHERE),
        ),
        sa.Index("ix_alarms_state", "state"),
        sa.Index("ix_alarms_device", "device"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(sa.String(128))
    site: Mapped[str] = mapped_column(sa.String(64))
    system: Mapped[str | None] = mapped_column(sa.String(32))
    device: Mapped[str] = mapped_column(sa.String(64))
    point: Mapped[str] = mapped_column(sa.String(128), server_default="")
    zone: Mapped[str | None] = mapped_column(sa.String(64))
    priority: Mapped[str] = mapped_column(sa.String(16))
    state: Mapped[str] = mapped_column(sa.String(16))
    shelved: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    shelved_until_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    shelved_by: Mapped[str | None] = mapped_column(sa.String(128))
    shelve_reason: Mapped[str | None] = mapped_column(sa.Text)
    suppressed: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    suppressed_reason: Mapped[str | None] = mapped_column(sa.Text)
    out_of_service: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    chattering: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    raised_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    activated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    source_ts_ms: Mapped[int] = mapped_column(sa.BigInteger)
    cleared_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    acked_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    acked_by: Mapped[str | None] = mapped_column(sa.String(128))
    closed_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    value: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    message: Mapped[str] = mapped_column(sa.Text, server_default="")
    action: Mapped[str] = mapped_column(sa.Text, server_default="")
    cause: Mapped[str] = mapped_column(sa.Text, server_default="")
    consequence: Mapped[str] = mapped_column(sa.Text, server_default="")
    # 0008: the pack's Chinese texts, and a fault-detection alarm's mode and wasted power
    message_zh: Mapped[str] = mapped_column(sa.Text, server_default="")
    action_zh: Mapped[str] = mapped_column(sa.Text, server_default="")
    cause_zh: Mapped[str] = mapped_column(sa.Text, server_default="")
    consequence_zh: Mapped[str] = mapped_column(sa.Text, server_default="")
    mode: Mapped[str | None] = mapped_column(sa.String(32))
    waste_kw: Mapped[float | None] = mapped_column(sa.Float)
    count: Mapped[int] = mapped_column(sa.Integer, server_default="1")
    ticket_ids: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    last_hit_ms: Mapped[int] = mapped_column(sa.BigInteger)
    last_announced_ms: Mapped[int] = mapped_column(sa.BigInteger)
    escalations: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.Integer, server_default="1")


class JournalRow(Base):
    """Append-only: who did what to which alarm or ticket, when and why."""

    __tablename__ = "journal"
    __table_args__ = (
        sa.Index("ix_journal_alarm_id", "alarm_id"),
        sa.Index("ix_journal_ticket_id", "ticket_id"),
        sa.Index("ix_journal_at_ms", "at_ms"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    actor: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    alarm_id: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.ForeignKey("alarms.id", ondelete="RESTRICT")
    )
    # No foreign key yet: the tickets table arrives in a later migration.
    ticket_id: Mapped[str | None] = mapped_column(sa.String(64))
    rule: Mapped[str | None] = mapped_column(sa.String(128))
    device: Mapped[str | None] = mapped_column(sa.String(64))
    point: Mapped[str | None] = mapped_column(sa.String(128))
    state: Mapped[str | None] = mapped_column(sa.String(16))
    detail: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    # SHA-256 (hex) over the previous entry's hash and this entry's canonical JSON
    # (gateway.store.journal; migration 0009): the chain `sitewatch journal verify` checks
    hash: Mapped[str | None] = mapped_column(sa.String(64))


class AlarmChangeRow(Base):
    """Bounded log of the changes sent to listeners, for SSE ``Last-Event-ID`` replay."""

    __tablename__ = "alarm_changes"

    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    alarm_id: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[Any] = mapped_column(sa.JSON, nullable=False)


class OutOfServiceRow(Base):
    """(rule, device) pairs an operator took out of service."""

    __tablename__ = "out_of_service"

    rule: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    device: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    since_ms: Mapped[int] = mapped_column(sa.BigInteger)
    by: Mapped[str] = mapped_column(sa.String(128))
    reason: Mapped[str] = mapped_column(sa.Text)


class RuleStateRow(Base):
    """The rule engine's pending timers, saved so they resume after a restart."""

    __tablename__ = "rule_state"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    saved_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[Any] = mapped_column(sa.JSON, nullable=False)


class MetaRow(Base):
    """Named counters (``alarm_seq``: the last SSE event id handed out)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger, server_default="0")


alarms: sa.Table = AlarmRow.__table__  # type: ignore[assignment]
journal: sa.Table = JournalRow.__table__  # type: ignore[assignment]
alarm_changes: sa.Table = AlarmChangeRow.__table__  # type: ignore[assignment]
out_of_service: sa.Table = OutOfServiceRow.__table__  # type: ignore[assignment]
rule_state: sa.Table = RuleStateRow.__table__  # type: ignore[assignment]
meta: sa.Table = MetaRow.__table__  # type: ignore[assignment]

ALARM_SEQ = "alarm_seq"


# --------------------------------------------------------------------- tickets (0002)
TICKET_OPEN_WHERE = "status NOT IN ('closed', 'cancelled')"


class TicketRow(Base):
    """Maintenance tickets (``gateway.tickets``): one open ticket per (rule, device, crew),
    enforced by a partial unique index (person tickets have no rule, and NULLs never
    collide)."""

    __tablename__ = "tickets"
    __table_args__ = (
        sa.Index(
            "uq_tickets_open_key",
            "rule",
            "device",
            "crew",
            unique=True,
            sqlite_where=sa.text(TICKET_OPEN_WHERE),
            postgresql_where=sa.text(TICKET_OPEN_WHERE),
        ),
        sa.Index("ix_tickets_status", "status"),
        sa.Index("ix_tickets_crew", "crew"),
        sa.Index("ix_tickets_assignee", "assignee"),
        sa.Index("ix_tickets_created_at_ms", "created_at_ms"),
        # preventive maintenance (0004): one ticket per occurrence of a plan on an asset
        sa.Index("uq_tickets_plan_occurrence", "plan_id", "asset", "due_at_ms", unique=True),
        sa.Index("ix_tickets_asset", "asset"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(sa.String(256))
    description: Mapped[str | None] = mapped_column(sa.Text)
    category: Mapped[str] = mapped_column(sa.String(32))
    priority: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    rule: Mapped[str | None] = mapped_column(sa.String(128))
    crew: Mapped[str] = mapped_column(sa.String(64))
    assignee: Mapped[str | None] = mapped_column(sa.String(64))
    device: Mapped[str | None] = mapped_column(sa.String(64))
    system: Mapped[str | None] = mapped_column(sa.String(32))
    zone: Mapped[str | None] = mapped_column(sa.String(64))
    alarm_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_by: Mapped[str] = mapped_column(sa.String(128))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    assigned_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    started_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    resolved_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    closed_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    cancelled_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    assign_by_ms: Mapped[int] = mapped_column(sa.BigInteger)
    respond_by_ms: Mapped[int] = mapped_column(sa.BigInteger)
    resolve_by_ms: Mapped[int] = mapped_column(sa.BigInteger)
    callback_by_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    breached: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    escalations: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    escalated_to: Mapped[str | None] = mapped_column(sa.String(128))
    repeat_of: Mapped[int | None] = mapped_column(sa.BigInteger)
    satisfaction: Mapped[int | None] = mapped_column(sa.Integer)
    condition_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    condition_cleared_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    reopened: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.Integer, server_default="1")
    # preventive maintenance (0004): the plan, asset and due time of an occurrence, the
    # corrective ticket's first ticket, the checklist with its answers, cost entries
    plan_id: Mapped[str | None] = mapped_column(sa.String(64))
    asset: Mapped[str | None] = mapped_column(sa.String(64))
    due_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    parent_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    checklist: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    answers: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    costs: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    # requests from people (0005): the survey's answers, the written reply to a complaint
    # ({"text", "by", "by_name", "at_ms"}) and when it is due, how a request came in
    survey: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    reply: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    reply_by_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    # inspection rounds (0006): the round whose failed item opened the ticket
    round_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class OutboxRow(Base):
    """Durable notifications (``gateway.outbox``): delivered oldest first per ``dest``
    and deleted once delivered."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_dest_id", "dest", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dest: Mapped[str] = mapped_column(sa.String(512))
    topic: Mapped[str] = mapped_column(sa.String(512))
    payload: Mapped[str] = mapped_column(sa.Text)
    ticket_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    attempts: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    last_attempt_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_error: Mapped[str | None] = mapped_column(sa.Text)


tickets: sa.Table = TicketRow.__table__  # type: ignore[assignment]
outbox: sa.Table = OutboxRow.__table__  # type: ignore[assignment]


# ---------------------------------------------------------------------- people (0003)
class UserRow(Base):
    """People who sign in (``gateway.people.users``). ``roles`` are those an admin
    granted; ``site_roles`` those the site file gives (crew member, lead, site manager),
    rewritten by every sync; a user holds both. ``password_hash`` is an Argon2 hash (never
    the password); ``NULL`` until one is set."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    roles: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    site_roles: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    crew: Mapped[str | None] = mapped_column(sa.String(64))
    active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true())
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    password_set_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class SessionRow(Base):
    """Signed-in sessions (``gateway.people.sessions``): the cookie's token and the CSRF
    token are stored as SHA-256 hashes only; ``id`` is a public name for the journal."""

    __tablename__ = "sessions"
    __table_args__ = (
        sa.Index("uq_sessions_token_hash", "token_hash", unique=True),
        sa.Index("ix_sessions_user_id", "user_id"),
        sa.Index("ix_sessions_expires_at_ms", "expires_at_ms"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    csrf_hash: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE")
    )
    addr: Mapped[str | None] = mapped_column(sa.String(64))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(sa.BigInteger)
    expires_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class ApiKeyRow(Base):
    """Machine keys (``gateway.people.keys``): the token is stored as a SHA-256 hash; a
    revoked key keeps its row (``revoked_at_ms``) so the audit trail can name it."""

    __tablename__ = "api_keys"
    __table_args__ = (sa.Index("uq_api_keys_token_hash", "token_hash", unique=True),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    roles: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(128))
    expires_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    revoked_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_used_ms: Mapped[int | None] = mapped_column(sa.BigInteger)


class LoginThrottleRow(Base):
    """Failed sign-ins per user id or per address (``gateway.people.lockout``): the times
    of the last failures within the window (at most the limit) and the lock's end."""

    __tablename__ = "login_throttle"
    __table_args__ = (sa.Index("ix_login_throttle_updated_at_ms", "updated_at_ms"),)

    kind: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    failures: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    locked_until_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


users: sa.Table = UserRow.__table__  # type: ignore[assignment]
sessions: sa.Table = SessionRow.__table__  # type: ignore[assignment]
api_keys: sa.Table = ApiKeyRow.__table__  # type: ignore[assignment]
login_throttle: sa.Table = LoginThrottleRow.__table__  # type: ignore[assignment]


# ----------------------------------------------------------- maintenance (0004)
class PmPlanRow(Base):
    """Maintenance plans (``gateway.maintenance``): the site file's (``source`` site,
    rewritten by every sync) and those made through the API; ``spec`` is the plan as
    validated (``rules.site.Plan``); ``anchor_ms`` is when it was first seen."""

    __tablename__ = "pm_plans"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16))
    spec: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    anchor_ms: Mapped[int] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(128))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class PmStateRow(Base):
    """Where each (plan, asset) stands: the next calendar due time or meter mark, since
    when a trend is read, how many occurrences were opened; ``version`` guards updates."""

    __tablename__ = "pm_state"

    plan_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    asset: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    next_due_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    next_meter: Mapped[float | None] = mapped_column(sa.Float)
    since_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    opened: Mapped[int] = mapped_column(sa.Integer, server_default="0")
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.Integer, server_default="1")


class MeterRow(Base):
    """Meters integrated from telemetry (``gateway.maintenance.meters``): the value, the
    last reading's device time and raw value (state or counter), saved so they survive a
    restart."""

    __tablename__ = "meters"

    device: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[float] = mapped_column(sa.Float)
    last_ts_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_raw: Mapped[float | None] = mapped_column(sa.Float)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class MeterDayRow(Base):
    """One row per device, field and site-local day: the sum and count of a trend
    field's readings (its daily mean) or a meter's value at the day's last reading."""

    __tablename__ = "meter_days"

    device: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    field: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    day: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    total: Mapped[float] = mapped_column(sa.Float)
    n: Mapped[int] = mapped_column(sa.Integer)
    last: Mapped[float | None] = mapped_column(sa.Float)


pm_plans: sa.Table = PmPlanRow.__table__  # type: ignore[assignment]
pm_state: sa.Table = PmStateRow.__table__  # type: ignore[assignment]
meters: sa.Table = MeterRow.__table__  # type: ignore[assignment]
meter_days: sa.Table = MeterDayRow.__table__  # type: ignore[assignment]


# ------------------------------------------------------ requests, notifications (0005)
# in their own module (this one stays small); imported here so the metadata has them
from gateway.store import models_requests as _requests  # noqa: E402

portal_requests: sa.Table = _requests.portal_requests
portal_keys: sa.Table = _requests.portal_keys
notify_profiles: sa.Table = _requests.notify_profiles
notifications: sa.Table = _requests.notifications
alarm_notices: sa.Table = _requests.alarm_notices

# inspection rounds and photos (0006): gateway.store.models_rounds
# cluster leases and members (0007): gateway.store.models_leases
# the head of the journal's hash chain (0009): gateway.store.models_journal
# the energy roll-up (0011): gateway.store.models_energy
from gateway.store import models_energy as _energy  # noqa: E402, F401
from gateway.store import models_journal as _journal  # noqa: E402, F401
from gateway.store import models_leases as _leases  # noqa: E402, F401
from gateway.store import models_rounds as _rounds  # noqa: E402, F401
