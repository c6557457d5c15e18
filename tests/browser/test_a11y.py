"""Accessibility in a real browser: axe-core (axe-playwright-python) on every page in both
languages with no serious or critical violation; the control room driven by the keyboard
alone (arrow keys, `A` acknowledges with a note, `S` shelves, `Esc` closes, the focus always
visible); priority carried by text and shape as well as colour; the alarm tone's mute."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.live import LiveGateway

pytestmark = pytest.mark.integration

PAGES = [
    ("control", "tr.alarm-row"),
    ("building", ".dev[data-state]"),
    ("tickets", ".card[data-ticket-id]"),
    ("tech", ".tech-list .tcard, .tech-list .empty"),
    ("maintenance", ".mt-grid .mt-item, .mt-grid .mt-none, .unavailable"),
    ("figures", ".kpis, .unavailable"),
]


def _axe(page: Any, where: str) -> list[str]:
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_timeout(300)  # let the view settle (toasts, the first render)
    results = axe_module.Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(str(n.get("target")) for n in v["nodes"][:4])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    return [f"{where}: {b}" for b in bad]


@pytest.mark.parametrize("lang", ["en-GB", "zh-CN"])
def test_axe_finds_nothing_serious_on_any_page(
    seeded_gateway: LiveGateway, open_page: Any, lang: str
) -> None:
    p = open_page(seeded_gateway, width=1440, height=900, lang=lang)
    page = p.page
    page.goto(seeded_gateway.base + "/")
    page.wait_for_selector("form.signin-card")
    bad = _axe(page, f"sign-in {lang}")
    p.sign_in("operator")
    for view, ready in PAGES:
        p.go(view, ready)
        bad += _axe(page, f"{view} {lang}")
    # the control room with an alarm open in the detail pane, and the shelve dialog
    p.go("control", "tr.alarm-row[data-priority=high]")
    page.click("tr.alarm-row[data-priority=high] td.col-msg")
    page.wait_for_selector(".detail.open .facts")
    bad += _axe(page, f"alarm detail {lang}")
    page.click(".detail.open [data-action=shelve]")
    page.wait_for_selector("dialog.modal[open]")
    bad += _axe(page, f"shelve dialog {lang}")
    page.keyboard.press("Escape")
    assert bad == [], "\n".join(bad)
    assert p.errors == [], p.errors


def _focused(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """() => {
              const el = document.activeElement;
              const tr = el && el.closest('tr.alarm-row');
              const st = getComputedStyle(el);
              return {id: tr ? tr.dataset.alarmId : null, row: el.matches('tr.alarm-row'),
                      outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2,
                      priority: tr ? tr.dataset.priority : null};
            }"""
        )
    )


def test_the_control_room_from_the_keyboard_alone(gateway: LiveGateway, open_page: Any) -> None:
    from tests.browser.live import seed_alarms

    seed_alarms(gateway)
    p = open_page(gateway, width=1440, height=900)
    p.sign_in("operator")
    page = p.page
    page.wait_for_selector("tr.alarm-row[data-priority=low]")
    ids = page.eval_on_selector_all("tr.alarm-row", "rows => rows.map(r => r.dataset.alarmId)")
    assert len(ids) >= 4

    # ↓ walks the list from the top, ↑ goes back; the focused row shows it
    page.locator("body").press("ArrowDown")
    f = _focused(page)
    assert f["id"] == ids[0] and f["row"] and f["outline"], f
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert _focused(page)["id"] == ids[2]
    page.keyboard.press("ArrowUp")
    assert _focused(page)["id"] == ids[1]

    # A: acknowledge with a note, typed and sent from the keyboard
    page.keyboard.press("Home")
    assert _focused(page)["priority"] == "critical"
    page.keyboard.press("a")
    page.wait_for_selector("dialog.modal[open] #ack-note")
    assert page.evaluate("document.activeElement.id") == "ack-note"
    page.keyboard.type("Fire brigade called; security on the way.")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"tr.alarm-row[data-alarm-id='{ids[0]}'][data-state=active_acked]")
    stored = gateway.api("GET", f"/api/v1/alarms/{ids[0]}")
    assert stored["state"] == "active_acked"
    assert any("Fire brigade called" in str(j.get("reason") or "") for j in stored["journal"])
    # the focus is back on the acknowledged row, still visible
    page.wait_for_function("() => document.activeElement.matches('tr.alarm-row')")
    assert _focused(page)["id"] == ids[0]

    # S on the critical alarm: refused and said so; on a high one: the shelve dialog
    page.keyboard.press("s")
    page.wait_for_selector(".toast.error")
    assert page.locator("dialog.modal[open]").count() == 0
    page.keyboard.press("ArrowDown")
    high = _focused(page)["id"]
    page.keyboard.press("s")
    page.wait_for_selector("dialog.modal[open] #shelve-reason")
    assert page.evaluate("document.activeElement.id") == "shelve-minutes"
    page.keyboard.press("Tab")
    page.keyboard.type("Door contractor on site until noon.")
    page.keyboard.press("Tab")  # from the reason to Cancel, then to Shelve
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"tr.alarm-row[data-alarm-id='{high}']", state="detached")
    assert gateway.api("GET", f"/api/v1/alarms/{high}")["shelved"] is True

    # Enter opens the detail of the focused alarm, Esc closes it and keeps the place
    page.keyboard.press("Home")
    row = _focused(page)["id"]
    page.keyboard.press("Enter")
    page.wait_for_selector(".detail.open")
    page.keyboard.press("Escape")
    page.wait_for_selector(".detail.open", state="detached")
    assert _focused(page)["id"] == row

    # Esc in a dialog closes the dialog only
    page.keyboard.press("ArrowDown")
    page.keyboard.press("a")
    page.wait_for_selector("dialog.modal[open]")
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.modal[open]", state="detached")
    assert p.errors == [] and p.dialogs == [], (p.errors, p.dialogs)


def test_priority_is_text_and_shape_not_colour_alone(
    seeded_gateway: LiveGateway, open_page: Any
) -> None:
    p = open_page(seeded_gateway, width=1440, height=900, lang="zh-CN")
    p.sign_in("operator")
    page = p.page
    page.wait_for_selector("tr.alarm-row[data-priority=low]")
    seen = page.evaluate(
        """() => [...document.querySelectorAll('tr.alarm-row .prio')].map(b => {
             const s = getComputedStyle(b.querySelector('.shape'));
             return [b.dataset.prio, b.textContent.trim(), s.clipPath, s.borderRadius];
           })"""
    )
    shapes = {prio: (clip, radius) for prio, _, clip, radius in seen}
    texts = {prio: text for prio, text, _, _ in seen}
    assert texts["critical"] == "紧急" and texts["low"] == "低", texts
    assert "polygon" in shapes["critical"][0] and "polygon" in shapes["high"][0]
    assert shapes["critical"][0] != shapes["high"][0]
    assert shapes["low"][1] == "50%" and shapes["medium"][0] == "none"


def test_the_critical_tone_can_be_muted_and_the_page_says_so(
    gateway: LiveGateway, open_page: Any
) -> None:
    from tests.browser.live import now_ms

    p = open_page(gateway, width=1440, height=900)
    p.sign_in("operator")
    page = p.page
    mute = page.locator("button.mute")
    assert mute.get_attribute("data-muted") == "false"
    assert "Sound on" in mute.inner_text()
    mute.click()
    assert mute.get_attribute("data-muted") == "true"
    assert "Sound off" in mute.inner_text()
    assert "muted" in (mute.get_attribute("aria-label") or "")
    # a new critical alarm while muted: shown, not sounded
    gateway.publish("fire", "fp-01", "event", {"ts": now_ms(), "type": "fire_alarm"})
    page.wait_for_selector("tr.alarm-row[data-priority=critical]")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.dataset.beeps") is None
    # remembered on the next load, in the other language too
    page.select_option("select.lang", "zh-CN")
    page.reload()
    page.wait_for_selector("button.mute[data-muted=true]")
    assert "已静音" in page.inner_text("button.mute")
    assert p.errors == [], p.errors


@pytest.mark.parametrize("lang", ["en-GB", "zh-CN"])
def test_axe_on_the_scorecard_plans_checklist_and_notification_settings(
    gateway: LiveGateway, open_page: Any, lang: str
) -> None:
    from tests.browser.test_maintenance import PASSWORD, preventive_ticket

    # the scorecard (a viewer), an asset's detail and the plan dialog (an admin)
    v = open_page(gateway, width=1440, height=900, lang=lang)
    v.sign_in("viewer")
    v.go("figures", ".scorecard[data-state=ready] .sc-card")
    bad = _axe(v.page, f"scorecard {lang}")
    a = open_page(gateway, width=1440, height=900, lang=lang)
    a.sign_in("admin")
    a.go("maintenance", ".mt-asset-row[data-asset=ahu-01]")
    a.page.click(".mt-asset-row[data-asset=ahu-01] button")
    a.page.wait_for_selector(".mt-asset-name[data-asset=ahu-01]")
    bad += _axe(a.page, f"maintenance with an asset {lang}")
    a.page.click(".mt-new-plan")
    a.page.wait_for_selector("dialog.modal[open] #pf-title")
    bad += _axe(a.page, f"plan dialog {lang}")
    a.page.keyboard.press("Escape")

    # the phone: a checklist refused with an item missing, the notification settings open
    gateway.set_password("fire-xu", PASSWORD)
    t = preventive_ticket(gateway, "fire-xu")
    card = f"article.tcard[data-ticket-id='{t['id']}']"
    p = open_page(gateway, 390, 844, lang=lang, is_mobile=True, has_touch=True)
    p.sign_in_as("fire-xu", PASSWORD)
    p.page.click(f"{card} [data-action=start]")
    p.page.wait_for_selector(f"{card}[data-status=in_progress]")
    p.page.click(f"{card} [data-action=resolve]")
    p.page.fill(f"{card} textarea.tech-note", "done")
    p.page.click(f"{card} [data-action=confirm-resolve]")
    p.page.wait_for_selector(f"{card} .cl-item.missing")
    p.page.click(".notify-prefs > summary")
    p.page.wait_for_selector(".np-form:not([hidden])")
    bad += _axe(p.page, f"checklist and notifications {lang}")
    assert bad == [], "\n".join(bad)
    assert v.errors == [] and a.errors == [], (v.errors, a.errors)
    assert [e for e in p.errors if "409" not in e] == [], p.errors
