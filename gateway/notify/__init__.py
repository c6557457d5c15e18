"""Notifications of people: their channels, the messages' forms, who hears what.

- ``profiles``: each person's channels (e-mail, chat webhooks, browser);
- ``chat``: the documented JSON of WeCom, DingTalk, Feishu, Slack and Teams webhooks;
- ``email``: SMTP with aiosmtplib; ``delivery``: the outbox's channel destinations;
- ``notifier``: :class:`Notifier`, from a ticket change or an unacknowledged critical
  alarm to outbox rows and the browser feed.
"""

from __future__ import annotations

from gateway.notify.chat import CHAT_KINDS, Notice, chat_body
from gateway.notify.delivery import ChatChannel, EmailChannel, chat_dest
from gateway.notify.email import SmtpTarget, parse_smtp_url
from gateway.notify.notifier import Notifier
from gateway.notify.profiles import Profile, Profiles

__all__ = [
    "CHAT_KINDS",
    "ChatChannel",
    "EmailChannel",
    "Notice",
    "Notifier",
    "Profile",
    "Profiles",
    "SmtpTarget",
    "chat_body",
    "chat_dest",
    "parse_smtp_url",
]
