"""The two languages in a real browser: the browser's language picks the page's, the switch
changes it in place and is remembered; a Chinese page shows no English of the catalogue;
Chinese names are drawn with real glyphs (Debian's fonts-noto-cjk), not fallback boxes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.live import LiveGateway
from tests.browser.test_i18n import catalogue, forms

pytestmark = pytest.mark.integration

VIEWS = [
    ("control", "tr.alarm-row"),
    ("building", ".dev[data-state]"),
    ("tickets", ".card[data-ticket-id]"),
    ("tech", ".tech-list .tcard, .tech-list .empty"),
    ("figures", ".kpis, .unavailable"),
]
CJK = re.compile(r"[\u3400-\u9fff]")


def english_phrases() -> set[str]:
    """Pieces of the English catalogue of three words or more (shorter ones may be data too:
    a device named "Fire alarm control panel")."""
    en, zh = catalogue("en"), catalogue("zh-CN")
    out: set[str] = set()
    for key, value in en.items():
        if value == zh[key]:
            continue
        for form in forms(value):
            for piece in re.split(r"\{\w+\}", form):
                piece = piece.strip(" .,:;()·—")
                if len(re.findall(r"[A-Za-z]{2,}", piece)) >= 3:
                    out.add(piece)
    return out


# headings that show data: a ticket's title, an alarm's message (the gateway's text)
DATA = ".tcard-title, .td-title, .detail-title"
SHOWN_WORDS = (
    f"els => els.filter(e => e.offsetParent && !e.matches({DATA!r})).map(e => e.innerText.trim())"
)
# the page's own words: in Chinese, each of these has Chinese in it
CHROME = (
    "nav a, th, h1, h2, h3, label, button.btn, button.tab, .tile-l, .state-text, .prio, "
    ".conn, .status-pill, .legend-item, .zone-ok, .bh, .kpi-l, .panel-title, .keys-hint, dt"
)


def test_a_chinese_browser_gets_chinese_pages(seeded_gateway: LiveGateway, open_page: Any) -> None:
    p = open_page(seeded_gateway, width=1440, height=900, lang="zh-CN")
    page = p.page
    page.goto(seeded_gateway.base + "/")
    assert page.inner_text("form.signin-card button[type=submit]") == "登录"
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    p.sign_in("operator")
    phrases = english_phrases()
    assert len(phrases) > 50
    for view, ready in VIEWS:
        p.go(view, ready)
        page.wait_for_timeout(200)
        text = page.inner_text("body")
        leaked = sorted(ph for ph in phrases if ph in text)
        assert leaked == [], f"{view}: English on the Chinese page: {leaked}"
        words = page.eval_on_selector_all(CHROME, SHOWN_WORDS)
        english = [w for w in words if re.search(r"[A-Za-z]{2,}", w) and not CJK.search(w)]
        # left: what is not a word of the page (a data value in a <dt>, "sitewatch", "HVAC")
        allowed = {"sitewatch"}
        assert [w for w in english if w not in allowed] == [], f"{view}: {english}"
    # dates and times in Chinese form, in the site's zone
    p.go("control", "tr.alarm-row")
    page.click("tr.alarm-row:first-child td.col-msg")
    page.wait_for_selector(".detail.open .facts")
    assert re.search(r"\d+月\d+日 \d\d:\d\d", page.inner_text(".detail .facts"))
    assert p.errors == [], p.errors


def test_the_switch_changes_the_language_in_place_and_is_remembered(
    seeded_gateway: LiveGateway, open_page: Any
) -> None:
    p = open_page(seeded_gateway, width=1440, height=900, lang="en-GB")
    p.sign_in("operator")
    page = p.page
    page.wait_for_selector("tr.alarm-row")
    assert page.inner_text("nav a[href='#/control']") == "Control room"
    page.evaluate("window.__kept = 1")  # gone if the page reloads
    page.focus("select.lang")
    page.select_option("select.lang", "zh-CN")
    page.wait_for_selector("nav a[href='#/control']:has-text('监控室')")
    assert page.evaluate("window.__kept") == 1
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert "未确认" in page.inner_text("tr.alarm-row:first-child")
    assert page.evaluate("document.activeElement.classList.contains('lang')")
    page.reload()
    page.wait_for_selector("tr.alarm-row")
    assert page.inner_text("nav a[href='#/control']") == "监控室"
    page.select_option("select.lang", "en")
    page.wait_for_selector("nav a[href='#/control']:has-text('Control room')")
    assert p.errors == [], p.errors


GLYPHS = """(text) => {
  const c = document.createElement('canvas');
  c.width = 64; c.height = 64;
  const g = c.getContext('2d', {willReadFrequently: true});
  g.font = `40px ${getComputedStyle(document.body).fontFamily}`;
  g.textBaseline = 'middle';
  const draw = (ch) => {
    g.clearRect(0, 0, 64, 64);
    g.fillText(ch, 8, 32);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(',');
  };
  const tofu = draw('\\u{10FFFD}');  // a private-use character no font has: the fallback box
  const blank = draw(' ');
  return [...text].map(ch => {
    const img = draw(ch);
    return {ch, width: g.measureText(ch).width, tofu: img === tofu, blank: img === blank, img};
  });
}"""


def test_chinese_names_render_with_real_glyphs(seeded_gateway: LiveGateway, open_page: Any) -> None:
    p = open_page(seeded_gateway, width=390, height=844, lang="zh-CN", is_mobile=True)
    p.sign_in("technician")
    page = p.page
    page.wait_for_selector("#tech-member option[value=elec-sun]", state="attached")
    page.select_option("#tech-member", "elec-sun")
    shown = page.evaluate("document.querySelector('#tech-member').selectedOptions[0].text")
    assert shown.startswith("孙涛")  # Sun Tao, a member of the demo site's electrical crew
    page.evaluate("document.fonts.ready.then(() => true)")
    glyphs = page.evaluate(GLYPHS, "孙涛陈立华")
    for g in glyphs:
        assert g["width"] > 0, g["ch"]
        assert not g["blank"], f"{g['ch']} draws nothing"
        assert not g["tofu"], f"{g['ch']} draws the fallback box: install fonts-noto-cjk"
    assert len({g["img"] for g in glyphs}) == len(glyphs), "two characters drew the same"
    # and in the page itself: the name's box is as wide as its glyphs
    width = page.evaluate(
        """() => {
          const s = document.createElement('span');
          s.textContent = '陈立华';
          document.querySelector('.tech-who').appendChild(s);
          const w = s.getBoundingClientRect().width;
          s.remove();
          return w;
        }"""
    )
    assert width >= 3 * 12, width
