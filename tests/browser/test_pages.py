"""The control-room and technician pages in a real browser against a real gateway."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.site import load_site
from tests.browser.live import LiveGateway, now_ms

pytestmark = pytest.mark.integration

PAYLOAD = "<img src=x onerror=alert(1)>"


def _expect(page: Any, selector: str, timeout_ms: int = 5000) -> Any:
    return page.wait_for_selector(selector, timeout=timeout_ms)


def test_fire_alarm_appears_within_2s_and_operator_acknowledges(
    gateway: LiveGateway, open_page: Any
) -> None:
    p = open_page(gateway)
    p.sign_in("operator")
    page = p.page
    _expect(page, ".alarm-table")

    gateway.publish(
        "fire", "fp-01", "event", {"ts": now_ms(), "type": "fire_alarm", "point": "L1-D03"}
    )
    t0 = time.monotonic()
    page.wait_for_selector("tr.alarm-row[data-priority=critical]", timeout=2000)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, f"the fire alarm took {elapsed:.2f} s to show"
    row = page.locator("tr.alarm-row[data-priority=critical]")
    assert row.get_attribute("data-state") == "active_unacked"
    assert "Unacknowledged" in row.inner_text()
    assert "Fire alarm control panel" in row.inner_text()  # the device's name from the site
    # a new critical alarm sounds the tone (WebAudio; counted on the document)
    page.wait_for_function("document.documentElement.dataset.beeps >= '1'", timeout=2000)
    # a critical alarm offers no shelving
    assert row.locator("[data-action=shelve]").count() == 0

    alarm_id = row.get_attribute("data-alarm-id")
    page.locator(f"tr.alarm-row[data-alarm-id='{alarm_id}'] [data-action=ack]").click()
    page.wait_for_selector(
        f"tr.alarm-row[data-alarm-id='{alarm_id}'][data-state=active_acked]", timeout=3000
    )
    assert "Acknowledged" in page.inner_text(f"tr.alarm-row[data-alarm-id='{alarm_id}']")
    stored = gateway.api("GET", f"/api/v1/alarms/{alarm_id}")
    assert stored["state"] == "active_acked"
    assert stored["acked_by"] == "operator"

    # the detail view: what to do, the journal with the acknowledgement
    page.click(f"tr.alarm-row[data-alarm-id='{alarm_id}']")
    _expect(page, ".detail.open .todo")
    page.wait_for_selector(".detail .journal li:has-text('ack')", timeout=3000)
    assert p.dialogs == [] and p.errors == []


def test_viewer_sees_alarms_but_no_actions_and_tickets_degrade(
    gateway: LiveGateway, open_page: Any
) -> None:
    gateway.publish("hvac", "ahu-01", "telemetry", {"ts": now_ms(), "fault_code": 7, "fan": False})
    p = open_page(gateway)
    p.sign_in("viewer")
    page = p.page
    _expect(page, "tr.alarm-row[data-priority=medium]")
    assert page.query_selector_all("[data-action]") == []
    assert page.inner_text(".role") == "Viewer · read only"
    assert "My tickets" not in page.inner_text("nav")

    # a gateway whose ticket service is not running: the board says so clearly
    gateway.runtime.services.tickets = None  # type: ignore[assignment]
    page.goto(f"{gateway.base}/#/tickets")
    _expect(page, ".unavailable")
    assert "Tickets not available" in page.inner_text(".unavailable")
    # the building view still works: the faulty air handler shows in alarm
    page.goto(f"{gateway.base}/#/building")
    _expect(page, ".dev[data-device=ahu-01][data-state=alarm]")
    assert p.dialogs == []


def test_technician_resolves_a_ticket_on_a_phone(gateway: LiveGateway, open_page: Any) -> None:
    t = gateway.api(
        "POST",
        "/api/v1/tickets",
        role="technician",
        body={
            "title": "Lobby fan-coil rattles",
            "category": "repair",
            "priority": "medium",
            "device": "fcu-lobby-01",
            "description": "Customer in the lobby reports a loud rattle.",
        },
    )
    tid = t["id"]
    p = open_page(gateway, width=390, height=844, is_mobile=True, has_touch=True)
    p.sign_in("technician")  # a technician lands on their own view
    page = p.page
    card = f"article.tcard[data-ticket-id='{tid}']"
    _expect(page, card)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

    page.click(f"{card} [data-action=start]")
    _expect(page, f"{card}[data-status=in_progress]")
    page.click(f"{card} [data-action=resolve]")
    page.fill(f"{card} textarea.tech-note", "Tightened the fan mounting; rattle gone.")
    page.click(f"{card} [data-action=confirm-resolve]")
    _expect(page, f"{card}[data-status=resolved]")
    got = gateway.api("GET", f"/api/v1/tickets/{tid}")
    assert got["status"] == "resolved"
    assert any(
        "Tightened the fan mounting" in str(j.get("reason") or j.get("note") or "")
        for j in got.get("journal", [])
    ), got.get("journal")

    # the follow-up call with the satisfaction score closes it
    page.click(f"{card} [data-action=callback]")
    page.click(f"{card} .score-btn[data-score='9']")
    page.click(f"{card} [data-action=confirm-callback]")
    page.wait_for_selector(card, state="detached", timeout=5000)
    got = gateway.api("GET", f"/api/v1/tickets/{tid}")
    assert got["status"] == "closed"
    assert got["satisfaction"] == 9
    assert p.dialogs == [] and p.errors == []


def _evil_site(tmp: Path) -> Path:
    data = yaml.safe_load(load_site_text())
    for d in data["devices"]:
        if d["id"] == "door-office":
            d["name"] = PAYLOAD
    path = tmp / "evil-site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def load_site_text() -> str:
    from importlib import resources

    return resources.files("gateway.sites").joinpath("sc01.yaml").read_text(encoding="utf-8")


def test_markup_from_devices_and_people_shows_as_text_and_runs_nothing(
    tmp_path: Path, mosquitto_url: str, unique_site: str, open_page: Any
) -> None:
    site = load_site(_evil_site(tmp_path))
    with LiveGateway(tmp_path, mqtt_url=mosquitto_url, site_id=unique_site, site=site) as gw:
        # CSP on the page: scripts only from the gateway, nothing inline
        import httpx

        r = httpx.get(gw.base + "/")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp

        gw.publish("access", "door-office", "event", {"ts": now_ms(), "type": "door_forced"})
        t = gw.api(
            "POST",
            "/api/v1/tickets",
            role="operator",
            body={
                "title": PAYLOAD,
                "category": "repair",
                "priority": "high",
                "device": "door-office",
                "description": PAYLOAD,
            },
        )
        p = open_page(gw)
        p.sign_in("operator")
        page = p.page
        _expect(page, "tr.alarm-row[data-priority=high]")
        row = page.locator("tr.alarm-row[data-priority=high]")
        assert PAYLOAD in row.inner_text()  # the device's name, as text
        row.click()
        _expect(page, ".detail.open .facts")
        assert PAYLOAD in page.inner_text(".detail")

        page.goto(f"{gw.base}/#/building")
        dev = _expect(page, ".dev[data-device=door-office]")
        assert PAYLOAD in dev.inner_text()

        page.goto(f"{gw.base}/#/tickets")
        card = _expect(page, f".card[data-ticket-id='{t['id']}']")
        assert PAYLOAD in card.inner_text()
        card.click()
        _expect(page, "dialog.modal .td-title")
        assert page.inner_text("dialog.modal .td-title") == PAYLOAD
        assert PAYLOAD in page.inner_text("dialog.modal .td-desc")
        page.keyboard.press("Escape")

        page.goto(f"{gw.base}/#/tech")
        tcard = _expect(page, f"article.tcard[data-ticket-id='{t['id']}']")
        assert PAYLOAD in tcard.inner_text()

        page.wait_for_timeout(300)
        assert page.locator("img").count() == 0, "markup from data became an element"
        assert p.dialogs == [], p.dialogs
        assert page.evaluate("typeof window.__xss") == "undefined"
