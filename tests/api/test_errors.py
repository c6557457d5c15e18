"""One handler maps the gateway's domain errors to HTTP: 404, 409, 422, 403."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from gateway.errors import Conflict, DomainError, Forbidden, Invalid, NotFound


class Moves(Conflict):
    """A subclass with a structured detail, as the ticket service's IllegalTransition."""

    def detail(self) -> dict[str, Any]:
        return {"message": str(self), "allowed": ["assigned"]}


RAISES: dict[str, DomainError] = {
    "missing": NotFound("no alarm 7"),
    "conflict": Conflict("alarm 7 is closed"),
    "invalid": Invalid("minutes must be between 1 and 480"),
    "forbidden": Forbidden("not your crew's ticket"),
    "moves": Moves("ticket 3 is open: cannot move to resolved"),
    "bare": DomainError("refused"),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/raise/{what}")
    async def boom(what: str) -> None:
        raise RAISES[what]

    return TestClient(app)


@pytest.mark.parametrize(
    ("what", "status", "detail"),
    [
        ("missing", 404, "no alarm 7"),
        ("conflict", 409, "alarm 7 is closed"),
        ("invalid", 422, "minutes must be between 1 and 480"),
        ("forbidden", 403, "not your crew's ticket"),
        (
            "moves",
            409,
            {"message": "ticket 3 is open: cannot move to resolved", "allowed": ["assigned"]},
        ),
        ("bare", 400, "refused"),
    ],
)
def test_domain_errors_map_to_status_and_detail(
    client: TestClient, what: str, status: int, detail: Any
) -> None:
    r = client.get(f"/raise/{what}")
    assert r.status_code == status
    assert r.json() == {"detail": detail}


def test_validation_error_names_the_field(client: TestClient) -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/n")
    async def n(count: int) -> dict[str, int]:
        return {"count": count}

    r = TestClient(app).get("/n", params={"count": "many"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", "count"]
