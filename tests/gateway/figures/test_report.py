"""The monthly report (byte-identical twice, the site's language and time zone) and the
energy an after-hours alarm wasted."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.errors import NotFound
from gateway.figures import Figures
from gateway.figures.report import render
from gateway.store import make_engine, migrate
from gateway.store import models as m
from tests.gateway.figures import store_fixture as fx
from tests.gateway.figures.fixtures import FakeSink, small_site

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    eng = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(eng)
    fx.build(eng, rounds=True)
    yield eng
    eng.dispose()


def sink() -> FakeSink:
    s = FakeSink()
    start = fx.SEP + 9 * fx.DAY
    s.add("lt-1", "power_w", [(start + i * fx.MIN, 1000.0) for i in range(24 * 60 + 1)])
    s.add("fcu-1", "power_kw", [(start + i * 5 * fx.MIN, 0.5) for i in range(12 * 24 + 1)])
    return s


def figures(engine: sa.Engine, lang: str = "zh") -> Figures:
    site = small_site(
        {"language": lang, "figures": {"over_standard_time_pct": {"baseline": 35, "target": 24.5}}}
    )
    return Figures(site, engine, sink(), ManualClock(fx.NOW / 1000))


async def test_report_is_byte_identical_twice_in_chinese(engine: sa.Engine) -> None:
    a = await figures(engine).monthly("2026-09")
    b = await figures(engine).monthly("2026-09")  # a new service: nothing cached
    html1, html2 = render(a, "html"), render(b, "html")
    assert html1 == html2
    assert render(a, "csv") == render(b, "csv")
    text = html1.decode("utf-8")
    assert '<html lang="zh-CN">' in text
    assert "月度报告 2026-09" in text and "超出标准时间的服务请求" in text
    assert "2026-09-01 00:00 – 2026-10-01 00:00 (Asia/Shanghai)" in text
    assert "@media print" in text
    assert "35.00" in text  # over standard time: value (and baseline) 35%
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    csv_text = render(a, "csv").decode("utf-8-sig")
    assert (
        "scorecard,over_standard_time_pct,超出标准时间的服务请求,%,35.00,35.00,24.50," in csv_text
    )
    assert "energy_zone,lobby,Lobby,kWh,,24.000,," in csv_text
    assert "energy_zone,flat,Show flat,kWh,,12.000,," in csv_text  # fcu-1: 0.5 kW for 24 h


async def test_report_lists_breaches_and_worst(engine: sa.Engine) -> None:
    data = await figures(engine, "en").monthly("2026-09")
    assert len(data["breaches"]) == 9  # P0-P6 and PM0-PM1
    assert data["breaches"][0]["clocks"] == ["respond", "resolve"]
    assert data["worst_devices"][0]["alarms"] + data["worst_devices"][0]["tickets"] >= 1
    html = render(data, "html").decode()
    assert "Service levels missed" in html and '<html lang="en">' in html


@pytest.mark.skipif(importlib.util.find_spec("weasyprint") is None, reason="no WeasyPrint")
async def test_pdf(engine: sa.Engine) -> None:
    data = await figures(engine).monthly("2026-09")
    pdf = render(data, "pdf")
    assert pdf.startswith(b"%PDF-")
    assert render(data, "pdf") == pdf


async def test_after_hours_alarm_waste_equals_the_fixture(engine: sa.Engine) -> None:
    # lights left on in the lobby from 21:00 to 23:30 on 10 September: 1 kW x 2.5 h
    start = fx.SEP + 9 * fx.DAY + 21 * fx.H
    with engine.begin() as conn:
        aid = conn.execute(
            sa.insert(m.alarms)
            .values(
                rule="lighting.after_hours_waste",
                site="t1",
                system="lighting",
                device="lt-1",
                point="",
                zone="lobby",
                priority="low",
                state="closed",
                raised_at_ms=start,
                activated_at_ms=start,
                source_ts_ms=start,
                cleared_at_ms=start + 150 * fx.MIN,
                ticket_ids=[],
                last_hit_ms=start,
                last_announced_ms=start,
                updated_at_ms=start,
            )
            .returning(m.alarms.c.id)
        ).scalar_one()
    waste = await figures(engine).alarm_waste(aid)
    assert waste["kwh"] == pytest.approx(2.5)
    assert waste["waste_rule"] is True and waste["active"] is False
    assert waste["covered_s"] == 150 * 60
    with pytest.raises(NotFound):
        await figures(engine).alarm_waste(999_999)


async def test_a_chinese_report_has_no_english_notes(engine: sa.Engine) -> None:
    site = small_site({"language": "zh", "figures": {}})
    figs = Figures(site, engine, FakeSink(), ManualClock(fx.NOW / 1000))
    data = await figs.monthly("2026-10")  # October: nothing resolved, no power readings
    for fmt in ("html", "csv"):
        text = render(data, fmt).decode("utf-8-sig")
        assert "本期没有已解决的服务请求" in text
        assert "in the period" not in text and "no power readings" not in text
    assert "本月没有功率读数" in render(data, "html").decode()  # the energy section's note
