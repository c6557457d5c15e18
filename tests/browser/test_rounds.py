"""Rounds on a phone in Chromium (390x844): a 10-checkpoint round with a photo and a failed
item opens exactly one linked ticket; answers given offline (Playwright's offline mode)
are kept and replayed in order when the page is back online, a replay whose response was
lost applied once (its idempotency key)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.browser.conftest import Page
from tests.browser.live import LiveGateway

PASSWORD = "correct horse battery 9"
TEMPLATE = {
    "id": "phone-round",
    "name": "Phone round 手机巡检",
    "crew": "cleaning",
    "schedule": {"every_min": 10, "start": "00:00", "end": "23:50"},
    "grace_min": 10,
    "window_min": 60,
    "open_ahead_min": 15,
    "checkpoints": [
        {
            "id": f"cp{i:02d}",
            "zone": "lobby" if i < 5 else "sand-table",
            "name": f"Point {i}",
            "items": [{"id": "clean", "text": "Clean 清洁", "standard": "无水渍、无垃圾"}],
        }
        for i in range(10)
    ],
}


def setup(gw: LiveGateway) -> int:
    gw.set_password("clean-hu", PASSWORD)  # 胡桂芳 Hu Guifang, cleaning crew (site file)
    gw.api("POST", "/api/v1/rounds/templates", body=TEMPLATE)
    due = gw.api("GET", "/api/v1/rounds?status=due")["items"]
    return int(next(r["id"] for r in due if r["template_id"] == "phone-round"))


def start_round(p: Page, rid: int) -> None:
    p.sign_in_as("clean-hu", PASSWORD, view="rounds")
    p.page.click(f".round-card[data-round='{rid}'] .round-start")
    p.page.wait_for_selector(f".round-page[data-round='{rid}'][data-status=in_progress]")


def answer(p: Page, cp: str, passed: bool = True, photo: Path | None = None) -> None:
    if not p.page.is_visible(f".cp-form[data-cp={cp}]"):
        p.page.click(f".cp[data-cp={cp}]")
    form = f".cp-form[data-cp={cp}]"
    p.page.click(f"{form} label.pf-{'pass' if passed else 'fail'}")
    if photo is not None:
        p.page.set_input_files("#cp-photo", str(photo))
        p.page.wait_for_selector(f"{form} img.thumb", timeout=10_000)
    p.page.click(f"{form} .cp-save")


def queue_empty(p: Page) -> None:
    p.page.wait_for_selector(".net .queue-count[data-n='0']", state="attached", timeout=15_000)


def test_a_ten_checkpoint_round_with_a_photo_and_a_failed_item(
    gateway: LiveGateway, open_page: Any, tmp_path: Path
) -> None:
    rid = setup(gateway)
    photo = tmp_path / "spill.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 200)).save(buf, "JPEG")
    photo.write_bytes(buf.getvalue())
    p = open_page(gateway, 390, 844)
    start_round(p, rid)
    for i in range(10):
        answer(p, f"cp{i:02d}", passed=i != 6, photo=photo if i == 6 else None)
    queue_empty(p)
    p.page.wait_for_selector(".cp[data-cp=cp06][data-state=failed]", timeout=10_000)
    assert p.page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    p.page.screenshot(path=str(tmp_path / "round.png"), full_page=True)
    p.page.click(".round-finish")
    queue_empty(p)
    gateway.wait_for(
        lambda: gateway.api("GET", f"/api/v1/rounds/{rid}")["status"] == "done", what="done"
    )
    r = gateway.api("GET", f"/api/v1/rounds/{rid}")
    assert r["progress"] == {"done": 10, "total": 10, "failed": 1}
    assert len(r["checkpoints"][6]["photos"]) == 1
    tickets = gateway.api("GET", "/api/v1/tickets")["items"]
    assert len(tickets) == 1
    t = tickets[0]
    assert t["source"] == "inspection" and t["zone"] == "sand-table" and t["crew"] == "cleaning"
    assert [f["ticket_id"] for f in r["findings"]] == [t["id"]]
    assert p.errors == [] and p.dialogs == []


def test_answers_given_offline_are_replayed_in_order_without_duplicates(
    gateway: LiveGateway, open_page: Any
) -> None:
    rid = setup(gateway)
    p = open_page(gateway, 390, 844)
    start_round(p, rid)
    answer(p, "cp00")
    queue_empty(p)
    p.page.context.set_offline(True)
    for cp in ("cp01", "cp02", "cp03"):
        answer(p, cp)
    p.page.wait_for_selector(".net[data-online=false] .queue-count[data-n='3']", state="attached")
    p.page.click(".cp-form .cp-cancel")  # the form moved on to cp04: back to the list
    assert p.page.is_visible(".cp[data-cp=cp02][data-state=queued]")
    assert [
        a["checkpoint"] for a in gateway.api("GET", f"/api/v1/rounds/{rid}")["answers_log"]
    ] == ["cp00"]
    # the first answer sent after the outage reaches the gateway but its response is lost:
    # the page sends it again with the same key
    lost: list[str] = []

    def lose_response(route: Any) -> None:
        if not lost:
            lost.append(route.request.post_data or "")
            route.fetch()  # the gateway applies it
            route.abort("connectionreset")  # the phone never hears back
        else:
            route.continue_()

    p.page.route(f"**/api/v1/rounds/{rid}/checkpoints/**", lose_response)
    p.page.context.set_offline(False)
    p.page.evaluate("window.dispatchEvent(new Event('online'))")
    queue_empty(p)
    log = gateway.api("GET", f"/api/v1/rounds/{rid}")["answers_log"]
    assert [a["checkpoint"] for a in log] == ["cp00", "cp01", "cp02", "cp03"]
    assert len({a["key"] for a in log}) == 4 and log[1]["key"] in lost[0]  # cp01's, once
    # the browser logs the calls it could not make (offline, the lost response); nothing else
    assert [e for e in p.errors if "net::ERR_" not in e] == []
