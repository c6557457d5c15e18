"""Shapes of the rounds and photos API (contract section 8): request bodies are strict
(an unknown field is a 422 naming it); responses let extra fields through."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas import Public
from rules.site import RoundCheckpoint, RoundSchedule
from rules.vocab import ID_PATTERN, Priority


class _Body(BaseModel):
    """A request body: unknown fields and values of another JSON type are refused (422)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class CheckpointAnswers(_Body):
    answers: dict[str, Any] = Field(description="item id -> value (check: bool, number, text)")
    photos: list[str] = Field(default_factory=list, max_length=10, description="photo ids")
    key: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{8,64}$",
        description="idempotency key of this answer (or the Idempotency-Key header): a "
        "replay with a key already applied changes nothing",
    )
    scanned: bool = Field(False, description="the checkpoint's QR code was scanned")
    client_at: int | None = Field(None, ge=0, description="when the phone took it, epoch ms")


class RoundFinish(_Body):
    note: str | None = Field(None, max_length=500)


class RoundAbandon(_Body):
    reason: str = Field(min_length=1, max_length=500)


class TemplateCreate(_Body):
    id: str = Field(pattern=f"^{ID_PATTERN}$")
    name: str = Field(min_length=1, max_length=200)
    crew: str
    schedule: RoundSchedule
    checkpoints: list[RoundCheckpoint] = Field(min_length=1, max_length=100)
    grace_min: float = 30
    window_min: float = 60
    open_ahead_min: float = 15
    priority: Annotated[Priority, Field(strict=False)] = Priority.MEDIUM
    description: str | None = None


class RoundPublic(Public):
    id: int
    template_id: str
    name: str
    crew: str
    status: str
    due_at: str
    start_by: str
    finish_by: str
    checkpoints: list[dict[str, Any]]
    findings: list[dict[str, Any]]


class RoundPage(Public):
    items: list[RoundPublic]
    total: int


class TemplatePublic(Public):
    id: str
    name: str
    crew: str
    source: str


class TemplatePage(Public):
    items: list[TemplatePublic]
    total: int


class RoundFigures(Public):
    """Over ``from``..``to``: per crew, fail rates (overall, by zone, per item), finding to
    fix, hot spots (see ``gateway.rounds.figures``)."""

    rounds: dict[str, dict[str, int]]
    inspected: int
    failed: int
    fail_pct: float | None
    by_zone: dict[str, dict[str, Any]]
    by_item: dict[str, dict[str, Any]]
    finding_to_fix: dict[str, Any]
    hot_spots: list[dict[str, Any]]


class PhotoCreated(Public):
    id: str
    content_type: str
    width: int
    height: int
