"""The energy roll-up against the raw-reading computation (the reference): the same kWh
within 0.1% over 90 days of readings (a 2-hour gap, a device reporting every 5 minutes),
by zone, system and device, per hour, day and month; readings out of order repaired from
the raw readings; a crash repaired at the next start; bounds and fall-backs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.figures import rollup_query
from gateway.figures.energy import EnergyReader
from gateway.figures.rollup import EnergyRollup
from gateway.store import make_engine, migrate
from gateway.store.models_energy import energy_rollup, energy_rollup_groups
from rules.model import Telemetry
from rules.site import Site
from tests.gateway.figures.fixtures import (
    MIN,
    T0,
    FakeSink,
    H,
    fan_coil,
    office_lights,
    sample,
    small_site,
)
from tests.pg import PG_URL, private_schema

pytestmark = pytest.mark.anyio
DAY = 24 * H
DAYS = 90
GAP = (T0 + 40 * DAY + 11 * H, T0 + 40 * DAY + 13 * H)  # 11:00-13:00 site time, day 41


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """The state store on SQLite, and on PostgreSQL in a schema of its own per run
    (dropped at the end; skipped when the server does not answer)."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/state.db")
        migrate(eng)
        yield eng
        eng.dispose()
        return
    with private_schema("sw_energy_") as schema:
        eng = make_engine(PG_URL, schema=schema)
        try:
            migrate(eng)
            yield eng
        finally:
            eng.dispose()


def readings() -> list[tuple[str, str, int, float]]:
    """90 days: lt-1 every minute with jitter and a 2-hour gap (watts), lt-2 every minute
    (watts), fcu-1 every 5 minutes with jitter (kW); in time order."""
    end = T0 + DAYS * DAY
    out = [
        ("lt-1", "power_w", ts, v * 1000)
        for ts, v in sample(office_lights(1.2), T0, end, MIN, jitter_ms=3000, gap=GAP)
    ]
    out += [("lt-2", "power_w", ts, v * 1000) for ts, v in sample(office_lights(0.4), T0, end, MIN)]
    out += [
        ("fcu-1", "power_kw", ts, v)
        for ts, v in sample(fan_coil, T0, end, 5 * MIN, jitter_ms=5000, seed=2)
    ]
    out.sort(key=lambda r: r[2])
    return out


def message(device: str, field: str, ts: int, value: float) -> Telemetry:
    system = "hvac" if field == "power_kw" else "lighting"
    return Telemetry("t1", system, device, ts, {field: value}, ts)


def feed(rollup: EnergyRollup, sink: FakeSink, rows: list[tuple[str, str, int, float]]) -> None:
    """Every reading to the sink and through the roll-up, as the pipeline does (the
    roll-up's sums written once a simulated day)."""
    by_device: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for device, field, ts, value in rows:
        by_device.setdefault((device, field), []).append((ts, value))
    for (device, field), points in by_device.items():
        sink.add(device, field, points)
    day = None
    for device, field, ts, value in rows:
        rollup(message(device, field, ts, value))
        if ts // DAY != day:
            day = ts // DAY
            rollup.flush()


@pytest.fixture(scope="module")
def ninety_days() -> list[tuple[str, str, int, float]]:
    return readings()


def close(got: list[dict], want: list[dict]) -> None:
    assert [(r["key"], r["start"]) for r in got] == [(r["key"], r["start"]) for r in want]
    for g, w in zip(got, want, strict=True):
        assert g["kwh"] == pytest.approx(w["kwh"], rel=1e-3, abs=1e-9), (g, w)


