"""kWh by the trapezoid rule against a known integral: jitter, a 2-hour gap, a device
reporting every 5 minutes, bucket edges in the site's time zone."""

from __future__ import annotations

import pytest

from gateway.clock import ManualClock
from gateway.figures.energy import GAP_FACTOR, EnergyReader, integrate, power_points
from gateway.figures.periods import buckets
from tests.gateway.figures.fixtures import (
    MIN,
    T0,
    FakeSink,
    H,
    covered_truth,
    exact,
    fan_coil,
    office_lights,
    sample,
    small_site,
)

pytestmark = pytest.mark.anyio
DAY = 24 * H


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_constant_power_split_at_hour_edges() -> None:
    pts = [(T0 + i * MIN, 1.0) for i in range(0, 121)]  # 1 kW for exactly 2 h
    edges = buckets(T0 - H, T0 + 3 * H, "1h", small_site().tz)
    res = integrate(pts, 90_000, edges)
    assert res.kwh == pytest.approx([0.0, 1.0, 1.0, 0.0])
    assert res.covered_ms == [0, H, H, 0]


def test_step_across_an_edge_is_cut_on_the_line() -> None:
    # 0 kW at -30 min, 2 kW at +30 min: the line crosses 1 kW on the hour
    pts = [(T0 - 30 * MIN, 0.0), (T0 + 30 * MIN, 2.0)]
    res = integrate(pts, 2 * H, [(T0 - H, T0), (T0, T0 + H)])
    assert res.kwh == pytest.approx([0.25, 0.75])


def test_a_gap_is_not_credited() -> None:
    pts = [(T0, 1.0), (T0 + MIN, 1.0), (T0 + 3 * H, 1.0), (T0 + 3 * H + MIN, 1.0)]
    res = integrate(pts, 90_000, [(T0, T0 + 4 * H)])
    assert res.total_kwh == pytest.approx(2 / 60)  # the two one-minute steps only


def test_three_days_of_lights_with_jitter_and_a_two_hour_gap_within_1pct() -> None:
    profile = office_lights(1.2)
    gap = (T0 + DAY + 11 * H, T0 + DAY + 13 * H)  # 11:00-13:00 site time, day 2
    pts = sample(profile, T0, T0 + 3 * DAY, MIN, jitter_ms=3000, gap=gap)
    max_step = int(60 * GAP_FACTOR * 1000)
    res = integrate(pts, max_step, [(T0, T0 + 3 * DAY)])
    truth = covered_truth(profile, pts, max_step)
    assert res.total_kwh == pytest.approx(truth, rel=0.01)
    # the gap's energy (lights on at midday) is not invented
    gap_kwh = exact(profile, *gap)
    assert gap_kwh > 2.0
    whole = exact(profile, T0, T0 + 3 * DAY, dt_ms=5000.0)
    assert res.total_kwh == pytest.approx(whole - gap_kwh, rel=0.01)


def test_a_device_reporting_every_five_minutes_within_1pct() -> None:
    pts = sample(fan_coil, T0, T0 + 2 * DAY, 5 * MIN, jitter_ms=5000)
    res = integrate(pts, int(300 * GAP_FACTOR * 1000), [(T0, T0 + 2 * DAY)])
    assert res.total_kwh == pytest.approx(exact(fan_coil, T0, T0 + 2 * DAY, 5000.0), rel=0.01)


def test_power_points_convert_watts_and_drop_non_numbers() -> None:
    rows = [
        {"ts": 2, "field": "power_w", "value": 500.0},
        {"ts": 1, "field": "power_w", "value": True},
        {"ts": 3, "field": "power_w", "value": "n/a"},
        {"ts": 1, "field": "power_w", "value": 250},
    ]
    assert power_points(rows, 0.001) == [(1, 0.25), (2, 0.5)]


async def test_reader_by_zone_system_device_per_day() -> None:
    site = small_site()
    sink = FakeSink()
    lights = office_lights(0.8)
    gap = (T0 + 12 * H, T0 + 14 * H)  # 12:00-14:00 site time on the first day
    sink.add("lt-1", "power_w", sample(lights, T0 - H, T0 + 2 * DAY + H, MIN, gap=gap), 1000)
    sink.add("lt-2", "power_w", sample(office_lights(0.4), T0 - H, T0 + 2 * DAY + H, MIN), 1000)
    sink.add("fcu-1", "power_kw", sample(fan_coil, T0 - H, T0 + 2 * DAY + H, 5 * MIN))
    start, end = T0, T0 + 2 * DAY  # two site-local days
    reader = EnergyReader(site, sink, ManualClock(end / 1000 + 86400))
    by_device = await reader.series(start, end, "device", "1d")
    got = {(r["key"], r["start"]): r["kwh"] for r in by_device}
    assert sorted({k for k, _ in got}) == ["fcu-1", "lt-1", "lt-2"]
    assert sorted({s for _, s in got}) == [start, start + DAY]
    truth_lt1_day1 = exact(lights, start, start + DAY, 5000.0) - exact(lights, *gap, 5000.0)
    assert got[("lt-1", start)] == pytest.approx(truth_lt1_day1, rel=0.01)
    assert got[("fcu-1", start + DAY)] == pytest.approx(
        exact(fan_coil, start + DAY, end, 5000.0), rel=0.01
    )
    by_zone = {
        (r["key"], r["start"]): r["kwh"] for r in await reader.series(start, end, "zone", "1d")
    }
    assert by_zone[("flat", start)] == pytest.approx(got[("lt-2", start)] + got[("fcu-1", start)])
    by_system = await reader.series(start, end, "system", "1mo")
    assert [r["key"] for r in by_system] == ["hvac", "lighting"]
    total, devices = await reader.total(start, end, "lighting")
    assert devices == 2
    assert total == pytest.approx(sum(v for (k, _), v in got.items() if k.startswith("lt")))
