"""A site's request page, tickets, outbox and notifier over SQLite in a temp dir, the demo
site, the default rule pack and a ManualClock (Monday 10:00 site time): what the request
and notification tests share (``build_requests`` wires it as ``build_site`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway.alarms import AlarmService
from gateway.clock import ManualClock
from gateway.outbox import Outbox
from gateway.requests.wiring import build_requests
from gateway.settings import Settings
from gateway.site import load_site
from gateway.store import make_engine, migrate
from gateway.store.models import outbox as outbox_table
from gateway.tickets import TicketService
from rules import load_default_pack

SITE = load_site()
SPECS = load_default_pack().specs
MON_10H = 1_767_578_400.0  # 2026-01-05T02:00:00Z: Monday 10:00 in Asia/Shanghai
KEY = "k" * 32
OLD_KEY = "o" * 32


class Env:
    def __init__(self, tmp_path: Path, **settings: Any) -> None:
        self.db_url = f"sqlite:///{tmp_path}/r.db"
        self.engine = make_engine(self.db_url)
        migrate(self.engine)
        self.clock = ManualClock(MON_10H)
        values: dict[str, Any] = {"portal_secret": KEY, "public_url": "https://sw.example"}
        values.update(settings)
        self.settings = Settings(**values)
        self.alarms = AlarmService(self.engine, SPECS, self.clock, SITE)
        self.outbox = Outbox(self.engine, self.clock, "sc01", backoff_min_s=0.05, poll_s=0.05)
        self.tickets = TicketService(
            self.engine, SPECS, self.clock, SITE, alarms=self.alarms, outbox=self.outbox
        )
        self.requests, self.notifier = build_requests(
            self.settings,
            SITE,
            self.clock,
            self.engine,
            tickets=self.tickets,
            outbox=self.outbox,
            alarms=self.alarms,
            specs=SPECS,
        )

    def token(self, zone: str = "lobby") -> str:
        return self.requests.tokens.sign(zone)

    def submit(self, kind: str = "cleaning", zone: str = "lobby", **kw: Any) -> str:
        kw.setdefault("address", "10.0.0.1")
        return self.requests.submit(self.token(zone), kind=kind, **kw)

    def ticket_of(self, progress_token: str) -> dict[str, Any]:
        from gateway.requests.tokens import token_hash
        from gateway.store.models import portal_requests

        with self.engine.connect() as conn:
            tid = conn.execute(
                sa.select(portal_requests.c.ticket_id).where(
                    portal_requests.c.token_hash == token_hash(progress_token)
                )
            ).scalar_one()
        return self.tickets.get(tid)

    def move(self, tid: int, *steps: str, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for to in steps:
            out = self.tickets.transition(tid, to, "operator", **kw)
        return out

    def outbox_rows(self, prefix: str = "") -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(outbox_table).order_by(outbox_table.c.id)).mappings()
            return [dict(r) for r in rows if str(r["dest"]).startswith(prefix)]
