"""The page's own routes without a browser: assets, headers, /api/v1/me and /api/v1/site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.routes.ui import static_root
from gateway.settings import load_settings
from sitewatch.bootstrap import build_runtime
from tests.browser.live import TOKENS


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        None,
        db_url=f"sqlite:///{tmp_path}/state.db",
        telemetry_db=str(tmp_path / "telemetry.db"),
    )
    rt = build_runtime(settings, tokens={t: r for r, t in TOKENS.items()}, serve_http=False)
    with TestClient(rt.make_app()) as c:
        yield c


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def test_page_has_a_strict_csp_and_no_inline_script(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    # every <script> has a src: nothing inline for the policy to refuse
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert "http://" not in r.text and "https://" not in r.text  # no CDN


def test_assets_are_served_with_their_types(client: TestClient) -> None:
    r = client.get("/static/js/app.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/css/app.css").headers["content-type"].startswith("text/css")
    for bad in ("/static/../routes/ui.py", "/static/%2e%2e/deps.py", "/static/.hidden", "/static/"):
        assert client.get(bad).status_code == 404, bad


def test_no_asset_writes_data_as_markup() -> None:
    root = Path(str(static_root()))
    for js in (root / "js").glob("*.js"):
        text = js.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{js.name} uses {sink}"
    assert not re.search(
        r"https?://(?!www\.w3\.org/2000/svg)",
        "".join(
            p.read_text(encoding="utf-8") for p in root.rglob("*") if p.suffix in (".js", ".css")
        ),
    ), "an asset refers to another origin"


def test_me_and_site(client: TestClient) -> None:
    assert client.get("/api/v1/me").status_code == 401
    me = client.get("/api/v1/me", headers=auth("technician")).json()
    assert me["role"] == "technician" and me["name"] == "technician"
    assert me["roles"] == ["technician"] and me["user"] == "technician"
    site: dict[str, Any] = client.get("/api/v1/site", headers=auth("viewer")).json()
    assert site["timezone"] == "Asia/Shanghai"
    lobby = next(z for z in site["zones"] if z["id"] == "lobby")
    assert {"id": "door-main", "name": "Main entrance", "system": "access", "type": "door"} in (
        lobby["devices"]
    )
    assert sum(len(z["devices"]) for z in site["zones"]) == 58
    members = [m for c in site["crews"] for m in c["members"]]
    assert members and all(set(m) == {"id", "name"} for m in members)  # no phone numbers
    assert client.get("/api/v1/site").status_code == 401
