"""``/api/v1/sites/{site}/...`` (contract §12): the site's own runtime answers; a site
served by another process is 503, an unknown one 404; the single-site routes mean the
first site served. Fake runtimes (``tests.api.fakes``) stand in for the sites."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.fakes import FakeRuntime, alarm, auth


class FakeHost:
    """What ``gateway.multisite.Host`` offers the HTTP layer."""

    def __init__(self, served: dict[str, FakeRuntime], elsewhere: list[str]) -> None:
        self.served = served
        self.sites = {s: "" for s in [*served, *elsewhere]}
        self.settings = served[next(iter(served))].settings

    def site_runtime(self, site: str) -> FakeRuntime | None:
        return self.served.get(site)

    def health(self) -> dict[str, Any]:
        states = {s: "owned" if s in self.served else "elsewhere" for s in self.sites}
        return {"status": "ok", "instance": "p1", "sites": states}

    def extra_routers(self) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(next(iter(self.served.values())), name)


def _runtime(site: str, alarms: list[int]) -> FakeRuntime:
    rt = FakeRuntime()
    rt.site_id = site
    assert rt.alarms is not None
    rt.alarms.alarms = {i: alarm(i, site=site) for i in alarms}
    return rt


def test_routes_per_site_on_a_host() -> None:
    host = FakeHost({"b01": _runtime("b01", [1]), "b02": _runtime("b02", [1, 2])}, ["b03"])
    with TestClient(create_app(host)) as c:  # type: ignore[arg-type]
        h = auth("viewer")
        assert c.get("/api/v1/sites/b01/alarms", headers=h).json()["total"] == 1
        assert c.get("/api/v1/sites/b02/alarms", headers=h).json()["total"] == 2
        assert c.get("/api/v1/alarms", headers=h).json()["total"] == 1  # the first site
        elsewhere = c.get("/api/v1/sites/b03/alarms", headers=h)
        assert elsewhere.status_code == 503 and "another process" in elsewhere.json()["detail"]
        assert c.get("/api/v1/sites/zz/alarms", headers=h).status_code == 404
        assert c.get("/api/v1/sites/b02/alarms").status_code == 401  # still authenticated
        health = c.get("/healthz").json()
        assert health["instance"] == "p1"
        assert health["sites"] == {"b01": "owned", "b02": "owned", "b03": "elsewhere"}


def test_single_site_answers_for_its_own_site_only() -> None:
    rt = _runtime("sc01", [1, 2])
    with TestClient(create_app(rt)) as c:  # type: ignore[arg-type]
        h = auth("viewer")
        assert c.get("/api/v1/sites/sc01/alarms", headers=h).json()["total"] == 2
        assert c.get("/api/v1/sites/sc02/alarms", headers=h).status_code == 404
