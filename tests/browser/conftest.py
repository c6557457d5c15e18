"""Browser tests: Debian's Chromium driven by Playwright against a real sitewatch runtime
(real Mosquitto on 127.0.0.1:1883, SQLite in a temporary directory, HTTP on a free port)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, TOKENS, LiveGateway, seed_alarms


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    # package scope, not session: Playwright's sync API keeps an event loop running in
    # this thread while it is open, and later tests need asyncio.run()
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def gateway(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[LiveGateway]:
    with LiveGateway(tmp_path, mqtt_url=mosquitto_url, site_id=unique_site) as gw:
        yield gw


@pytest.fixture(scope="module")
def seeded_gateway(
    tmp_path_factory: pytest.TempPathFactory, mosquitto_url: str
) -> Iterator[LiveGateway]:
    """One gateway per test module with SEED's alarms open and a ticket for 孙涛 (Sun Tao),
    for tests that only look (layout, languages, accessibility)."""
    site = "t" + uuid.uuid4().hex[:10]
    with LiveGateway(tmp_path_factory.mktemp("gw"), mqtt_url=mosquitto_url, site_id=site) as gw:
        seed_alarms(gw)
        t = gw.api(
            "POST",
            "/api/v1/tickets",
            role="operator",
            body={
                "title": "Lobby fan-coil rattles",
                "category": "repair",
                "priority": "medium",
                "device": "fcu-lobby-01",
                "description": "Customer in the lobby reports a rattle.",
            },
        )
        gw.api(
            "POST",
            f"/api/v1/tickets/{t['id']}/transition",
            role="operator",
            body={"to": "assigned", "assignee": "elec-sun"},
        )
        yield gw


class Page:
    """A browser page signed in to the gateway, collecting what should never happen."""

    def __init__(self, page: Any, gw: LiveGateway) -> None:
        self.page = page
        self.gw = gw
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "console",
            lambda m: self.errors.append(m.text) if m.type == "error" else None,
        )

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(f"{d.type}: {d.message}")
        d.dismiss()

    def sign_in(self, role: str, view: str = "") -> None:
        """Sign in with the role's shared token (the form's "use an access token")."""
        self.page.goto(f"{self.gw.base}/" + (f"#/{view}" if view else ""))
        self.page.click("form.signin-card .signin-switch")
        self.page.fill("#token", TOKENS[role])
        self.page.click("form.signin-card button[type=submit]")
        self.page.wait_for_selector(f".role[data-role={role}]", state="attached")
        self.page.wait_for_selector(".conn.c-live", state="attached", timeout=10_000)

    def sign_in_as(self, user: str, password: str, view: str = "") -> None:
        """Sign in as a person (user id and password) and wait for the live stream."""
        self.page.goto(f"{self.gw.base}/" + (f"#/{view}" if view else ""))
        self.submit_password(user, password)
        self.page.wait_for_selector(f".who[data-user='{user}']", state="attached")
        self.page.wait_for_selector(".conn.c-live", state="attached", timeout=10_000)

    def submit_password(self, user: str, password: str) -> None:
        """Fill the sign-in form's id and password and submit it (the page is on it)."""
        self.page.fill("#user", user)
        self.page.fill("#password", password)
        self.page.click("form.signin-card button[type=submit]")

    def go(self, view: str, ready: str) -> None:
        """Show another view of the signed-in page and wait for ``ready`` to be there."""
        self.page.evaluate("v => { location.hash = '#/' + v; }", view)
        self.page.wait_for_selector(ready, state="attached", timeout=10_000)


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(
        gw: LiveGateway, width: int = 1920, height: int = 1080, lang: str = "en-GB", **kw: Any
    ) -> Page:
        # the browser's language is what the page starts in (navigator.language)
        ctx = chromium.new_context(viewport={"width": width, "height": height}, locale=lang, **kw)
        contexts.append(ctx)
        return Page(ctx.new_page(), gw)

    yield make
    for ctx in contexts:
        ctx.close()
