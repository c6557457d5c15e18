"""``sitewatch rounds qr ROUND``: one code per checkpoint of a round, each the phone page's
link to that checkpoint; the site file's templates and the API's; errors exit non-zero."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.rounds.store import RoundStore
from gateway.store import open_store
from sitewatch.cli import main
from tests.gateway.rounds.env import TEN


def test_one_code_per_checkpoint_of_the_night_patrol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEWATCH_DB_URL", f"sqlite:///{tmp_path}/s.db")
    out = tmp_path / "codes.html"
    args = ["rounds", "qr", "night-door-patrol", "--base-url", "https://sw.example/"]
    assert main([*args, "--out", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 8
    assert "https://sw.example/#/rounds/scan/night-door-patrol/door-plant" in page
    assert "Plant room door 机房门" in page and "巡检点" in page and "<script" not in page


def test_a_template_made_through_the_api_and_the_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/s.db"
    monkeypatch.setenv("SITEWATCH_DB_URL", db)
    RoundStore(open_store(db)).add(TEN, "boss", SystemClock().now_ms())
    args = ["rounds", "qr", "ten-points", "--base-url", "http://gw.local:8000", "--out", "-"]
    assert main(args) == 0
    assert capsys.readouterr().out.count("<svg") == 10
    assert main(["rounds", "qr", "nope", "--base-url", "https://x.example"]) == 1
    monkeypatch.delenv("SITEWATCH_PUBLIC_URL", raising=False)
    assert main(["rounds", "qr", "ten-points", "--out", str(tmp_path / "x.html")]) == 2
