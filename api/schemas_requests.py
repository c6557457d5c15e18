"""Shapes of the request page, the survey, complaint replies and notification profiles
(contract section 9). Bodies are strict like those of ``api.schemas`` (no ``"5"`` for a
score, no ``"true"`` for a switch); texts have a length limit, and the whole body of the
request page is bounded before it is parsed (``api.routes.portal``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from api.schemas import Public, Time

Kind = Literal["cleaning", "repair", "security", "complaint", "enquiry", "other"]
ChatKind = Literal["wecom", "dingtalk", "feishu", "slack", "teams"]
Score = StrictInt


class PortalRequest(BaseModel):
    """``POST /r/{zone_token}``: what is wrong, and optionally how to reach the person."""

    kind: Kind
    description: str | None = Field(None, max_length=2000)
    contact: str | None = Field(None, max_length=128, description="phone number or e-mail")
    photo: str | None = Field(None, max_length=64, description="id of an uploaded photo")


class PortalCreated(Public):
    progress_url: str = Field(description="the private link: /p/{progress_token}")


class PortalZone(Public):
    zone: str
    name: str
    floor: str | None = None
    site: str


class Progress(Public):
    """What the person sees of their request: no ticket id, no name, no contact."""

    status: str
    kind: str
    created_at: Time
    resolve_by: Time
    survey_open: bool


class Survey(BaseModel):
    """``POST /p/{progress_token}/survey``: the seed's four dimensions, 1-10, once."""

    overall: Score = Field(ge=1, le=10)
    speed: Score = Field(ge=1, le=10)
    thoroughness: Score = Field(ge=1, le=10)
    attitude: Score = Field(ge=1, le=10)
    comment: str | None = Field(None, max_length=2000)


class ComplaintReply(BaseModel):
    """``POST /api/v1/tickets/{id}/reply``: the written reply to the complainant."""

    text: str = Field(min_length=1, max_length=4000)


class ChatHook(BaseModel):
    kind: ChatKind
    url: str = Field(min_length=8, max_length=1000)


class NotifyProfileIn(BaseModel):
    """``PUT /api/v1/me/notify``: the signed-in person's channels."""

    email: str | None = Field(None, max_length=256)
    chats: list[ChatHook] = Field(default_factory=list, max_length=5)
    browser: StrictBool = False


class NotifyProfileOut(Public):
    user: str
    email: str | None = None
    chats: list[dict[str, str]]
    browser: bool


class NotificationItem(Public):
    id: int
    at: Time
    title: str
    body: str
    ticket_id: int | None = None
    alarm_id: int | None = None


class NotificationPage(Public):
    items: list[NotificationItem]
    total: int


class ZoneLink(Public):
    zone: str
    name: str
    floor: str | None = None
    url: str


class ZoneLinks(Public):
    items: list[ZoneLink]
    total: int
