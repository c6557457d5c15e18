"""``sitewatch requests qr``: one code per zone, each the link the gateway accepts (the same
key: configured, or the one kept in the state store), escaped, self-contained."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.requests.service import portal_keys
from gateway.requests.tokens import ZoneTokens
from gateway.site import load_site
from gateway.store import open_store
from sitewatch.cli import main

SITE = load_site()


def test_qr_page_has_the_gateways_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("SITEWATCH_DB_URL", db)
    monkeypatch.delenv("SITEWATCH_PORTAL_SECRET", raising=False)
    out = tmp_path / "codes.html"
    assert main(["requests", "qr", "--base-url", "https://sw.example/", "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    keys = portal_keys(open_store(db), SystemClock(), "")  # what the gateway will use
    tokens = ZoneTokens(keys, "sc01", [z.id for z in SITE.zones])
    for z in SITE.zones:
        assert f"https://sw.example/r/{tokens.sign(z.id)}" in page
    assert page.count("<svg") == len(SITE.zones)
    assert "Model flat A (89 m²)" in page and "扫码报事报修" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")


def test_qr_needs_the_public_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITEWATCH_DB_URL", f"sqlite:///{tmp_path}/s.db")
    monkeypatch.delenv("SITEWATCH_PUBLIC_URL", raising=False)
    assert main(["requests", "qr", "--out", str(tmp_path / "x.html")]) == 2
    assert not (tmp_path / "x.html").exists()