async def test_ninety_days_same_kwh_as_the_raw_readings(
    engine: sa.Engine, ninety_days: list[tuple[str, str, int, float]]
) -> None:
    site = small_site()
    clock = ManualClock((T0 - H) / 1000)
    sink = FakeSink()
    rollup = EnergyRollup(site, engine, clock, sink, hour_retention_days=120)
    rollup.restore()
    assert rollup.since_ms == T0 - H
    feed(rollup, sink, ninety_days)
    assert rollup.pending  # the last day's sums still in memory: read with the rows
    clock.advance((T0 + DAYS * DAY + H - clock.now_ms()) / 1000)
    raw = EnergyReader(site, sink, clock)
    fast = EnergyReader(site, sink, clock, rollup=rollup)
    cases = [
        (T0, T0 + DAYS * DAY, "device", "1mo"),  # 2026-08-03 .. 11-01: partial months
        (T0, T0 + DAYS * DAY, "zone", "1d"),
        (T0, T0 + DAYS * DAY, "system", "1mo"),
        (T0 + 39 * DAY, T0 + 42 * DAY, "device", "1h"),  # across the gap
        (T0 + 29 * DAY + 5 * H, T0 + 61 * DAY + 7 * H, "zone", "1mo"),  # hours, days, a month
        (T0 + 29 * DAY + 5 * H, T0 + 61 * DAY + 7 * H, "device", "1d"),
        (T0 + 29 * DAY + 5 * H, T0 + 61 * DAY + 7 * H, "system", "1d"),
    ]
    for start, end, by, step in cases:
        assert rollup_query.answers(rollup, start, end)
        calls = sink.calls
        got = await fast.series(start, end, by, step)
        assert sink.calls == calls  # not one raw reading read
        close(got, await raw.series(start, end, by, step))
    # the 2-hour gap is not filled: lt-1 credits nothing from 11:00 to 13:00 that day
    hours = await fast.series(GAP[0], GAP[1], "device", "1h")
    assert [r for r in hours if r["key"] == "lt-1"] == []
    for system in (None, "lighting", "hvac"):
        kwh, n = await fast.total(T0, T0 + DAYS * DAY, system)
        want, wn = await raw.total(T0, T0 + DAYS * DAY, system)
        assert n == wn and kwh == pytest.approx(want, rel=1e-3)
    # at most one row per device per hour, day and month
    with engine.connect() as conn:
        per = conn.execute(
            sa.select(energy_rollup.c.span, sa.func.count())
            .where(energy_rollup.c.device == "fcu-1")
            .group_by(energy_rollup.c.span)
        ).all()
    counts: dict[str, int] = {str(k): int(v) for k, v in per}
    assert counts["h"] <= DAYS * 24 + 1 and counts["d"] <= DAYS + 1 and counts["m"] <= 4
    # after the sweep, hours past the retention are gone and such periods are read raw
    rollup.hour_retention_ms = 30 * DAY
    rollup.sweep()
    with engine.connect() as conn:
        oldest = conn.execute(
            sa.select(sa.func.min(energy_rollup.c.start_ms)).where(energy_rollup.c.span == "h")
        ).scalar_one()
    assert oldest >= clock.now_ms() - 30 * DAY
    assert not rollup_query.answers(rollup, T0 + 5 * H, T0 + 10 * DAY)
    assert rollup_query.answers(rollup, T0, T0 + 10 * DAY)  # whole days: the day rows


async def test_periods_it_does_not_answer_are_read_raw(engine: sa.Engine) -> None:
    site = small_site()
    clock = ManualClock((T0 + DAY) / 1000)
    sink = FakeSink()
    rollup = EnergyRollup(site, engine, clock, sink)
    rollup.restore()  # since now: T0 + 1 day
    sink.add("lt-1", "power_w", [(T0 + i * MIN, 1000.0) for i in range(61)])
    assert not rollup_query.answers(rollup, T0, T0 + H)  # before the roll-up began
    assert not rollup_query.answers(rollup, T0 + DAY + MIN, T0 + DAY + H)  # not on the hour
    reader = EnergyReader(site, sink, clock, rollup=rollup)
    got = await reader.series(T0, T0 + H, "device", "1h")
    assert got == [{"key": "lt-1", "start": T0, "kwh": pytest.approx(1.0)}]


async def test_readings_out_of_order_are_repaired_from_the_raw_readings(
    engine: sa.Engine,
) -> None:
    site = small_site()
    clock = ManualClock((T0 - H) / 1000)
    sink = FakeSink()
    rollup = EnergyRollup(site, engine, clock, sink)
    rollup.restore()
    rows = [("lt-1", "power_w", T0 + i * MIN, 1000.0) for i in range(121)]
    late = rows.pop(30)  # 00:30 arrives last, with another power
    late = (late[0], late[1], late[2], 4000.0)
    feed(rollup, sink, rows)
    feed(rollup, sink, [late])
    rollup(message(*rows[-1]))  # a redelivery of the newest: nothing changes
    assert rollup.late == 1 and rollup.dirty
    clock.advance(3600 + 60)
    reader = EnergyReader(site, sink, clock, rollup=rollup)
    raw = EnergyReader(site, sink, clock)
    want = await raw.series(T0, T0 + 2 * H, "device", "1h")
    assert want[0]["kwh"] == pytest.approx(1.0 + 3 / 60)  # two 1-minute steps up to 4 kW
    before = await reader.series(T0, T0 + 2 * H, "device", "1h")
    assert before[0]["kwh"] == pytest.approx(1.0 - 2 / 60)  # the 2-minute step was a gap
    assert await rollup.repair() >= 1
    assert not rollup.dirty
    close(await reader.series(T0, T0 + 2 * H, "device", "1h"), want)
    # the repair's difference is written like any other sum
    rollup.flush()
    close(await reader.series(T0, T0 + 2 * H, "device", "1h"), want)


