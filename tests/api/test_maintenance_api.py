"""Assets, plans, checklists and the PM figures over HTTP (contract section 7), on the
gateway's own services (a SQLite file) behind the API's fake runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.fakes import FakeRuntime, auth, make_app, with_real_services

ROLES = ("viewer", "operator", "technician", "admin", "manager")


def _as(role: str) -> dict[str, str]:
    return {"Authorization": "Bearer tok-manager-1"} if role == "manager" else auth(role)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    rt = FakeRuntime()
    rt.tokens["tok-manager-1"] = "manager"
    svc = with_real_services(rt, tmp_path)
    rt.maintenance = svc.maintenance  # type: ignore[attr-defined]
    app, _ = make_app(rt)
    with TestClient(app) as client:
        yield client, svc
    svc.db.dispose()


PLAN = {
    "title": "Lift monthly service",
    "assets": ["lift-01"],
    "crew": "electrical",
    "priority": "medium",
    "checklist": [{"id": "brakes", "text": "Brakes tested", "kind": "check"}],
    "trigger": {"calendar": "FREQ=MONTHLY;BYMONTHDAY=10;BYHOUR=9", "lead_days": 2},
}


def test_every_role_reads_assets_and_plans(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    for role in ROLES:
        r = client.get("/api/v1/assets", headers=_as(role))
        assert r.status_code == 200, (role, r.text)
        by_id = {a["id"]: a for a in r.json()["items"]}
        assert by_id["ahu-01"]["device"] == "ahu-01" and by_id["ahu-01"]["make"] == "Carrier"
        assert by_id["carpet-lobby"]["device"] is None and by_id["carpet-lobby"]["type"] == "carpet"
        assert client.get("/api/v1/plans", headers=_as(role)).status_code == 200
    one = client.get("/api/v1/assets/fp-01", headers=auth("viewer")).json()
    assert one["history"] == [] and one["cost"] == {"labour_min": 0.0, "parts": 0.0}
    assert "fire-panel-weekly" in one["plans"]
    assert client.get("/api/v1/assets/nope", headers=auth("viewer")).status_code == 404
    assert client.get("/api/v1/assets", headers={}).status_code == 401
    got = client.get("/api/v1/plans", headers=auth("viewer")).json()
    plans = {p["id"]: p for p in got["items"]}
    assert got["total"] == len(plans) == 9
    assert plans["fcu-filter-2000h"]["trigger"] == {
        "meter": "fan_hours",
        "every": 2000.0,
        "due_days": 7.0,
    }
    assert len(plans["extinguisher-quarterly"]["assets_resolved"]) == 6


def test_managers_and_admins_make_plans(api: tuple[TestClient, Any]) -> None:
    client, _ = api
    for role in ("viewer", "operator", "technician"):
        r = client.post("/api/v1/plans", json=PLAN, headers=_as(role))
        assert r.status_code == 403, (role, r.text)
    r = client.post("/api/v1/plans", json={**PLAN, "id": "lift-monthly"}, headers=_as("manager"))
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "api" and r.json()["created_by"] == "manager"
    r = client.post("/api/v1/plans", json={**PLAN, "id": "lift-monthly"}, headers=_as("admin"))
    assert r.status_code == 409
    r = client.post("/api/v1/plans", json=PLAN, headers=_as("admin"))  # an id made up
    assert r.status_code == 201 and r.json()["id"].startswith("plan-")
    bad = [
        {**PLAN, "crew": "plumbers"},
        {**PLAN, "assets": ["no-such-asset"]},
        {**PLAN, "assets": {"type": "spaceship"}},
        {**PLAN, "trigger": {"calendar": "FREQ=FORTNIGHTLY"}},
        {**PLAN, "trigger": {"meter": "wheel_turns", "every": 3}},
    ]
    for body in bad:
        r = client.post("/api/v1/plans", json=body, headers=_as("manager"))
        assert r.status_code == 422, (body, r.text)
    ids = {p["id"] for p in client.get("/api/v1/plans", headers=auth("viewer")).json()["items"]}
    assert "lift-monthly" in ids


def test_the_checklist_route_and_the_409_naming_items(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    t = svc.tickets.open_preventive(
        plan_id="fire-panel-weekly",
        asset="fp-01",
        due_at_ms=svc.tickets._clock.now_ms() + 86_400_000,
        title="Fire panel test",
        crew="fire-safety",
        priority="medium",
        checklist=[
            {"id": "lamps", "text": "Lamps", "kind": "check"},
            {"id": "battery", "text": "Battery (V)", "kind": "number", "min": 24, "max": 28.5},
        ],
        device="fp-01",
        system="fire",
        zone="plant-room",
    )
    tid = t["id"]
    url = f"/api/v1/tickets/{tid}"
    assert (
        client.post(
            f"{url}/transition", json={"to": "in_progress"}, headers=auth("technician")
        ).status_code
        == 200
    )
    r = client.post(f"{url}/transition", json={"to": "resolved"}, headers=auth("technician"))
    assert r.status_code == 409 and r.json()["detail"]["unanswered"] == ["lamps", "battery"]
    r = client.post(f"{url}/checklist", json={"answers": {"lamps": True}}, headers=auth("viewer"))
    assert r.status_code == 403
    r = client.post(
        f"{url}/checklist", json={"answers": {"lamps": "yes"}}, headers=auth("technician")
    )
    assert r.status_code == 422
    r = client.post(
        f"{url}/checklist",
        json={"answers": {"lamps": True, "battery": 27.1}},
        headers=auth("technician"),
    )
    assert r.status_code == 200 and r.json()["answers"] == {"lamps": True, "battery": 27.1}
    r = client.post(
        f"{url}/costs",
        json={"labour_min": 20, "parts": [{"name": "fuse", "qty": 2, "unit_cost": 1.5}]},
        headers=auth("technician"),
    )
    assert r.status_code == 200 and r.json()["costs"][0]["labour_min"] == 20
    r = client.post(f"{url}/transition", json={"to": "resolved"}, headers=auth("technician"))
    assert r.status_code == 200, r.text
    detail = client.get("/api/v1/assets/fp-01", headers=auth("viewer")).json()
    assert detail["history"][0]["id"] == tid and detail["cost"] == {
        "labour_min": 20.0,
        "parts": 3.0,
    }


def test_kpis_and_the_calendar(api: tuple[TestClient, Any]) -> None:
    client, svc = api
    svc.maintenance.tick(svc.tickets._clock.now_ms())
    k = client.get("/api/v1/kpis", headers=auth("viewer")).json()
    for key in ("pm_compliance_pct", "planned_pct", "pm_overdue"):
        assert key in k
    assert k["pm_overdue"] == 0 and k["preventive"]["definitions"]
    cal = client.get("/api/v1/maintenance/calendar?days=100", headers=auth("viewer")).json()
    plans = {i["plan_id"] for i in cal["items"]}
    assert {"fire-panel-weekly", "ahu-filter-monthly", "extinguisher-quarterly"} <= plans
    weekly = [i for i in cal["items"] if i["plan_id"] == "fire-panel-weekly"]
    assert 14 <= len(weekly) <= 15  # Mondays in 100 days
