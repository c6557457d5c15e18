"""``sitewatch report``: the demo site's report (Chinese) from the stores the settings
name, byte-identical when run twice; a bad month exits 2 naming the accepted form."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.cli import main


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SITEWATCH_DB_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("SITEWATCH_TELEMETRY_DB", str(tmp_path / "tsdb.db"))
    monkeypatch.delenv("SITEWATCH_INFLUX_URL", raising=False)
    return tmp_path


def test_report_twice_is_identical(stores: Path) -> None:
    a, b = stores / "a.html", stores / "b.html"
    assert main(["report", "--month", "2026-01", "--out", str(a)]) == 0
    assert main(["report", "--month", "2026-01", "--format", "html", "--out", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert "月度报告 2026-01" in text and "Asia/Shanghai" in text
    c = stores / "a.csv"
    assert main(["report", "--month", "2026-01", "--format", "csv", "--out", str(c)]) == 0
    assert c.read_text(encoding="utf-8-sig").startswith("section,key,name,unit")


def test_future_month(stores: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--month", "2999-01", "--out", str(stores / "x.html")]) == 2
    assert "YYYY-MM" in capsys.readouterr().err
