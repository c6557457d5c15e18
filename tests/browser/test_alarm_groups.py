"""The control room in a flood (issue 10, EEMUA 191): many offline alarms of one zone are
one group row, its alarms shown on demand; a fire alarm still comes on its own."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from rules.model import RuleHit
from tests.browser.live import LiveGateway, now_ms

pytestmark = pytest.mark.integration

R = TypeVar("R")


def on_loop(gw: LiveGateway, fn: Callable[[], R]) -> R:
    """``fn()`` on the gateway's own event loop (where its services live)."""
    fut: concurrent.futures.Future[R] = concurrent.futures.Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            fut.set_exception(exc)

    assert gw._loop is not None
    gw._loop.call_soon_threadsafe(run)
    return fut.result(20)


def offline(gw: LiveGateway, n: int) -> None:
    hits = [
        RuleHit(
            rule="device.offline",
            site=gw.site_id,
            system="lighting",
            device=f"cp-light-{i:03d}",
            point=None,
            active=True,
            ts_ms=now_ms(),
            value="offline",
            zone="car-park",
        )
        for i in range(n)
    ]
    on_loop(gw, lambda: gw.runtime.alarms.apply_many(hits))


def test_a_flood_is_one_group_row_and_fire_alarms_stay_alone(
    gateway: LiveGateway, open_page: Any
) -> None:
    offline(gateway, 14)
    p = open_page(gateway)
    p.sign_in("operator")
    page = p.page
    group = page.wait_for_selector("tr.group-row", timeout=5000)
    assert group.get_attribute("data-count") == "14"
    assert "14 devices offline in zone Car park" in group.inner_text()
    assert page.locator("tr.alarm-row[data-priority=low]").count() == 0  # none by itself

    # more of the flood: the group's count follows (live `groups` events)
    offline_more = [
        RuleHit(
            rule="device.offline",
            site=gateway.site_id,
            system="lighting",
            device=f"cp-light-{i:03d}",
            point=None,
            active=True,
            ts_ms=now_ms(),
            value="offline",
            zone="car-park",
        )
        for i in range(14, 20)
    ]
    on_loop(gateway, lambda: gateway.runtime.alarms.apply_many(offline_more))
    page.wait_for_selector("tr.group-row[data-count='20']", timeout=5000)

    # its alarms on demand
    page.click("tr.group-row button[data-action=members]")
    page.locator("tr.member-row").nth(19).wait_for(timeout=5000)
    assert page.locator("tr.member-row").count() == 20

    # a fire alarm is never grouped away
    gateway.publish(
        "fire", "fp-01", "event", {"ts": now_ms(), "type": "fire_alarm", "point": "L1-D03"}
    )
    page.wait_for_selector("tr.alarm-row[data-priority=critical]", timeout=3000)
    assert page.locator("tr.group-row").count() == 1
