"""The Maintenance page and the phone's checklist in Chromium, against a live gateway with
the demo site's plans: the calendar shows each plan's next occurrences (the gateway's own
calendar, occurrence by occurrence) and an asset's history newest first; a manager adds a
plan through the form; a technician answers a preventive ticket's checklist at 390x844,
and resolving with a required item unanswered is refused and shows that item highlighted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.browser.conftest import Page
from tests.browser.live import LiveGateway, now_ms

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery 9"
CHECKLIST = [
    {"id": "lamps", "text": "Panel lamps and buzzer test", "kind": "check"},
    {"id": "battery", "text": "Standby battery (V)", "kind": "number", "min": 24, "max": 28.5},
    {"id": "mcp", "text": "Manual call point operated", "kind": "text"},
    {"id": "note", "text": "Notes", "kind": "text", "required": False},
]


def on_loop(gw: LiveGateway, fn: Any) -> Any:
    """Run ``fn`` on the gateway's event loop (its services are the loop's) and return."""

    async def call() -> Any:
        return fn()

    assert gw._loop is not None
    return asyncio.run_coroutine_threadsafe(call(), gw._loop).result(10)


def dated_occurrences(gw: LiveGateway) -> list[dict[str, Any]]:
    """The calendar's dated occurrences, once the scheduler has seen the plans."""

    def got() -> list[dict[str, Any]]:
        cal = gw.api("GET", "/api/v1/maintenance/calendar?days=90", role="viewer")
        return [i for i in cal["items"] if i.get("due_at")]

    return list(gw.wait_for(got, timeout=15, what="the calendar's occurrences"))


def no_sideways_scroll(p: Page, where: str) -> None:
    doc, vw = p.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert doc <= vw, f"{where}: the page scrolls sideways ({doc} > {vw})"


def test_the_calendar_shows_the_plans_next_occurrences_and_an_assets_history(
    gateway: LiveGateway, open_page: Any
) -> None:
    made = [
        gateway.api(
            "POST",
            "/api/v1/tickets",
            role="operator",
            body={
                "title": title,
                "category": "repair",
                "priority": "low",
                "device": "fcu-lobby-01",
            },
        )
        for title in ("Fan-coil rattles", "Fan-coil drips on the carpet")
    ]
    occurrences = dated_occurrences(gateway)
    plans = {i["plan_id"] for i in occurrences}
    # the demo's calendar plans within 90 days: weekly fire panel, monthly AHU filter and
    # CCTV checks, quarterly extinguishers and carpets
    assert {"fire-panel-weekly", "ahu-filter-monthly", "cctv-monthly"} <= plans, plans

    p = open_page(gateway, width=1440, height=900)
    p.sign_in("operator")
    p.go("maintenance", ".mt-item.occ")
    page = p.page
    page.wait_for_function(
        f"() => document.querySelectorAll('.mt-item.occ').length === {len(occurrences)}",
        timeout=10_000,
    )
    shown = page.eval_on_selector_all(
        ".mt-item.occ", "els => els.map(e => [e.dataset.plan, e.dataset.asset, e.dataset.due])"
    )
    want = sorted((i["plan_id"], i["asset"], i["due_at"]) for i in occurrences)
    assert sorted(tuple(x) for x in shown) == want
    dues = [x[2] for x in shown]
    assert dues == sorted(dues), "the calendar is in date order"
    # the weekly test, week by week, titled as the plan
    weekly = page.locator(".mt-item.occ[data-plan=fire-panel-weekly]")
    assert weekly.count() == sum(1 for i in occurrences if i["plan_id"] == "fire-panel-weekly")
    assert weekly.count() >= 12
    assert "Fire alarm panel weekly test" in weekly.first.inner_text()
    # meter plans are listed with their meters; the plans' list has every plan
    assert page.locator(".mt-meter-table tr[data-plan=fcu-filter-2000h]").count() >= 1
    every = {p["id"] for p in gateway.api("GET", "/api/v1/plans")["items"]}
    listed = set(page.eval_on_selector_all(".mt-item.plan", "els => els.map(e => e.dataset.plan)"))
    assert listed == every

    # an asset's history, newest first
    page.click(".mt-asset-row[data-asset=fcu-lobby-01] button")
    page.wait_for_selector(".mt-asset-name[data-asset=fcu-lobby-01]")
    page.wait_for_selector(f".mt-hist[data-ticket-id='{made[1]['id']}']")
    ids = page.eval_on_selector_all(".mt-hist", "els => els.map(e => e.dataset.ticketId)")
    assert ids[:2] == [str(made[1]["id"]), str(made[0]["id"])], ids
    assert "Fan-coil drips on the carpet" in page.inner_text(".mt-history")
    # plant without telemetry is an asset too, with its plans
    page.click(".mt-asset-row[data-asset=fe-lobby-01] button")
    page.wait_for_selector(".mt-asset-name[data-asset=fe-lobby-01]")
    assert "Fire extinguisher quarterly check" in page.inner_text(".mt-detail-body .mt-chips")
    no_sideways_scroll(p, "maintenance 1440x900")
    assert p.errors == [] and p.dialogs == [], (p.errors, p.dialogs)


