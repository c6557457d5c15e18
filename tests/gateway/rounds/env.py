"""A site's rounds over SQLite in a temp dir: the demo site with test templates, a ticket
service, a photo folder, a ManualClock (Monday 2026-01-05 08:00 in Asia/Shanghai) and a
recorder of what leads are told. What the round tests share."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import Connection

from gateway.clock import ManualClock
from gateway.people.principal import Principal, Via
from gateway.photos import FolderStore, Photos
from gateway.rounds import RoundService
from gateway.site import load_site
from gateway.store import make_engine, migrate
from gateway.store import models as m
from gateway.tickets import TicketService
from rules.site import RoundTemplate
from rules.vocab import Role

MON_8H = 1_767_571_200.0  # 2026-01-05T00:00:00Z = Monday 08:00 in Asia/Shanghai
MIN = 60.0

TEN = RoundTemplate.model_validate(
    {
        "id": "ten-points",
        "name": "Ten-point cleaning check",
        "crew": "cleaning",
        "schedule": {"times": ["09:00", "15:00"]},
        "grace_min": 30,
        "window_min": 90,
        "checkpoints": [
            {
                "id": f"cp{i:02d}",
                "zone": "lobby" if i < 5 else "sand-table",
                "name": f"Point {i}",
                "asset": "carpet-lobby" if i == 0 else None,
                "items": [
                    {"id": "floor", "text": "Floor clean", "standard": "无水渍、无垃圾"},
                    {"id": "bins", "text": "Bins emptied", "photo": "never"},
                ],
            }
            for i in range(10)
        ],
    }
)
TOILETS = RoundTemplate.model_validate(
    {
        "id": "toilets",
        "name": "Toilets",
        "crew": "cleaning",
        "schedule": {"every_min": 120, "start": "09:00", "end": "18:00"},
        "checkpoints": [
            {
                "id": "wc-1f",
                "zone": "lobby",
                "items": [
                    {"id": "odour", "text": "No odour", "photo": "never"},
                    {"id": "soap", "text": "Soap level %", "kind": "number", "min": 20},
                ],
            }
        ],
    }
)


def person(user: str, crew: str | None, *roles: Role) -> Principal:
    return Principal(user, user, frozenset(roles or (Role.TECHNICIAN,)), crew, Via.SESSION)


HU = person("clean-hu", "cleaning")
MA = person("clean-ma", "cleaning", Role.TECHNICIAN, Role.LEAD)
CHEN = person("sec-chen", "security")
ADMIN = person("boss", None, Role.ADMIN)


def jpeg(size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG", exif=exif or Image.Exif())
    return buf.getvalue()


class Env:
    def __init__(self, tmp_path: Path, templates: tuple[RoundTemplate, ...] = (TEN, TOILETS)):
        self.url = f"sqlite:///{tmp_path}/state.db"
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.clock = ManualClock(MON_8H)
        self.site = load_site().model_copy(update={"rounds": list(templates)})
        self.tickets = TicketService(self.engine, {}, self.clock, self.site)
        self.photos = Photos(self.engine, FolderStore(tmp_path / "photos"), self.clock, "sc01")
        self.told: list[tuple[list[str], str]] = []
        self.rounds = RoundService(
            self.engine, self.site, self.clock, self.tickets, self.photos, tell=self._tell
        )

    def _tell(self, conn: Connection, people: list[str], title: str, lines: list[str], now: int):
        self.told.append((people, title))

    def at(self, hhmm: str) -> None:
        """Move the clock to today's (Monday's) local time ``hhmm`` and tick."""
        h, mi = (int(x) for x in hhmm.split(":"))
        self.clock.set(MON_8H + (h - 8) * 3600 + mi * 60)
        self.rounds.tick(force=True)

    def round_of(self, template: str, status: str | None = None) -> dict[str, Any]:
        items, _ = self.rounds.list([status] if status else None)
        return next(r for r in items if r["template_id"] == template)

    def photo(self, who: Principal = HU) -> str:
        return str(self.photos.upload(jpeg(), who)["id"])

    def tickets_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = sa.select(m.tickets).order_by(m.tickets.c.id)
            return [dict(r) for r in conn.execute(q).mappings()]

    def ok_answers(self) -> dict[str, Any]:
        return {"floor": True, "bins": True}
