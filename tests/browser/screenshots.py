"""Screenshots of every page for the README: ``scripts/screenshots [--seconds N] [--out DIR]``.

Runs a demo-like gateway (the simulated sales centre with a bad day's scenarios, a zone
overheating replayed from the last eleven minutes, a few tickets raised by people and
moved along, one closed after its follow-up call) for about 20 seconds, then photographs
each page at 1920x1080 (the Maintenance page with an asset's detail open), the control
room on a 1440x900 laptop in English and in Chinese (control-room-1440x900-en.png,
control-room-1440x900-zh.png), the scorecard on the Figures page at 1440x900 in Chinese
(scorecard-1440x900-zh.png) and the technician's view at 390x844 with Debian's Chromium.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, TOKENS, LiveGateway, free_port, now_ms

SCENARIOS = (
    "lamp_failure:lt-office-01@1",
    "lamp_failure:lt-flat-b-02@2",
    "ahu_fault@2",
    "door_forced:door-fire-exit@3",
    "door_tamper:door-plant@4",
    "device_silent:lt-carpark-02@1",
    "supervisory@5",
    "pre_alarm@6",
    "fire_fault@7",
    "fire_alarm@9",
)
PEOPLE = (
    {
        "title": "VIP room 2 too cold during client meeting",
        "category": "complaint",
        "priority": "medium",
        "device": "fcu-vip-02",
        "description": "Client Mr Wang complained; please check the setpoint.",
    },
    {
        "title": "Coffee spilled on the sand-table model base",
        "category": "cleaning",
        "priority": "low",
    },
    {
        "title": "Flat C living room downlight flickers",
        "category": "repair",
        "priority": "low",
        "device": "lt-flat-c-01",
    },
    {"title": "Where to collect the parking permit?", "category": "enquiry", "priority": "low"},
    {
        "title": "Staff-only door does not latch",
        "category": "security",
        "priority": "high",
        "device": "door-staff",
    },
)


def _mosquitto_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=0.5):
            return True
    except OSError:
        return False


def _overheat(gw: LiveGateway) -> None:
    """Eleven minutes of a fan-coil losing the fight, replayed in a second (event time)."""
    now = now_ms()
    for i in range(23):
        ts = now - (22 - i) * 30_000
        temp = 24.2 + (0.0 if i < 4 else min(5.6, (i - 4) * 0.45))
        gw.publish(
            "hvac",
            "fcu-vip-01",
            "telemetry",
            {
                "ts": ts,
                "values": {
                    "zone_temp": round(temp, 2),
                    "setpoint": 24.0,
                    "fan": True,
                    "supply_temp": round(14.0 + i * 0.3, 2),
                    "power_kw": 1.2,
                },
            },
        )


def _tickets(gw: LiveGateway) -> None:
    made = []
    for body in PEOPLE:
        try:
            made.append(gw.api("POST", "/api/v1/tickets", role="operator", body=body))
        except Exception as exc:  # noqa: BLE001 - the screenshots go on without tickets
            print(f"  ticket not created: {exc}", file=sys.stderr)
            return
    moves: list[tuple[int, list[tuple[str, dict[str, Any]]]]] = [
        (
            0,
            [
                ("in_progress", {}),
                ("resolved", {"note": "Setpoint was 19 °C; reset to 24."}),
                ("closed", {"satisfaction": 8}),
            ],
        ),
        (2, [("in_progress", {})]),
        (4, [("in_progress", {}), ("on_hold", {"note": "Waiting for a new door closer."})]),
    ]
    for idx, steps in moves:
        t = made[idx]
        for to, extra in steps:
            try:
                if to == "closed":  # a complaint closes once its written reply is recorded
                    gw.api(
                        "POST",
                        f"/api/v1/tickets/{t['id']}/reply",
                        role="operator",
                        body={"text": "We reset the room to 24 °C; sorry for the cold meeting."},
                    )
                if t["status"] == "open" and to == "in_progress":
                    t = gw.api(
                        "POST",
                        f"/api/v1/tickets/{t['id']}/transition",
                        role="operator",
                        body={"to": "assigned"},
                    )
                t = gw.api(
                    "POST",
                    f"/api/v1/tickets/{t['id']}/transition",
                    role="technician",
                    body={"to": to, **extra},
                )
            except Exception as exc:  # noqa: BLE001
                print(f"  ticket {t['id']} -> {to}: {exc}", file=sys.stderr)
                break


def _shot(page: Any, path: Path) -> None:
    page.wait_for_timeout(600)
    page.screenshot(path=str(path))
    print(f"  {path}")


def _control_room(page: Any, base: str) -> None:
    """Sign in as the operator and open the overheating zone's alarm (its chart tells the
    story) in the detail pane."""
    page.goto(base + "/")
    page.click("form.signin-card .signin-switch")  # the token field is behind the switch
    page.fill("#token", TOKENS["operator"])
    page.click("form.signin-card button[type=submit]")
    page.wait_for_selector(".conn.c-live")
    page.wait_for_selector("tr.alarm-row")
    page.wait_for_timeout(1500)
    row = page.locator("tr.alarm-row", has_text="fcu-vip-01")
    if row.count() == 0:
        row = page.locator("tr.alarm-row").first
    row.first.locator("td.col-msg").click()
    page.wait_for_selector(".detail.open .chart, .detail.open .chart-box p", timeout=5000)
    page.wait_for_timeout(1200)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the building runs")
    ap.add_argument("--out", default="docs/screenshots", help="where the PNGs go")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    site_id = "shots" + uuid.uuid4().hex[:6]
    if _mosquitto_up():
        url, embedded = "mqtt://127.0.0.1:1883", False
    else:
        url, embedded = f"mqtt://127.0.0.1:{free_port()}", True
    with tempfile.TemporaryDirectory() as tmp:
        gw = LiveGateway(
            Path(tmp),
            mqtt_url=url,
            site_id=site_id,
            simulate=True,
            scenarios=SCENARIOS,
            embedded_broker=embedded,
        )
        print(f"gateway {gw.base} (site {site_id}, broker {url}); running {args.seconds:.0f} s")
        with gw:
            started = time.monotonic()
            time.sleep(min(3.0, args.seconds))
            _tickets(gw)
            _overheat(gw)
            while time.monotonic() - started < args.seconds:
                time.sleep(0.5)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ctx = browser.new_context(viewport={"width": 1920, "height": 1080})
                page = ctx.new_page()
                page.goto(gw.base + "/")
                _shot(page, out / "sign-in.png")
                _control_room(page, gw.base)
                _shot(page, out / "control-room.png")
                for view, name in (
                    ("building", "building"),
                    ("tickets", "tickets"),
                    ("figures", "figures"),
                    ("maintenance", "maintenance"),
                ):
                    page.goto(f"{gw.base}/#/{view}")
                    page.wait_for_timeout(1800)
                    if view == "maintenance":  # an asset with telemetry, its plans and history
                        page.click(".mt-asset-row[data-asset=ahu-01] button")
                        page.wait_for_selector(".mt-asset-name[data-asset=ahu-01]")
                    _shot(page, out / f"{name}.png")
                ctx.close()

                # the manager's scorecard, in Chinese on a laptop (an admin token reads it)
                laptop = browser.new_context(
                    viewport={"width": 1440, "height": 900}, locale="zh-CN"
                )
                page = laptop.new_page()
                page.goto(f"{gw.base}/#/figures")
                page.click("form.signin-card .signin-switch")
                page.fill("#token", TOKENS["admin"])
                page.click("form.signin-card button[type=submit]")
                page.wait_for_selector(".scorecard[data-state=ready] .sc-card", timeout=10_000)
                _shot(page, out / "scorecard-1440x900-zh.png")
                laptop.close()

                # the laptop the team has, in each of the pages' languages
                for locale, short in (("en-GB", "en"), ("zh-CN", "zh")):
                    laptop = browser.new_context(
                        viewport={"width": 1440, "height": 900}, locale=locale
                    )
                    page = laptop.new_page()
                    _control_room(page, gw.base)
                    _shot(page, out / f"control-room-1440x900-{short}.png")
                    laptop.close()

                phone = browser.new_context(
                    viewport={"width": 390, "height": 844},
                    device_scale_factor=2,
                    is_mobile=True,
                    has_touch=True,
                )
                page = phone.new_page()
                page.goto(gw.base + "/")
                page.click("form.signin-card .signin-switch")  # token field: behind the switch
                page.fill("#token", TOKENS["technician"])
                page.click("form.signin-card button[type=submit]")
                page.wait_for_selector(".tech-list .tcard", timeout=8000)
                page.wait_for_timeout(1200)
                _shot(page, out / "technician.png")
                resolve = page.locator("[data-action=resolve]")
                if resolve.count():
                    resolve.first.click()
                    page.locator("textarea.tech-note").first.fill(
                        "Replaced the lamp driver; tested all circuits."
                    )
                    page.locator("textarea.tech-note").first.scroll_into_view_if_needed()
                    _shot(page, out / "technician-resolve.png")
                phone.close()
                browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
