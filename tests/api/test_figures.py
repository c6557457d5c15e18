"""The figures over HTTP (contract section 10): scorecard, energy, the monthly report, an
alarm's wasted energy; 422 with the accepted forms; roles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.clock import ManualClock
from gateway.store import make_engine, migrate
from tests.api.fakes import FakeRuntime, auth, make_app
from tests.gateway.figures import store_fixture as fx
from tests.gateway.figures.fixtures import FakeSink, small_site


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp_path: Path = tmp_path_factory.mktemp("figures")
    eng = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(eng)
    fx.build(eng)
    rt = FakeRuntime()
    rt.clock = ManualClock(fx.NOW / 1000)
    rt.site = small_site(
        {"language": "zh", "figures": {"satisfaction_overall": {"baseline": 7.2, "target": 8.3}}}
    )  # type: ignore[assignment]
    sink = FakeSink()
    start = fx.SEP + 9 * fx.DAY
    sink.add("lt-1", "power_w", [(start + i * fx.MIN, 1000.0) for i in range(24 * 60 + 1)])
    rt.sink = sink  # type: ignore[assignment]
    rt.db = eng  # type: ignore[attr-defined]
    app, _ = make_app(rt)
    with TestClient(app) as c:
        yield c
    eng.dispose()


def test_scorecard(client: TestClient) -> None:
    r = client.get("/api/v1/scorecard?period=2026-09", headers=auth("viewer"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["period"] == "2026-09"
    figs = {f["id"]: f for f in body["figures"]}
    needed = {
        "over_standard_time_pct",
        "satisfaction_overall",
        "satisfaction_speed",
        "satisfaction_thoroughness",
        "inspection_fail_pct",
        "composite_job_days",
        "first_time_fix_pct",
        "planned_pct",
        "lighting_kwh",
    }
    assert needed <= set(figs)
    for f in figs.values():
        assert {"id", "name", "definition", "baseline", "target", "value", "unit", "trend"} <= set(
            f
        )
        assert len(f["trend"]) == 12
    assert figs["satisfaction_overall"]["baseline"] == 7.2
    assert figs["satisfaction_overall"]["value"] == 7.0
    assert figs["lighting_kwh"]["value"] == 24.0
    assert figs["inspection_fail_pct"]["value"] is None
    assert figs["inspection_fail_pct"]["note"]
    assert figs["planned_pct"]["target"] is None


@pytest.mark.parametrize("period", ["2026-11", "2026-13", "nov", "2026-1"])
def test_scorecard_bad_period_is_422_with_the_accepted_forms(client: TestClient, period: str):
    r = client.get(f"/api/v1/scorecard?period={period}", headers=auth("admin"))
    assert r.status_code == 422
    assert "YYYY-MM" in r.json()["detail"]["accepted"][0]


def test_scorecard_roles(client: TestClient) -> None:
    assert client.get("/api/v1/scorecard").status_code == 401
    assert client.get("/api/v1/scorecard", headers=auth("operator")).status_code == 403


def test_energy(client: TestClient) -> None:
    q = "start=2026-09-10T00:00:00%2B08:00&end=2026-09-11T00:00:00%2B08:00"
    r = client.get(f"/api/v1/energy?{q}&by=zone&step=1h", headers=auth("viewer"))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert len(items) == 24
    assert {i["key"] for i in items} == {"lobby"}
    assert items[0] == {"key": "lobby", "start": "2026-09-09T16:00:00.000Z", "kwh": 1.0}
    r = client.get(f"/api/v1/energy?{q}&by=system&step=1mo", headers=auth("admin"))
    assert r.json()["items"] == [
        {"key": "lighting", "start": "2026-09-09T16:00:00.000Z", "kwh": 24.0}
    ]


def test_energy_by_device_is_the_documented_body(client: TestClient) -> None:
    q = "start=2026-09-09T00:00:00%2B08:00&end=2026-09-12T00:00:00%2B08:00"
    r = client.get(f"/api/v1/energy?{q}&by=device&step=1d", headers=auth("viewer"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "items": [
            {"key": "lt-1", "start": "2026-09-09T16:00:00.000Z", "kwh": 24.0},
        ],
        "total": 1,
        "by": "device",
        "step": "1d",
    }


def test_energy_with_too_many_items_is_422(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.figures import service

    monkeypatch.setattr(service, "MAX_ITEMS", 50)  # 3 metered devices x 24 hours: 72
    q = "start=2026-09-10T00:00:00%2B08:00&end=2026-09-11T00:00:00%2B08:00"
    r = client.get(f"/api/v1/energy?{q}&by=device&step=1h", headers=auth("viewer"))
    assert r.status_code == 422, r.text
    assert "items" in r.text
    r = client.get(f"/api/v1/energy?{q}&by=system&step=1h", headers=auth("viewer"))
    assert r.status_code == 200  # 2 systems x 24 hours


def test_energy_schema_is_documented(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/api/v1/energy"]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/Energy")


@pytest.mark.parametrize(
    "query",
    [
        "start=x&end=2026-09-11T00:00:00Z",
        "start=2026-09-11T00:00:00Z&end=2026-09-10T00:00:00Z",
        "start=0&end=9999999999999&step=1h",
        "start=0&end=1&by=floor",
    ],
)
def test_energy_bad_input_is_422(client: TestClient, query: str) -> None:
    r = client.get(f"/api/v1/energy?{query}", headers=auth("viewer"))
    assert r.status_code == 422, r.text


def test_monthly_report(client: TestClient) -> None:
    r = client.get("/api/v1/reports/monthly?month=2026-09", headers=auth("viewer"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "月度报告" in r.text
    again = client.get("/api/v1/reports/monthly?month=2026-09", headers=auth("viewer"))
    assert again.content == r.content
    csv = client.get("/api/v1/reports/monthly?month=2026-09&format=csv", headers=auth("viewer"))
    assert csv.headers["content-type"].startswith("text/csv")
    assert (
        client.get("/api/v1/reports/monthly?month=2030-01", headers=auth("viewer")).status_code
        == 422
    )
    assert client.get("/api/v1/reports/monthly", headers=auth("viewer")).status_code == 422


def test_alarm_waste_404(client: TestClient) -> None:
    r = client.get("/api/v1/energy/alarms/12345", headers=auth("operator"))
    assert r.status_code == 404
