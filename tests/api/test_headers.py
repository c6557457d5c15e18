"""Security headers on every response; the page's assets through StaticFiles (ETag, 304)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from httpx import Response

from tests.api.fakes import FakeRuntime, auth, make_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    app, _ = make_app()
    with TestClient(app) as c:
        yield c


def secured(r: Response) -> None:
    h = r.headers
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"
    csp = h["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_json_responses_carry_the_security_headers(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    secured(r)
    secured(client.get("/api/v1/alarms", headers=auth("viewer")))
    secured(client.get("/api/v1/alarms"))  # 401
    secured(client.get("/api/v1/alarms/99", headers=auth("viewer")))  # 404 of the service
    secured(client.get("/static/nothing.js"))  # 404 of StaticFiles


def test_static_files_carry_them_and_answer_304_to_their_etag(client: TestClient) -> None:
    r = client.get("/static/js/app.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    secured(r)
    etag = r.headers["etag"]
    again = client.get("/static/js/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    secured(again)
    other = client.get("/static/js/app.js", headers={"If-None-Match": '"not-this-one"'})
    assert other.status_code == 200 and other.content == r.content


def test_the_page_is_served_with_an_etag_too(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    secured(r)
    assert client.get("/", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    moved = client.get("/index.html", follow_redirects=False)
    assert moved.status_code == 308 and moved.headers["location"] == "/"


def test_dot_files_and_directories_are_not_served(client: TestClient) -> None:
    for bad in (
        "/static/.hidden",
        "/static/js/.eslintrc",
        "/static/",
        "/static/js",
        "/static/%2e%2e/deps.py",
    ):
        assert client.get(bad).status_code == 404, bad


def test_nosniff_on_errors_and_on_the_stream() -> None:
    boom = APIRouter()

    @boom.get("/api/v1/boom")
    async def fail() -> None:
        raise RuntimeError("unexpected")

    rt = FakeRuntime()
    rt.extra_routers = lambda: [boom]  # type: ignore[method-assign]
    rt.stopping.set()  # the stream sends its snapshot and ends
    app, _ = make_app(rt)
    with TestClient(app, raise_server_exceptions=False) as c:
        v = auth("viewer")
        answers = {
            401: c.get("/api/v1/alarms"),
            404: c.get("/api/v1/nothing-here", headers=v),
            405: c.delete("/api/v1/alarms", headers=v),
            422: c.get("/api/v1/alarms", params={"limit": "many"}, headers=v),
            500: c.get("/api/v1/boom", headers=v),
        }
        for status, r in answers.items():
            assert r.status_code == status, (status, r.text)
            secured(r)
        with c.stream("GET", "/api/v1/alarms/stream", headers=v) as s:
            assert s.status_code == 200
            assert s.headers["content-type"].startswith("text/event-stream")
            secured(s)