async def test_a_crash_is_repaired_at_the_next_start(engine: sa.Engine) -> None:
    site = small_site()
    clock = ManualClock((T0 - H) / 1000)
    sink = FakeSink()
    first = EnergyRollup(site, engine, clock, sink)
    first.restore()
    rows = [("lt-1", "power_w", T0 + i * MIN, 1000.0) for i in range(91)]
    feed(first, sink, rows[:31])
    first.flush()
    feed(first, sink, rows[31:61])  # never written: the process dies here
    sink.add("lt-1", "power_w", [(ts, v) for _, _, ts, v in rows[61:]])  # stored by others
    clock.advance((T0 + 90 * MIN - clock.now_ms()) / 1000)
    second = EnergyRollup(site, engine, clock, sink)
    second.restore()
    assert second.dirty  # not a clean stop
    feed(second, sink, [("lt-1", "power_w", T0 + 91 * MIN, 1000.0)])
    clock.advance(60)
    await second.repair()
    reader = EnergyReader(site, sink, clock, rollup=second)
    got = await reader.series(T0, T0 + 2 * H, "device", "1h")
    assert sum(r["kwh"] for r in got) == pytest.approx(91 / 60)
    second.close()
    third = EnergyRollup(site, engine, clock, sink)
    third.restore()
    assert not third.dirty  # a clean stop: nothing to repair
    got = await EnergyReader(site, sink, clock, rollup=third).series(T0, T0 + 2 * H, "device", "1h")
    assert sum(r["kwh"] for r in got) == pytest.approx(91 / 60)


async def test_the_processor_takes_power_only(engine: sa.Engine) -> None:
    site = small_site()
    rollup = EnergyRollup(site, engine, ManualClock(T0 / 1000), FakeSink())
    rollup.restore()
    for value in (True, "n/a", float("nan"), float("inf")):
        rollup(Telemetry("t1", "lighting", "lt-1", T0, {"power_w": value}, T0))
    rollup(Telemetry("t1", "lighting", "lt-1", T0, {"lux": 300.0}, T0))
    rollup(Telemetry("t1", "access", "door-1", T0, {"power_w": 5.0}, T0))  # not metered
    rollup(Telemetry("t1", "lighting", "nobody", T0, {"power_w": 5.0}, T0))
    assert not rollup.pending
    rollup(Telemetry("t1", "lighting", "lt-1", T0, {"power_w": 500}, T0))
    assert rollup.pending == {("lt-1", T0): [0.0, 0, T0, 0.5]}


