"""``/docs`` is Swagger UI served by the gateway itself: no CDN, no inline script, the same
strict Content-Security-Policy as every page; ``/redoc`` and the OAuth2 redirect are off."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
from fastapi.testclient import TestClient

from api.middleware import CSP
from tests.api.fakes import make_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    app, _ = make_app()
    with TestClient(app) as c:
        yield c


def test_the_docs_page_loads_only_this_origins_files(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-security-policy"] == CSP  # the one strict policy
    assert r.headers["x-content-type-options"] == "nosniff"
    page = r.text
    assert "http://" not in page and "https://" not in page and "//" not in page
    assert "style=" not in page and "<style" not in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all(body.strip() == "" and "src=" in attrs for attrs, body in scripts)
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) == 4
    for url in urls:
        asset = client.get(urljoin("http://testserver/docs", url))
        assert asset.status_code == 200, url
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-security-policy"] == CSP
        want = {"js": "text/javascript", "css": "text/css", "png": "image/png"}[url[-3:].strip(".")]
        assert asset.headers["content-type"].startswith(want), (url, asset.headers)
    init = client.get("/docs/init.js").text
    assert "SwaggerUIBundle(" in init and "openapi.json" in init
    assert "https://" not in init and "http://" not in init
    assert "validatorUrl: null" in init  # no call to the public validator


def test_the_spec_is_served_and_the_cdn_pages_are_gone(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "sitewatch"
    for off in ("/redoc", "/docs/oauth2-redirect"):
        assert client.get(off).status_code == 404, off
    for path in ("/", "/docs", "/openapi.json", "/api/v1/alarms"):
        csp = client.get(path).headers["content-security-policy"]
        assert "cdn" not in csp and "https:" not in csp and "unsafe-inline" not in csp, path