def test_a_manager_adds_a_plan_through_the_form(gateway: LiveGateway, open_page: Any) -> None:
    gateway.add_user("mgr-zhou", PASSWORD, roles="manager", name="周敏 Zhou Min")
    dated_occurrences(gateway)
    p = open_page(gateway, width=1440, height=900)
    p.sign_in_as("mgr-zhou", PASSWORD, view="maintenance")
    page = p.page
    page.wait_for_selector(".mt-item.occ")
    page.click(".mt-new-plan")
    page.wait_for_selector("dialog.modal[open] #pf-title")
    page.fill("#pf-title", "Lift machine room inspection")
    page.select_option("#pf-assets", ["lift-01"])
    page.select_option("#pf-crew", "electrical")
    page.select_option("#pf-preset", "weekly")
    page.fill("#pf-lead", "2")
    page.fill(".pf-cl-row:first-child .pf-cl-text", "Brake tested")
    page.click(".pf-add-item")
    page.fill(".pf-cl-row:nth-child(2) .pf-cl-text", "Oil level (mm)")
    page.select_option(".pf-cl-row:nth-child(2) .pf-cl-kind", "number")
    page.fill(".pf-cl-row:nth-child(2) .pf-cl-min", "10")
    page.fill(".pf-cl-row:nth-child(2) .pf-cl-max", "30")
    page.click("dialog.modal[open] button[type=submit]")
    page.wait_for_selector("dialog.modal[open]", state="detached")
    plan = next(
        x
        for x in gateway.api("GET", "/api/v1/plans")["items"]
        if x["title"] == "Lift machine room inspection"
    )
    assert plan["assets"] == ["lift-01"] and plan["crew"] == "electrical"
    assert (
        plan["trigger"]["calendar"].startswith("FREQ=WEEKLY") and plan["trigger"]["lead_days"] == 2
    )
    assert [(i["text"], i["kind"], i.get("min"), i.get("max")) for i in plan["checklist"]] == [
        ("Brake tested", "check", None, None),
        ("Oil level (mm)", "number", 10, 30),
    ]
    page.wait_for_selector(f".mt-item.plan[data-plan='{plan['id']}']")
    # its weeks come into the calendar once the scheduler has seen it
    page.wait_for_selector(
        f".mt-item.occ[data-plan='{plan['id']}'][data-asset=lift-01]", timeout=15_000
    )
    assert p.errors == [], p.errors


