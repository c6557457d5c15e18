"""The rounds simulator drives the HTTP API: it does the demo site's due rounds with
failures at about its crews' rates, photos for failures, and leaves some undone."""

from __future__ import annotations

import random
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.photos import FolderStore, Photos
from gateway.rounds import RoundService
from gateway.site import load_site
from gateway.tickets import TicketService
from simulators.rounds import complete_due
from tests.api.fakes import FakeRuntime, auth, make_app
from tests.gateway.rounds.env import MON_8H


def test_the_simulator_does_the_demo_rounds(tmp_path: Path, people_db: sa.Engine) -> None:
    rt = FakeRuntime()
    rt.clock.set(MON_8H - 7 * 86_400)  # a week before: the templates are seen
    site = load_site()
    tickets = TicketService(people_db, {}, rt.clock, site)
    photos = Photos(people_db, FolderStore(tmp_path / "p"), rt.clock, "sc01")
    rounds = RoundService(people_db, site, rt.clock, tickets, photos)
    rt.tickets = tickets  # type: ignore[assignment]
    rt.rounds = rounds  # type: ignore[attr-defined]
    app, _ = make_app(rt)
    rng = random.Random(7)
    total = {"done": 0, "skipped": 0, "failed_checkpoints": 0, "checkpoints": 0}
    with TestClient(app, headers=auth("admin")) as c:
        for hour in range(8, 24):  # Monday 08:00 to 23:00, every hour
            rt.clock.set(MON_8H + (hour - 8) * 3600)
            for k, v in complete_due(c, rng).items():
                total[k] += v
        figures = c.get("/api/v1/kpis?days=1").json()
    assert total["done"] >= 5 and total["checkpoints"] >= 15
    fig = figures["inspection"]
    assert fig["inspected"] == total["checkpoints"] and fig["failed"] == total["failed_checkpoints"]
    assert set(figures["rounds"]) >= {"cleaning", "customer-service", "security", "fire-safety"}
    assert len(tickets.list()[0]) >= 1  # findings became tickets
