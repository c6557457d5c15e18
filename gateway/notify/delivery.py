"""The outbox's channel destinations for notifications (``gateway.outbox.Channel``).

- ``email:<address>`` (:class:`EmailChannel`): the row's payload is
  ``{"subject", "text"}``; sent with aiosmtplib to ``smtp_url`` from ``smtp_from``;
  ``Message-ID`` ``<sitewatch-<site>-<row id>@sitewatch>``.
- ``chat:<kind>:<id>`` (:class:`ChatChannel`): the row's ``topic`` is the webhook URL,
  its payload the JSON body of ``gateway.notify.chat``; POSTed as ``application/json``.
  ``<id>`` is a digest of the URL, so the URL (a credential) never shows in a log line
  or a metric label, and each group's messages keep their order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import httpx

from gateway.notify.chat import answer_error
from gateway.notify.email import SmtpTarget, build_message, send

EMAIL_PREFIX = "email:"
CHAT_PREFIX = "chat:"


def chat_dest(kind: str, url: str) -> str:
    return f"{CHAT_PREFIX}{kind}:{hashlib.sha256(url.encode()).hexdigest()[:16]}"


class EmailChannel:
    def __init__(self, target: SmtpTarget | None, sender: str, site: str) -> None:
        self.target = target
        self.sender = sender
        self.site = site
        self.sent = 0

    async def deliver(self, row: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        if self.target is None:
            return "no SMTP server configured (smtp_url)"
        data = json.loads(str(row["payload"]))
        to = str(row["dest"])[len(EMAIL_PREFIX) :]
        msg = build_message(
            self.sender,
            to,
            str(data["subject"]),
            str(data["text"]),
            f"sitewatch-{self.site}-{row['id']}@sitewatch",
        )
        error = await send(self.target, msg)
        if error is None:
            self.sent += 1
        return error


class ChatChannel:
    def __init__(self) -> None:
        self.sent = 0

    async def deliver(self, row: Mapping[str, Any], client: httpx.AsyncClient) -> str | None:
        kind = str(row["dest"]).split(":")[1]
        try:
            resp = await client.post(
                str(row["topic"]),
                content=str(row["payload"]).encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return type(exc).__name__
        try:
            payload = resp.json()
        except ValueError:
            payload = None
        error = answer_error(kind, resp.status_code, payload)
        if error is None:
            self.sent += 1
        return error
