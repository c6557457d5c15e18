"""Dispatch: the roster in the site's time zone, least open work, the escalation chain,
and service levels per priority and category."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from gateway.dispatch import Roster, ServiceLevels
from gateway.site import load_site

SITE = load_site()
TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> int:
    """Site-local ``YYYY-MM-DD HH:MM`` as epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


@pytest.fixture
def roster() -> Roster:
    return Roster(SITE)


def test_on_shift_uses_the_site_time_zone(roster: Roster) -> None:
    # 2026-01-05 is a Monday; 10:00 in Shanghai is 02:00 UTC
    assert roster.on_shift("hvac", at("2026-01-05 10:00")) == ["hvac-zhang"]
    assert roster.on_shift("hvac", at("2026-01-08 10:00")) == ["hvac-zhang", "hvac-liu"]  # Thu
    assert roster.on_shift("hvac", at("2026-01-10 10:00")) == ["hvac-liu"]  # Saturday
    assert roster.on_shift("hvac", at("2026-01-05 21:30")) == ["hvac-li"]
    assert roster.on_shift("hvac", at("2026-01-05 03:00")) == ["hvac-li"]
    # shift edges: start included, end excluded
    assert roster.on_shift("hvac", at("2026-01-05 08:00")) == ["hvac-zhang"]
    assert roster.on_shift("hvac", at("2026-01-05 20:00")) == ["hvac-li"]
    assert roster.on_shift("nope", at("2026-01-05 10:00")) == []


def test_on_call_outside_shifts(roster: Roster) -> None:
    # customer service works 08:30-18:30; at 22:00 the on-call member is on duty
    assert roster.on_shift("customer-service", at("2026-01-05 22:00")) == []
    assert roster.on_duty("customer-service", at("2026-01-05 22:00")) == ["cs-he"]
    # Monday 07:30: sec-zhou (Sat-Mon 00-08) covers the night
    assert roster.on_duty("security", at("2026-01-05 07:30")) == ["sec-zhou"]
    assert roster.on_duty("nope", at("2026-01-05 10:00")) == []


def test_least_open_work_then_file_order(roster: Roster) -> None:
    thu = at("2026-01-08 10:00")  # zhang and liu both on shift
    assert roster.pick("hvac", thu, {}) == "hvac-zhang"
    assert roster.pick("hvac", thu, {"hvac-zhang": 2, "hvac-liu": 1}) == "hvac-liu"
    assert roster.pick("hvac", thu, {"hvac-zhang": 1, "hvac-liu": 1}) == "hvac-zhang"
    # members off shift never get it, however idle
    assert roster.pick("hvac", at("2026-01-05 10:00"), {"hvac-zhang": 9}) == "hvac-zhang"
    assert roster.pick("nope", thu, {}) is None


def test_escalation_chain(roster: Roster) -> None:
    assert roster.escalation_chain("hvac") == ["hvac-zhang", SITE.site_manager]
    assert roster.escalation_chain("nope") == [SITE.site_manager]
    assert roster.members()["cs-gao"] == "customer-service"


def test_service_levels_defaults_are_the_contract_table() -> None:
    sl = ServiceLevels()
    assert sl.minutes("critical", "repair") == {
        "assign": 2,
        "respond": 15,
        "resolve": 240,
        "callback": 1440,
    }
    assert sl.minutes("high", "x") == {
        "assign": 15,
        "respond": 60,
        "resolve": 480,
        "callback": 1440,
    }
    assert sl.minutes("medium", "x")["resolve"] == 24 * 60
    assert sl.minutes("low", "x")["respond"] == 4 * 60
    assert sl.minutes("low", "x")["resolve"] == 72 * 60
    lv = sl.levels("high", "x")
    assert (lv.assign_ms, lv.respond_ms, lv.resolve_ms) == (900_000, 3_600_000, 28_800_000)


def test_service_levels_per_priority_and_category() -> None:
    sl = ServiceLevels(
        {
            "low": {"resolve": 48 * 60},
            "cleaning": {"resolve": 240, "callback": 120},
            "low/cleaning": {"assign": 5},
        }
    )
    assert sl.minutes("low", "repair")["resolve"] == 48 * 60
    assert sl.minutes("low", "cleaning") == {
        "assign": 5,
        "respond": 240,
        "resolve": 240,
        "callback": 120,
    }
    assert sl.minutes("high", "cleaning")["resolve"] == 240
    assert sl.minutes("high", "cleaning")["assign"] == 15
    with pytest.raises(ValueError, match="unknown clock"):
        ServiceLevels({"low": {"fix": 1}})
    with pytest.raises(ValueError, match="> 0"):
        ServiceLevels({"low": {"resolve": 0}})
