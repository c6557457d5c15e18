"""The request page of a zone and the progress page in Chromium against a real gateway:
a visitor scans the lobby's code (a phone, Chinese browser), reports a spill with a text
that looks like markup, gets the private link; the request is a routed ticket; the link
shows its status, then (once resolved) the survey, answered once; a forged code shows no
page. No console error, no dialog (the text is never run), no outside request."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from tests.browser.live import TOKENS, LiveGateway

pytestmark = pytest.mark.integration

PAYLOAD = "<img src=x onerror=alert(1)> 洒了咖啡"


def _portal_ticket(gw: LiveGateway) -> dict[str, Any]:
    items = gw.api("GET", "/api/v1/tickets?crew=cleaning", role="operator")["items"]
    [t] = [x for x in items if x["source"] == "portal"]
    return dict(t)


def test_a_request_from_the_qr_page_to_the_survey(gateway: LiveGateway, open_page: Any) -> None:
    token = gateway.runtime.services.requests.tokens.sign("lobby")
    p = open_page(gateway, width=390, height=844, lang="zh-CN")
    page = p.page
    outside: list[str] = []
    page.on(
        "request", lambda r: outside.append(r.url) if not r.url.startswith(gateway.base) else None
    )

    resp = page.goto(f"{gateway.base}/r/{token}")
    assert resp is not None and resp.status == 200
    page.wait_for_selector("form#request")
    assert page.text_content("h1") == "报事报修"
    assert "Lobby" in (page.text_content("#zone") or "")
    page.select_option("#lang", "en")  # the switch: the page in English, in place
    page.wait_for_function("document.querySelector('h1').textContent === 'Report a problem'")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.select_option("#lang", "zh-CN")
    page.wait_for_function("document.querySelector('h1').textContent === '报事报修'")

    page.click("#send")  # nothing chosen: told so, nothing sent
    assert page.text_content("#form-status") == "请选择事项类型。"
    page.check("#kind-cleaning")
    page.fill("#description", PAYLOAD)
    page.fill("#contact", "+86 138 0000 0000")
    page.set_input_files(
        "#photo", files=[{"name": "floor.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}]
    )
    page.click("#send")
    link = page.wait_for_selector("#progress-link")
    href = link.get_attribute("href") or ""
    assert href.startswith("/p/") and len(href) > 30

    t = _portal_ticket(gateway)
    assert (t["category"], t["crew"], t["zone"]) == ("cleaning", "cleaning", "lobby")
    assert t["status"] == "assigned" and t["assignee"]
    text, _, photo_line = t["description"].rpartition("\n")
    assert text == PAYLOAD and photo_line.startswith("[photo ")  # the photo came along
    photo_id = photo_line.removeprefix("[photo ").removesuffix("]")
    shown = httpx.get(
        f"{gateway.base}/api/v1/photos/{photo_id}",
        headers={"Authorization": f"Bearer {TOKENS['operator']}"},
        timeout=10,
    )
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"

    link.click()
    page.wait_for_selector("#status")
    assert page.text_content("#status") == "已派给工作人员"
    assert page.query_selector("form#survey") is None

    for to in ("in_progress", "resolved"):
        gateway.api(
            "POST", f"/api/v1/tickets/{t['id']}/transition", role="operator", body={"to": to}
        )
    page.reload()
    page.wait_for_selector("form#survey")
    assert page.text_content("#status") == "已完成"
    for dim, score in (("overall", "9"), ("speed", "8"), ("thoroughness", "9"), ("attitude", "10")):
        page.select_option(f"#score-{dim}", score)
    page.fill("#comment", "很快")
    page.click("#survey-send")
    page.wait_for_selector("#survey-thanks")
    assert page.query_selector("form#survey") is None

    # a second answer is refused
    status = page.evaluate(
        """async (url) => (await fetch(url, {method: 'POST',
             headers: {'Content-Type': 'application/json'},
             body: JSON.stringify({overall: 1, speed: 1, thoroughness: 1,
                                   attitude: 1})})).status""",
        f"{href}/survey",
    )
    assert status == 409
    survey = gateway.api("GET", f"/api/v1/tickets/{t['id']}", role="operator")["survey"]
    assert (survey["overall"], survey["speed"], survey["attitude"]) == (9, 8, 10)

    # a forged code shows no page
    forged = page.goto(f"{gateway.base}/r/{secrets.token_urlsafe(16)[:22]}")
    assert forged is not None and forged.status == 404
    page.wait_for_selector("#not-found")

    # the refused second survey (409) and the forged page (404) are the only failed loads
    unexpected = [
        e
        for e in p.errors
        if not (e.startswith("Failed to load resource") and ("404" in e or "409" in e))
    ]
    assert unexpected == [], p.errors
    assert p.dialogs == [] and outside == []


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (80, 60), (40, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()
