"""The trend trigger: a least-squares line through daily means, and the demo's fan-coil
filter, clogging slowly in the simulator, replaced before ``hvac.filter_clogged`` (250 Pa)
would ever fire."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from gateway.maintenance import triggers as tr
from simulators.devices import HvacUnit
from simulators.environment import Environment, zone_kind
from tests.gateway.maintenance.conftest import DAY_S, T0, make_world

TZ = ZoneInfo("Asia/Shanghai")


def test_fit_and_projection() -> None:
    assert tr.fit([(0, 1.0), (1, 3.0), (2, 5.0)]) == (2.0, 1.0)
    days = [("2026-01-01", 100.0), ("2026-01-02", 110.0), ("2026-01-03", 120.0)]
    now = tr.to_ms(datetime(2026, 1, 3, 12), TZ)  # noon of the last day: 120 Pa
    # 10 Pa a day: 250 Pa is 13 days away
    assert tr.projection(days, limit=250, within_days=12, now_ms=now, tz=TZ) is None
    at = tr.projection(days, limit=250, within_days=14, now_ms=now, tz=TZ)
    assert at == now + 13 * 86_400_000
    assert tr.projection(days[:2], limit=250, within_days=99, now_ms=now, tz=TZ) is None
    flat = [(d, 120.0) for d, _ in days]
    assert tr.projection(flat, limit=250, within_days=99, now_ms=now, tz=TZ) is None
    over = [*days[:2], ("2026-01-03", 251.0)]
    assert tr.projection(over, limit=250, within_days=1, now_ms=now, tz=TZ) == now


def test_the_filter_ticket_opens_before_the_filter_reaches_250_pa(tmp_path: Path) -> None:
    w = make_world(tmp_path)
    env = Environment(w.site.timezone, seed=7)
    fcu = HvacUnit(
        id="fcu-lobby-01",
        zone="lobby",
        kind=zone_kind("lobby"),
        period=60.0,
        next_beat=T0,
        rng=random.Random(4),
        last_t=T0,
    )
    fcu.start(T0, env)
    fcu.filter_dp = 200.0  # a filter well on its way
    t = T0
    opened_at = dp_at_open = None
    clogged_at = None
    while t < T0 + 80 * DAY_S and clogged_at is None:
        t += 300.0
        w.clock.set(t)
        reading = fcu.reading(t, env)
        w.pm.observe("fcu-lobby-01", int(t * 1000), reading)
        if fcu.filter_dp > 250 and clogged_at is None:
            clogged_at = t  # from here the rule (filter_dp > 250 for 10 min) would fire
        if int(t) % 3600 == 0:
            w.pm.tick(w.clock.now_ms())
            got = [x for x in w.all_tickets() if x.plan_id == "fcu-filter-trend"]
            if got and opened_at is None:
                opened_at, dp_at_open = t, fcu.filter_dp
                (ticket,) = got
                assert ticket.asset == "fcu-lobby-01" and ticket.due_at_ms is not None
                # due when the line reaches 250 Pa: within the plan's 10 days
                assert (
                    ticket.created_at_ms
                    <= ticket.due_at_ms
                    <= ticket.created_at_ms + (10 * 86_400_000)
                )
    assert opened_at is not None and dp_at_open is not None and clogged_at is not None
    assert dp_at_open < 250
    assert clogged_at - opened_at > 3 * DAY_S  # days (simulated) before the rule would fire
    # one occurrence at a time: no second ticket while the first is unfinished
    assert len([x for x in w.all_tickets() if x.plan_id == "fcu-filter-trend"]) == 1
    w.engine.dispose()
