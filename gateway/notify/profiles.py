"""Each person's notification profile: which channels tell them of their tickets.

A profile (``notify_profiles``, one row per user id) holds an e-mail address, a list of
chat webhooks (``{"kind": "wecom"|"dingtalk"|"feishu"|"slack"|"teams", "url"}``, at most
:data:`MAX_CHATS`) and whether the phone page shows browser notifications. A person with
no row gets nothing but the MQTT and webhook messages every ticket change already makes.
:meth:`Profiles.public` never shows a webhook URL whole (it carries the group's key): the
scheme and host and the last four characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock
from gateway.errors import Invalid
from gateway.notify.chat import CHAT_KINDS
from gateway.store import models as m
from gateway.store.db import reader

MAX_CHATS = 5
EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


@dataclass(frozen=True, slots=True)
class Profile:
    user: str
    email: str | None = None
    chats: tuple[tuple[str, str], ...] = ()  # (kind, url)
    browser: bool = False

    @property
    def empty(self) -> bool:
        return not (self.email or self.chats or self.browser)


def mask_url(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.hostname}/…{url[-4:]}"


def check_chats(chats: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    if len(chats) > MAX_CHATS:
        raise Invalid(f"at most {MAX_CHATS} chat webhooks")
    out: list[tuple[str, str]] = []
    for c in chats:
        kind, url = str(c.get("kind", "")), str(c.get("url", "")).strip()
        if kind not in CHAT_KINDS:
            raise Invalid(f"unknown chat kind {kind!r} (kinds: {', '.join(CHAT_KINDS)})")
        p = urlsplit(url)
        if p.scheme not in ("http", "https") or not p.hostname or len(url) > 1000:
            raise Invalid("a chat webhook is an http(s) URL")
        if (kind, url) not in out:
            out.append((kind, url))
    return tuple(out)


class Profiles:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._clock = clock

    @staticmethod
    def _from(row: Mapping[str, Any] | sa.RowMapping) -> Profile:
        chats = tuple((str(c["kind"]), str(c["url"])) for c in row["chats"] or [])
        return Profile(row["user_id"], row["email"], chats, bool(row["browser"]))

    def get(self, user: str, conn: Connection | None = None) -> Profile:
        p = m.notify_profiles
        q = sa.select(p).where(p.c.user_id == user)
        if conn is not None:
            row = conn.execute(q).mappings().first()
        else:
            with self._reader.connect() as c:
                row = c.execute(q).mappings().first()
        return Profile(user) if row is None else self._from(row)

    def many(self, users: Sequence[str], conn: Connection) -> dict[str, Profile]:
        p = m.notify_profiles
        if not users:
            return {}
        rows = conn.execute(sa.select(p).where(p.c.user_id.in_(list(users)))).mappings()
        return {r["user_id"]: self._from(r) for r in rows}

    def set(
        self,
        user: str,
        *,
        email: str | None,
        chats: Sequence[Mapping[str, Any]],
        browser: bool,
    ) -> Profile:
        mail = (email or "").strip() or None
        if mail is not None and not EMAIL_RE.match(mail):
            raise Invalid("email is not an e-mail address")
        # a chat sent back as it was shown (its URL masked: it carries the group's key)
        # keeps the saved URL
        saved = {(k, mask_url(u)): u for k, u in self.get(user).chats}
        chats = [
            {**c, "url": saved.get((str(c.get("kind", "")), str(c.get("url", ""))), c.get("url"))}
            for c in chats
        ]
        checked = check_chats(chats)
        values = {
            "email": mail,
            "chats": [{"kind": k, "url": u} for k, u in checked],
            "browser": bool(browser),
            "updated_at_ms": self._clock.now_ms(),
        }
        p = m.notify_profiles
        with self._engine.begin() as conn:
            done = conn.execute(sa.update(p).where(p.c.user_id == user).values(values))
            if done.rowcount == 0:
                conn.execute(sa.insert(p).values(user_id=user, **values))
        return Profile(user, mail, checked, bool(browser))

    @staticmethod
    def public(p: Profile) -> dict[str, Any]:
        return {
            "user": p.user,
            "email": p.email,
            "chats": [{"kind": k, "url": mask_url(u)} for k, u in p.chats],
            "browser": p.browser,
        }
