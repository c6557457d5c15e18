"""Tables of requests from people and their notifications (migration 0005).

Declared on the state store's one :class:`~gateway.store.models.Base` (the same metadata
the migrations are checked against) and re-exported by ``gateway.store.models``, which
imports this module at its end: ``models.portal_requests`` and the others are the names
to use.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, BigId


class PortalRequestRow(Base):
    """A request made on a zone's page (``gateway.requests``): its ticket, and the SHA-256
    of its progress token (the token itself is never stored)."""

    __tablename__ = "portal_requests"
    __table_args__ = (
        sa.Index("uq_portal_requests_token_hash", "token_hash", unique=True),
        sa.Index("uq_portal_requests_ticket_id", "ticket_id", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(sa.BigInteger)
    zone: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    contact: Mapped[str | None] = mapped_column(sa.String(128))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    surveyed_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)


class PortalKeyRow(Base):
    """The zone tokens' HMAC key made at first start when no ``portal_secret`` is set."""

    __tablename__ = "portal_keys"

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    secret: Mapped[str] = mapped_column(sa.String(128))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class NotifyProfileRow(Base):
    """How a person is told of their tickets (``gateway.notify``): an e-mail address, chat
    webhooks (``[{"kind", "url"}]``), browser notifications on the phone page."""

    __tablename__ = "notify_profiles"

    user_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(sa.String(256))
    chats: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    browser: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class NotificationRow(Base):
    """The browser channel's feed: what the phone page shows as notifications while open
    (kept a week)."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user_id_id", "user_id", "id"),
        sa.Index("ix_notifications_at_ms", "at_ms"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(sa.String(64))
    at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    title: Mapped[str] = mapped_column(sa.String(256))
    body: Mapped[str] = mapped_column(sa.Text)
    ticket_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    alarm_id: Mapped[int | None] = mapped_column(sa.BigInteger)


class AlarmNoticeRow(Base):
    """Critical alarms left unacknowledged whose leads and site manager were told."""

    __tablename__ = "alarm_notices"

    alarm_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    at_ms: Mapped[int] = mapped_column(sa.BigInteger)


portal_requests: sa.Table = PortalRequestRow.__table__  # type: ignore[assignment]
portal_keys: sa.Table = PortalKeyRow.__table__  # type: ignore[assignment]
notify_profiles: sa.Table = NotifyProfileRow.__table__  # type: ignore[assignment]
notifications: sa.Table = NotificationRow.__table__  # type: ignore[assignment]
alarm_notices: sa.Table = AlarmNoticeRow.__table__  # type: ignore[assignment]
