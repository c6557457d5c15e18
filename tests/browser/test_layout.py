"""The pages on the screens the team has, in both languages: the control room on laptops
(1366x768, 1440x900), a desktop (1920x1080) and the video wall (3840x2160); the phone pages
at 360x780 and 390x844. Each test photographs what it checked (SITEWATCH_SHOTS_DIR, else a
temporary directory) and fails on sideways scrolling or an acknowledge button off screen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live import SEED, LiveGateway

pytestmark = pytest.mark.integration

DESKTOPS = [(1366, 768), (1440, 900), (1920, 1080), (3840, 2160)]
PHONES = [(360, 780), (390, 844)]
LANGS = ["en-GB", "zh-CN"]
FIRST_ACK = "tr.alarm-row:first-child [data-action=ack]"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("SITEWATCH_SHOTS_DIR")
    path = Path(where) if where else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _shot(page: Any, shots: Path, name: str) -> None:
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(150)
    page.screenshot(path=str(shots / f"{name}.png"))


def _no_sideways_scroll(page: Any, where: str) -> None:
    sizes = page.evaluate(
        """() => {
          const w = document.querySelector('.table-wrap');
          return {doc: document.documentElement.scrollWidth, vw: window.innerWidth,
                  wrap: w ? w.scrollWidth - w.clientWidth : 0};
        }"""
    )
    assert sizes["doc"] <= sizes["vw"], f"{where}: the page scrolls sideways {sizes}"
    assert sizes["wrap"] <= 0, f"{where}: the alarm list scrolls sideways {sizes}"


def _inside(page: Any, selector: str, where: str) -> None:
    box = page.locator(selector).first.bounding_box()
    vw, vh = page.evaluate("[window.innerWidth, window.innerHeight]")
    assert box is not None, f"{where}: {selector} is not shown"
    assert box["x"] >= 0 and box["y"] >= 0, (where, box)
    assert box["x"] + box["width"] <= vw and box["y"] + box["height"] <= vh, (where, box, vw, vh)


def on_the_list(gw: LiveGateway) -> int:
    """How many open alarms the control room's main list shows (not shelved, suppressed
    or out of service)."""
    items = gw.api("GET", "/api/v1/alarms?state=open&limit=100")
    items = items["items"] if isinstance(items, dict) else items
    masked = ("shelved", "suppressed", "out_of_service")
    return sum(1 for a in items if not any(a.get(k) for k in masked))


def _control_room(open_page: Any, gw: LiveGateway, w: int, h: int, lang: str, **kw: Any) -> Any:
    p = open_page(gw, width=w, height=h, lang=lang, **kw)
    p.sign_in("operator")
    n = on_the_list(gw)
    assert n >= len(SEED) - 2, "the seeded alarms are not open"
    p.page.wait_for_function(
        f"() => document.querySelectorAll('tr.alarm-row').length >= {n}", timeout=10_000
    )
    return p


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h"), DESKTOPS, ids=[f"{w}x{h}" for w, h in DESKTOPS])
def test_control_room_fits_the_screen(
    seeded_gateway: LiveGateway, open_page: Any, shots: Path, w: int, h: int, lang: str
) -> None:
    p = _control_room(open_page, seeded_gateway, w, h, lang)
    page = p.page
    assert page.evaluate("document.documentElement.lang") == lang.replace("en-GB", "en")
    name = f"control-room-{w}x{h}-{lang.split('-')[0]}"
    _no_sideways_scroll(page, name)
    _inside(page, FIRST_ACK, name)
    _shot(page, shots, name)

    # an alarm chosen: the detail pane opens and the list folds, actions still on screen
    page.click("tr.alarm-row:first-child td.col-msg")
    page.wait_for_selector(".detail.open .detail-actions [data-action=ack]")
    page.wait_for_timeout(300)
    _no_sideways_scroll(page, f"{name} with detail")
    _inside(page, FIRST_ACK, f"{name} with detail")
    _inside(page, ".detail.open [data-action=ack]", f"{name} detail pane")
    _shot(page, shots, f"{name}-detail")

    if w >= 3840:  # the video wall: the list spans the wall and its text is drawn larger
        size = page.evaluate(
            """() => {
              const msg = document.querySelector('tr.alarm-row .msg-text');
              return msg.getBoundingClientRect().height;
            }"""
        )
        assert size >= 26, f"text on the video wall is {size}px high"
        page.click("tr.alarm-row:first-child td.col-msg")  # closes the detail again
        page.wait_for_selector(".detail.open", state="detached")
        width = page.evaluate(
            "document.querySelector('.alarm-table').getBoundingClientRect().width"
        )
        assert width >= 0.9 * w, f"the alarm list uses {width}px of {w}"
    assert p.errors == [], p.errors


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h"), PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_phone_pages_fit(
    seeded_gateway: LiveGateway, open_page: Any, shots: Path, w: int, h: int, lang: str
) -> None:
    phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2}
    short = lang.split("-")[0]
    p = _control_room(open_page, seeded_gateway, w, h, lang, **phone)
    _no_sideways_scroll(p.page, f"control room {w}x{h} {lang}")
    _inside(p.page, FIRST_ACK, f"control room {w}x{h} {lang}")
    _shot(p.page, shots, f"phone-control-room-{w}x{h}-{short}")

    t = open_page(seeded_gateway, width=w, height=h, lang=lang, **phone)
    t.sign_in("technician")
    t.page.wait_for_selector("article.tcard", timeout=10_000)
    t.page.select_option("#tech-member", "elec-sun")
    t.page.wait_for_selector("article.tcard [data-action=start]")
    _no_sideways_scroll(t.page, f"my tickets {w}x{h} {lang}")
    _inside(t.page, "article.tcard [data-action=start]", f"my tickets {w}x{h} {lang}")
    _shot(t.page, shots, f"phone-my-tickets-{w}x{h}-{short}")
    assert p.errors == [] and t.errors == [], (p.errors, t.errors)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("w", "h"), [(1366, 768), (390, 844)], ids=["1366x768", "390x844"])
def test_maintenance_and_scorecard_fit(
    seeded_gateway: LiveGateway, open_page: Any, shots: Path, w: int, h: int, lang: str
) -> None:
    phone = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2} if w < 900 else {}
    short = lang.split("-")[0]
    p = open_page(seeded_gateway, width=w, height=h, lang=lang, **phone)
    p.sign_in("viewer")
    p.go("maintenance", ".mt-asset-row[data-asset=ahu-01]")
    p.page.click(".mt-asset-row[data-asset=ahu-01] button")
    p.page.wait_for_selector(".mt-asset-name[data-asset=ahu-01]")
    _no_sideways_scroll(p.page, f"maintenance {w}x{h} {lang}")
    _shot(p.page, shots, f"maintenance-{w}x{h}-{short}")
    p.go("figures", ".scorecard[data-state=ready] .sc-card")
    _no_sideways_scroll(p.page, f"scorecard {w}x{h} {lang}")
    _inside(p.page, ".sc-card .sc-now", f"scorecard {w}x{h} {lang}")
    _shot(p.page, shots, f"scorecard-{w}x{h}-{short}")
    assert p.errors == [], p.errors
