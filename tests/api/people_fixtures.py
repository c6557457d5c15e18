"""Helpers of the sign-in tests of the HTTP layer (their fixtures are in ``conftest.py``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.auth import CSRF_COOKIE

PASSWORD = "correct horse battery"


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign ``client`` in; the headers a state-changing call then needs."""
    r = client.post("/api/v1/auth/login", json={"user": user, "password": password})
    assert r.status_code == 200, r.text
    assert client.cookies.get(CSRF_COOKIE) == r.json()["csrf_token"]
    return {"X-CSRF-Token": r.json()["csrf_token"]}


def failures(client: TestClient, reason: str) -> float:
    """``sitewatch_auth_failures_total{reason=...}`` from ``/metrics`` (0 when absent)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'sitewatch_auth_failures_total{{reason="{reason}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
