"""Browser tests: Debian's Chromium driven by Playwright against a real sitewatch runtime
(real Mosquitto on 127.0.0.1:1883, SQLite in a temporary directory, HTTP on a free port)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.live import CHROMIUM, CHROMIUM_ARGS, TOKENS, LiveGateway


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
        self.page.goto(f"{self.gw.base}/" + (f"#/{view}" if view else ""))
        self.page.fill("#token", TOKENS[role])
        self.page.click("form.signin-card button[type=submit]")
        self.page.wait_for_selector(f".role[data-role={role}]", state="attached")
        self.page.wait_for_selector(".conn.c-live", state="attached", timeout=10_000)


@pytest.fixture
def open_page(chromium: Any) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(gw: LiveGateway, width: int = 1920, height: int = 1080, **kw: Any) -> Page:
        ctx = chromium.new_context(viewport={"width": width, "height": height}, **kw)
        contexts.append(ctx)
        return Page(ctx.new_page(), gw)

    yield make
    for ctx in contexts:
        ctx.close()
