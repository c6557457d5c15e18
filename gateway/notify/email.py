"""E-mail over SMTP with aiosmtplib (a maintained asyncio SMTP client).

``smtp_url`` says where and how: ``smtp://[user:pass@]host[:port]`` (port 25 by default;
STARTTLS when the server offers it), ``smtp+starttls://…`` (587; STARTTLS required) or
``smtps://…`` (465; TLS from the first byte). ``smtp_from`` is the sender. The
credentials stay in :class:`SmtpTarget` and never reach a log line, a message or an
error text (:meth:`SmtpTarget.__repr__` hides the password).

:func:`build_message` makes a plain-text UTF-8 message (the subject and the lines; no
HTML, so nothing a person typed can become markup); its ``Message-ID`` names the outbox
row, so the same row sent twice (at-least-once delivery) is recognisably one message.
:func:`send` hands it to the server and returns ``None`` or why it was not accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool = False
    starttls: bool | None = None  # None: when offered
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        who = f"{self.username}:***@" if self.username else ""
        return f"SmtpTarget({who}{self.host}:{self.port}, tls={self.tls})"


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("the SMTP URL starts with smtp://, smtp+starttls:// or smtps://")
    if not parts.hostname:
        raise ValueError("the SMTP URL names no host")
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError as exc:
        raise ValueError("the SMTP URL has a bad port") from exc
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "smtps",
        starttls=True if parts.scheme == "smtp+starttls" else None,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(sender: str, to: str, subject: str, text: str, msg_id: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject.replace("\r", " ").replace("\n", " ")[:200]
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = f"<{msg_id}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, charset="utf-8")
    return msg


async def send(target: SmtpTarget, msg: EmailMessage, timeout_s: float = 30.0) -> str | None:
    """``None`` when the server took the message, else why not (no credentials in it)."""
    try:
        await aiosmtplib.send(
            msg,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.tls,
            start_tls=False if target.tls else target.starttls,
            timeout=timeout_s,
        )
    except aiosmtplib.SMTPResponseException as exc:
        return f"SMTP {exc.code}"
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        return f"SMTP: {type(exc).__name__}"
    return None
