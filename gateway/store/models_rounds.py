"""Tables of inspection rounds and photos (migration 0006).

Declared on the state store's one :class:`~gateway.store.models.Base` and imported at the
end of ``gateway.store.models`` (so the metadata the migrations are checked against has
them); the names to use are this module's ``round_templates``, ``rounds``,
``round_checkpoints``, ``round_answers``, ``round_findings`` and ``photos``.

- ``round_templates``: the site file's and the API's templates (``spec``: the
  ``rules.site.RoundTemplate`` as JSON);
- ``rounds``: one occurrence of a template (unique per template and due time), its
  checkpoints copied from the template when it was made;
- ``round_checkpoints``: one row per inspected checkpoint of a round (its latest answers,
  whether it failed, when): what the fail rate counts (the scorecard reads
  ``done_at_ms`` and ``failed``);
- ``round_answers``: every answer as it came, with the phone's idempotency key (unique per
  round): a replay is recognised and not applied twice;
- ``round_findings``: a failed item and its ticket; a repeat while the ticket is open
  counts up here;
- ``photos``: metadata of a stored photo (the bytes are in the photo store, never here).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, BigId


class RoundTemplateRow(Base):
    __tablename__ = "round_templates"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(8))
    spec: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    anchor_ms: Mapped[int] = mapped_column(sa.BigInteger)
    created_by: Mapped[str | None] = mapped_column(sa.String(128))
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class RoundRow(Base):
    __tablename__ = "rounds"
    __table_args__ = (
        sa.Index("uq_rounds_template_id_due_at_ms", "template_id", "due_at_ms", unique=True),
        sa.Index("ix_rounds_status", "status"),
        sa.Index("ix_rounds_due_at_ms", "due_at_ms"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(sa.String(64))
    template_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    crew: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    due_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    start_by_ms: Mapped[int] = mapped_column(sa.BigInteger)
    finish_by_ms: Mapped[int] = mapped_column(sa.BigInteger)
    checkpoints: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    priority: Mapped[str] = mapped_column(sa.String(16))
    started_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    started_by: Mapped[str | None] = mapped_column(sa.String(128))
    finished_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    finished_by: Mapped[str | None] = mapped_column(sa.String(128))
    missed_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    abandoned_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.Integer, server_default="1")


class RoundCheckpointRow(Base):
    __tablename__ = "round_checkpoints"
    __table_args__ = (sa.Index("ix_round_checkpoints_done_at_ms", "done_at_ms"),)

    round_id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    checkpoint: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    template_id: Mapped[str] = mapped_column(sa.String(64))
    zone: Mapped[str] = mapped_column(sa.String(64))
    asset: Mapped[str | None] = mapped_column(sa.String(64))
    answers: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    photos: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    failed: Mapped[bool] = mapped_column(sa.Boolean)
    failed_items: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    scanned: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false())
    done_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    done_by: Mapped[str] = mapped_column(sa.String(128))


class RoundAnswerRow(Base):
    __tablename__ = "round_answers"
    __table_args__ = (
        sa.Index("uq_round_answers_round_id_key", "round_id", "key", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(sa.BigInteger)
    checkpoint: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    by: Mapped[str] = mapped_column(sa.String(128))
    at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    client_at_ms: Mapped[int | None] = mapped_column(sa.BigInteger)


class RoundFindingRow(Base):
    __tablename__ = "round_findings"
    __table_args__ = (
        sa.Index("ix_round_findings_place", "template_id", "checkpoint", "item"),
        sa.Index("ix_round_findings_ticket_id", "ticket_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    round_id: Mapped[int] = mapped_column(sa.BigInteger)
    template_id: Mapped[str] = mapped_column(sa.String(64))
    checkpoint: Mapped[str] = mapped_column(sa.String(64))
    item: Mapped[str] = mapped_column(sa.String(64))
    zone: Mapped[str] = mapped_column(sa.String(64))
    asset: Mapped[str | None] = mapped_column(sa.String(64))
    ticket_id: Mapped[int] = mapped_column(sa.BigInteger)
    rounds: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    photos: Mapped[Any] = mapped_column(sa.JSON, nullable=False)
    count: Mapped[int] = mapped_column(sa.Integer, server_default="1")
    first_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    last_at_ms: Mapped[int] = mapped_column(sa.BigInteger)


class PhotoRow(Base):
    __tablename__ = "photos"
    __table_args__ = (sa.Index("ix_photos_round_id", "round_id"),)

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    site: Mapped[str] = mapped_column(sa.String(64))
    uploaded_by: Mapped[str] = mapped_column(sa.String(128))
    uploaded_at_ms: Mapped[int] = mapped_column(sa.BigInteger)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    bytes: Mapped[int] = mapped_column(sa.Integer)
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    round_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    ticket_id: Mapped[int | None] = mapped_column(sa.BigInteger)


round_templates: sa.Table = RoundTemplateRow.__table__  # type: ignore[assignment]
rounds: sa.Table = RoundRow.__table__  # type: ignore[assignment]
round_checkpoints: sa.Table = RoundCheckpointRow.__table__  # type: ignore[assignment]
round_answers: sa.Table = RoundAnswerRow.__table__  # type: ignore[assignment]
round_findings: sa.Table = RoundFindingRow.__table__  # type: ignore[assignment]
photos: sa.Table = PhotoRow.__table__  # type: ignore[assignment]
