"""The scorecard on the Figures page in Chromium, in English and Chinese: one card per
figure of GET /api/v1/scorecard, each "baseline -> now -> target" with its definition,
unit and a 12-month trend line, a figure without data showing the gateway's note; the
month picker loads another month; the monthly report's link opens the report for a
person signed in; an operator (who may not read the scorecard) sees the figures without it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.live import LiveGateway

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery 9"
CJK = re.compile(r"[\u3400-\u9fff]")
LABELS = {"en-GB": ("Baseline", "Now", "Target"), "zh-CN": ("基线", "当前", "目标")}


def closed_with_score(gw: LiveGateway, score: int) -> None:
    """A person's request worked and closed after the follow-up call with ``score``/10."""
    t = gw.api(
        "POST",
        "/api/v1/tickets",
        role="operator",
        body={"title": "VIP room too cold", "category": "complaint", "priority": "low"},
    )
    path = f"/api/v1/tickets/{t['id']}"
    if t["status"] != "assigned":  # dispatched at once when its crew is on duty now
        gw.api("POST", f"{path}/transition", role="operator", body={"to": "assigned"})
    gw.api("POST", f"{path}/reply", role="operator", body={"text": "Setpoint reset to 24 °C."})
    for body in (
        {"to": "in_progress"},
        {"to": "resolved", "note": "Setpoint reset."},
        {"to": "closed", "satisfaction": score},
    ):
        gw.api("POST", f"{path}/transition", role="operator", body=body)


def previous(period: str) -> str:
    y, m = (int(x) for x in period.split("-"))
    return f"{y - 1}-12" if m == 1 else f"{y}-{m - 1:02d}"


@pytest.mark.parametrize("lang", ["en-GB", "zh-CN"])
def test_each_figure_is_a_card_from_baseline_to_now_to_target(
    gateway: LiveGateway, open_page: Any, lang: str
) -> None:
    closed_with_score(gateway, 9)
    short = "zh" if lang == "zh-CN" else "en"
    sc = gateway.api("GET", f"/api/v1/scorecard?lang={short}", role="viewer")
    figures = {f["id"]: f for f in sc["figures"]}
    assert figures["satisfaction_overall"]["value"] == 9

    p = open_page(gateway, width=1440, height=900, lang=lang)
    p.sign_in("viewer")
    p.go("figures", ".scorecard[data-state=ready] .sc-card")
    page = p.page
    ids = page.eval_on_selector_all(".sc-card", "els => els.map(e => e.dataset.figure)")
    assert ids == [f["id"] for f in sc["figures"]]
    baseline, now, target = LABELS[lang]
    for one in page.locator(".sc-card").all():
        steps = one.locator(".sc-step-l").all_inner_texts()
        assert [s.strip().lower() for s in steps] == [x.lower() for x in (baseline, now, target)]
        assert one.locator("svg.spark").count() == 1

    def card(fid: str) -> Any:
        return page.locator(f".sc-card[data-figure={fid}]")

    # the seed's 7.2 -> this month's 9 -> 8.3: on target, drawn on the trend's last point
    sat = card("satisfaction_overall")
    assert sat.locator(".sc-baseline .sc-step-v").inner_text() == "7.2/10"
    assert sat.locator(".sc-now .sc-step-v").inner_text() == "9/10"
    assert sat.locator(".sc-target .sc-step-v").inner_text() == "8.3/10"
    assert sat.get_attribute("data-standing") == "target"
    assert sat.locator("svg.spark path.spark-line, svg.spark circle.last").count() >= 1
    assert figures["satisfaction_overall"]["name"] in sat.locator(".sc-name").inner_text()
    assert figures["satisfaction_overall"]["definition"] == sat.locator(".sc-def").inner_text()
    # the request resolved in time: 0% over standard time against the seed's 35%
    over = card("over_standard_time_pct")
    assert over.locator(".sc-baseline .sc-step-v").inner_text() == "35%"
    assert over.locator(".sc-now .sc-step-v").inner_text() == "0%"
    assert over.locator(".sc-target .sc-step-v").inner_text() == "24.5%"
    # a figure without data: no value, the gateway's note says why
    empty = [f for f in sc["figures"] if f["value"] is None]
    assert empty, "the fixture leaves some figure without data"
    for f in empty:
        assert card(f["id"]).locator(".sc-now .sc-step-v").inner_text() == "—"
        assert card(f["id"]).locator(".sc-note").inner_text() == f["note"]
    if lang == "zh-CN":
        assert CJK.search(sat.locator(".sc-name").inner_text())
        assert "单位" in sat.locator(".sc-unit").inner_text()
    else:
        assert "Unit" in sat.locator(".sc-unit").inner_text()

    # another month: picked, loaded, its report linked
    before = previous(sc["period"])
    page.fill("#sc-month", before)
    page.dispatch_event("#sc-month", "change")
    page.wait_for_selector(f".scorecard[data-period='{before}'][data-state=ready]")
    assert (
        page.locator(".sc-card[data-figure=satisfaction_overall] .sc-now")
        .inner_text()
        .endswith("—")
    )
    href = page.get_attribute(".sc-report[data-format=html]", "href")
    assert href == f"/api/v1/reports/monthly?month={before}"
    doc, vw = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert doc <= vw
    assert p.errors == [], p.errors


def test_a_manager_opens_the_monthly_report_and_an_operator_sees_no_scorecard(
    gateway: LiveGateway, open_page: Any
) -> None:
    gateway.add_user("mgr-zhou", PASSWORD, roles="manager", name="周敏 Zhou Min")
    m = open_page(gateway, width=1366, height=768)
    m.sign_in_as("mgr-zhou", PASSWORD)  # a manager starts on the figures
    m.page.wait_for_selector(".scorecard[data-state=ready] .sc-card")
    href = m.page.get_attribute(".sc-report[data-format=html]", "href")
    with m.page.context.expect_page() as opened:
        m.page.click(".sc-report[data-format=html]")
    report = opened.value
    report.wait_for_load_state()
    assert report.url.endswith(href)
    assert "sitewatch" in report.content().lower()
    r = m.page.request.get(m.gw.base + href)
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    doc, vw = m.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert doc <= vw, "figures with the scorecard scroll sideways at 1366x768"
    assert m.errors == [], m.errors

    o = open_page(gateway, width=1366, height=768)
    o.sign_in("operator")
    o.go("figures", ".kpis, .unavailable")
    assert o.page.locator(".scorecard").count() == 0
    assert o.errors == [], o.errors