def preventive_ticket(gw: LiveGateway, assignee: str) -> dict[str, Any]:
    """A preventive ticket with a checklist, as the scheduler opens one, given to ``assignee``."""
    t = on_loop(
        gw,
        lambda: gw.runtime.tickets.open_preventive(
            plan_id="fire-panel-weekly",
            asset="fp-01",
            due_at_ms=now_ms() + 86_400_000,
            title="Fire alarm panel weekly test",
            crew="fire-safety",
            priority="medium",
            checklist=CHECKLIST,
            device="fp-01",
            system="fire",
            zone="plant-room",
        ),
    )
    t = gw.api("GET", f"/api/v1/tickets/{t['id']}")
    if t["assignee"] != assignee:
        t = gw.api(
            "POST",
            f"/api/v1/tickets/{t['id']}/transition",
            role="operator",
            body={"to": "assigned", "assignee": assignee},
        )
    assert t["assignee"] == assignee and t["checklist"]
    return dict(t)


def test_a_technician_answers_the_checklist_on_a_phone(
    gateway: LiveGateway, open_page: Any
) -> None:
    gateway.set_password("fire-xu", PASSWORD)  # 徐志明 Xu Zhiming, fire-safety crew
    t = preventive_ticket(gateway, "fire-xu")
    card = f"article.tcard[data-ticket-id='{t['id']}']"
    p = open_page(gateway, 390, 844, is_mobile=True, has_touch=True, device_scale_factor=2)
    p.sign_in_as("fire-xu", PASSWORD)
    page = p.page
    page.wait_for_selector(f"{card} .checklist")
    assert page.locator(f"{card} .cl-item").count() == 4
    page.click(f"{card} [data-action=start]")
    page.wait_for_selector(f"{card}[data-status=in_progress]")

    # the check is a switch; the number shows its limits; both are sent at once
    switch = page.locator(f"{card} .cl-item[data-item=lamps] input[role=switch]")
    switch.click()
    page.wait_for_selector(f"{card} .cl-item[data-item=lamps].answered")
    page.fill(f"{card} .cl-item[data-item=battery] input", "26.4")
    page.locator(f"{card} .cl-item[data-item=battery] input").press("Enter")
    page.locator(f"{card} .cl-item[data-item=battery] input").blur()
    page.wait_for_selector(f"{card} .cl-item[data-item=battery].answered")
    assert "24" in page.inner_text(f"{card} .cl-item[data-item=battery] .cl-limits")
    answers = gateway.api("GET", f"/api/v1/tickets/{t['id']}")["answers"]
    assert answers == {"lamps": True, "battery": 26.4}

    # resolving with "mcp" unanswered: refused (409), the item highlighted and focused
    page.click(f"{card} [data-action=resolve]")
    page.fill(f"{card} textarea.tech-note", "Weekly test done.")
    page.click(f"{card} [data-action=confirm-resolve]")
    missing = f"{card} .cl-item[data-item=mcp].missing"
    page.wait_for_selector(missing)
    page.wait_for_selector(".toast.error")
    assert page.locator(f"{card} .cl-item.missing").count() == 1  # the optional note is not
    assert page.locator(f"{missing} textarea").get_attribute("aria-invalid") == "true"
    assert page.evaluate("document.activeElement.closest('.cl-item')?.dataset.item") == "mcp"
    box = page.locator(missing).bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 844
    assert gateway.api("GET", f"/api/v1/tickets/{t['id']}")["status"] == "in_progress"
    no_sideways_scroll(p, "checklist 390x844")

    # answered, the highlight goes and the ticket resolves
    page.fill(f"{missing} textarea", "Call point L1-03 operated")
    page.locator(f"{card} .cl-item[data-item=mcp] textarea").blur()
    page.wait_for_selector(f"{card} .cl-item[data-item=mcp].answered:not(.missing)")
    page.click(f"{card} [data-action=confirm-resolve]")
    gateway.wait_for(
        lambda: gateway.api("GET", f"/api/v1/tickets/{t['id']}")["status"] == "resolved",
        timeout=10,
        what="the ticket resolved",
    )
    assert gateway.api("GET", f"/api/v1/tickets/{t['id']}")["answers"]["mcp"] == (
        "Call point L1-03 operated"
    )
    # the 409 was expected; nothing else went wrong on the page
    assert [e for e in p.errors if "409" not in e] == [], p.errors