async def test_a_failed_write_off_the_loop_puts_the_sums_back(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = small_site()
    clock = ManualClock(T0 / 1000)
    sink = FakeSink()
    rollup = EnergyRollup(site, engine, clock, sink)
    rollup.restore()
    rows = [("lt-1", "power_w", T0 + i * MIN, 1000.0) for i in range(31)]
    feed(rollup, sink, rows[:11])
    real = rollup._write

    def broken(stmt: object, batch: list[dict]) -> None:
        # readings arrive while the write is under way, then the database refuses it
        for _, _, ts, v in rows[11:21]:
            rollup(message("lt-1", "power_w", ts, v))
        raise sa.exc.OperationalError("upsert", {}, Exception("database is locked"))

    monkeypatch.setattr(rollup, "_write", broken)
    with pytest.raises(sa.exc.OperationalError):
        await rollup.flush_off_loop()
    assert rollup.pending[("lt-1", T0)][2] == T0 + 20 * MIN  # the newer reading kept
    monkeypatch.setattr(rollup, "_write", real)
    feed(rollup, sink, rows[21:])
    assert await rollup.flush_off_loop() == 1
    assert not rollup.pending
    got = await EnergyReader(site, sink, clock, rollup=rollup).series(T0, T0 + H, "device", "1h")
    assert sum(r["kwh"] for r in got) == pytest.approx(30 / 60)  # 1 kW for 30 minutes


def moved(site: Site, device: str, zone: str, *extra: dict) -> Site:
    """``site`` with ``device`` in ``zone`` and ``extra`` devices added."""
    data = site.model_dump(mode="json", by_alias=True, exclude_unset=True)
    for d in data["devices"]:
        if d["id"] == device:
            d["zone"] = zone
    data["devices"] += list(extra)
    return Site.model_validate(data)


async def test_zone_rows_follow_a_device_that_moves(
    engine: sa.Engine, ninety_days: list[tuple[str, str, int, float]]
) -> None:
    """lt-2 moves from the show flat to the lobby on day 2 at 10:20: by zone, every
    answer is the raw readings' under the new mapping (the zone rows answer from the next
    hour on, the device rows before); a device added does not move that hour; the
    mapping and the hour survive a restart."""
    first = small_site()
    second = moved(first, "lt-2", "lobby")
    current = [first]
    clock = ManualClock((T0 - H) / 1000)
    sink = FakeSink()
    rollup = EnergyRollup(lambda: current[0], engine, clock, sink, hour_retention_days=120)
    rollup.restore()
    assert rollup.groups.since_ms == T0 - H  # a new store: the zone rows answer from now
    switch = T0 + DAY + 10 * H + 20 * MIN
    rows = [r for r in ninety_days if r[2] < T0 + 3 * DAY]
    feed(rollup, sink, [r for r in rows if r[2] < switch])
    clock.advance((switch - clock.now_ms()) / 1000)
    current[0] = second
    feed(rollup, sink, [r for r in rows if r[2] >= switch])
    rollup.flush()
    assert rollup.groups.since_ms == T0 + DAY + 11 * H
    clock.advance((T0 + 3 * DAY + H - clock.now_ms()) / 1000)
    fast = EnergyReader(second, sink, clock, rollup=rollup)
    raw = EnergyReader(second, sink, clock)
    for start, end, by, step in [
        (T0, T0 + 3 * DAY, "zone", "1h"),
        (T0, T0 + 3 * DAY, "zone", "1d"),
        (T0, T0 + 3 * DAY, "zone", "1mo"),
        (T0 + DAY + 11 * H, T0 + 3 * DAY, "zone", "1h"),  # the zone rows alone
        (T0, T0 + 3 * DAY, "system", "1d"),
    ]:
        calls = sink.calls
        got = await fast.series(start, end, by, step)
        assert sink.calls == calls
        close(got, await raw.series(start, end, by, step))
    day3 = await fast.series(T0 + 2 * DAY, T0 + 3 * DAY, "zone", "1d")
    assert {r["key"] for r in day3} == {"lobby", "flat"}  # fcu-1 stays in the flat
    # the zone rows of a whole day after the move: as many as the devices' rows sum to
    with engine.connect() as conn:
        g = energy_rollup_groups
        zone_rows = conn.execute(
            sa.select(g.c.grp, g.c.kwh).where(
                g.c.grouping == "zone", g.c.span == "d", g.c.start_ms == T0 + 2 * DAY
            )
        ).all()
    assert sorted(k for k, _ in zone_rows) == ["flat", "lobby"]
    # a device added: the hour stays; a restart keeps both
    third = moved(
        second,
        "lt-2",
        "lobby",
        {"id": "lt-3", "system": "lighting", "type": "lighting_circuit", "zone": "plant"},
    )
    current[0] = third
    rollup(message("lt-1", "power_w", T0 + 3 * DAY + 30 * MIN, 500.0))
    rollup.close()
    assert rollup.groups.since_ms == T0 + DAY + 11 * H
    again = EnergyRollup(third, engine, clock, sink)
    again.restore()
    assert again.groups.since_ms == T0 + DAY + 11 * H
    assert again.groups.members["lt-3"] == ("plant", "lighting")
    # the old mapping back while it was stopped: from the next hour on
    back = EnergyRollup(first, engine, clock, sink)
    back.restore()
    assert back.groups.since_ms == T0 + 3 * DAY + 2 * H
    reader = EnergyReader(first, sink, clock, rollup=back)
    close(
        await reader.series(T0, T0 + 3 * DAY, "zone", "1d"),
        await EnergyReader(first, sink, clock).series(T0, T0 + 3 * DAY, "zone", "1d"),
    )


def test_parts_cut_where_the_zone_rows_begin() -> None:
    spans = [("d", 0, 10 * DAY), ("h", 10 * DAY, 10 * DAY + 5 * H)]
    assert rollup_query.parts(spans, None) == [(False, *p) for p in spans]
    assert rollup_query.parts(spans, 3 * DAY + H) == [
        (False, "d", 0, 3 * DAY + H),
        (True, "d", 3 * DAY + H, 10 * DAY),
        (True, "h", 10 * DAY, 10 * DAY + 5 * H),
    ]
    assert rollup_query.parts(spans, 20 * DAY) == [(False, *p) for p in spans]
