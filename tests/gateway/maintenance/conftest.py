"""Fixtures of the maintenance tests: a migrated SQLite file, the injected clock, the
ticket service and the maintenance service over it, rebuilt at will (a restart)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.maintenance import MaintenanceService
from gateway.site import load_site
from gateway.store import make_engine, migrate
from gateway.store import models as m
from gateway.tickets import TicketService
from gateway.tickets.model import Ticket, from_row
from rules.site import Site

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z = 08:00 in Asia/Shanghai
DAY_S = 86_400.0


@dataclass
class World:
    url: str
    clock: ManualClock
    site: Site
    engine: sa.Engine = field(init=False)
    tickets: TicketService = field(init=False)
    pm: MaintenanceService = field(init=False)
    restarts: int = 0

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self._build()

    def _build(self) -> None:
        self.tickets = TicketService(self.engine, {}, self.clock, self.site)
        self.pm = MaintenanceService(self.engine, self.site, self.clock, self.tickets)

    def restart(self, *, clean: bool = True) -> None:
        """A new process over the same database (``clean``: the old one closed first)."""
        if clean:
            self.pm.close()
        self.engine.dispose()
        self.engine = make_engine(self.url)
        self._build()
        self.restarts += 1

    def run_until(self, until_s: float, step_s: float, **kw: Any) -> None:
        while self.clock.now() < until_s:
            self.clock.advance(min(step_s, until_s - self.clock.now()))
            self.pm.tick(self.clock.now_ms())

    def all_tickets(self) -> list[Ticket]:
        with self.engine.connect() as conn:
            return [
                from_row(r)
                for r in conn.execute(sa.select(m.tickets).order_by(m.tickets.c.id)).mappings()
            ]


def make_world(tmp_path: Path, site: Site | None = None) -> World:
    return World(f"sqlite:///{tmp_path}/state.db", ManualClock(T0), site or load_site())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = make_world(tmp_path)
    yield w
    w.engine.dispose()
