"""Meters from telemetry: run-hours within 1% of the simulator's ground truth over 40
simulated days with a 2-hour gap, a lamp counter reset and a restart; steps longer than
the reporting interval are not credited; a meter plan opens at its mark."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gateway.maintenance.meters import HOUR_MS, STEP_SLACK, Meters
from gateway.store import make_engine, migrate
from rules.site import Site
from simulators.devices import HvacUnit, LightingCircuit
from simulators.environment import Environment, zone_kind
from tests.gateway.maintenance.conftest import DAY_S, T0, World, make_world

MIN_S = 60.0


def _units(tz: str) -> tuple[Environment, HvacUnit, LightingCircuit]:
    env = Environment(tz, seed=3)
    fcu = HvacUnit(
        id="fcu-lobby-01",
        zone="lobby",
        kind=zone_kind("lobby"),
        period=MIN_S,
        next_beat=T0,
        rng=random.Random(1),
        last_t=T0,
    )
    lamp = LightingCircuit(
        id="lt-lobby-01",
        zone="lobby",
        kind=zone_kind("lobby"),
        period=MIN_S,
        next_beat=T0,
        rng=random.Random(2),
        last_t=T0,
    )
    fcu.start(T0, env)
    lamp.start(T0, env)
    return env, fcu, lamp


def test_meter_hours_follow_the_simulator_through_a_gap_a_reset_and_a_restart(
    tmp_path: Path,
) -> None:
    w = make_world(tmp_path)
    env, fcu, lamp = _units(w.site.timezone)
    jitter = random.Random(5)
    days = 40
    gap = (T0 + 20 * DAY_S + 3 * 3600, T0 + 20 * DAY_S + 5 * 3600)  # 11:00-13:00 site time
    reset_at = T0 + 30 * DAY_S
    restart_at = T0 + 33 * DAY_S + 1234
    truth_fan = truth_on = 0.0
    burnt_before_reset = 0.0
    lamp_start = lamp.lamp_hours
    prev_fan = prev_on = False
    t = T0
    restarted = False
    while t < T0 + days * DAY_S:
        t += MIN_S
        if t >= reset_at and burnt_before_reset == 0.0:
            burnt_before_reset = lamp.lamp_hours
            lamp.lamp_hours = 0.0  # relamped: the circuit's counter starts again
        f = fcu.reading(t, env)
        li = lamp.reading(t, env)
        truth_fan += MIN_S / 3600 if prev_fan else 0.0  # the state holds until the next one
        truth_on += MIN_S / 3600 if prev_on else 0.0
        prev_fan, prev_on = bool(f["fan"]), bool(li["on"])
        if gap[0] <= t < gap[1]:
            continue  # the readings of two hours never arrive
        w.clock.set(t + 2)
        ts = int((t + jitter.uniform(-3, 3)) * 1000)  # the devices' clocks jitter a little
        w.pm.observe("fcu-lobby-01", ts, f)
        w.pm.observe("lt-lobby-01", ts, li)
        if int(t) % 3600 == 0:
            w.pm.tick(w.clock.now_ms())
        if t >= restart_at and not restarted:
            restarted = True
            w.restart(clean=True)
    truth_lamp = burnt_before_reset + lamp.lamp_hours
    fan_hours = w.pm.meters.value("fcu-lobby-01", "fan_hours")
    on_hours = w.pm.meters.value("lt-lobby-01", "on_hours")
    lamp_hours = w.pm.meters.value("lt-lobby-01", "lamp_hours")
    assert fan_hours is not None and on_hours is not None and lamp_hours is not None
    assert truth_fan > 250 and truth_on > 250  # the fan and lights ran most days
    assert abs(fan_hours - truth_fan) / truth_fan < 0.01, (fan_hours, truth_fan)
    assert abs(on_hours - truth_on) / truth_on < 0.01, (on_hours, truth_on)
    # the gap (while running) is not credited: at most the slack of one step
    assert fan_hours < truth_fan - 1.9
    # a counter goes on through a gap, and its reset is counted from zero
    assert abs(lamp_hours - truth_lamp) / (truth_lamp - lamp_start + 1e-9) < 0.01
    assert lamp_hours > burnt_before_reset
    starts = w.pm.meters.value("fcu-lobby-01", "starts")
    assert starts is not None and days - 5 <= starts <= days + 5  # once a day, in the morning
    w.engine.dispose()


def test_a_silent_device_is_credited_at_most_its_reporting_interval(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    from zoneinfo import ZoneInfo

    m = Meters(eng, ZoneInfo("Asia/Shanghai"))
    t0 = int(T0 * 1000)
    m.observe("fcu", 60, t0, {"fan": True})
    m.observe("fcu", 60, t0 + 86_400_000, {"fan": True})  # a day of silence
    assert m.value("fcu", "fan_hours") == 60 * STEP_SLACK * 1000 / HOUR_MS
    m.observe("fcu", 60, t0 + 86_400_000, {"fan": False})  # a duplicate: ignored
    m.observe("fcu", 60, t0 + 1000, {"fan": False})  # late: ignored
    m.observe("fcu", 60, t0 + 86_460_000, {"fan": False})
    assert round(m.value("fcu", "fan_hours") or 0, 6) == round((90 + 60) / 3600, 6)
    m.observe("fcu", 60, t0 + 86_520_000, {"fan": True})
    assert m.value("fcu", "starts") == 1
    m.observe("lt", 60, t0, {"lamp_hours": 100.0})
    m.observe("lt", 60, t0 + 60_000, {"lamp_hours": 100.5})
    m.observe("lt", 60, t0 + 120_000, {"lamp_hours": 0.25})  # reset
    assert m.value("lt", "lamp_hours") == 100.75
    m.save(t0 + 120_000)
    again = Meters(eng, ZoneInfo("Asia/Shanghai"))
    again.load()
    assert again.value("lt", "lamp_hours") == 100.75 and again.value("fcu", "starts") == 1
    eng.dispose()


def _fast_site(w: World) -> Site:
    base = w.site.model_dump(mode="json")
    base["plans"] = [
        {
            "id": "fcu-10h",
            "title": "Filter",
            "assets": ["fcu-lobby-01"],
            "crew": "hvac",
            "trigger": {"meter": "fan_hours", "every": 10, "due_days": 2},
        }
    ]
    return Site.model_validate(base)


def test_a_meter_plan_opens_one_ticket_per_mark(tmp_path: Path) -> None:
    w0 = make_world(tmp_path / "a")
    w = make_world(tmp_path / "b", _fast_site(w0))
    t = T0
    w.pm.observe("fcu-lobby-01", int(t * 1000), {"fan": True})
    w.pm.tick(w.clock.now_ms())  # first sight: the mark is 10 h from here
    for _ in range(int(25 * 60)):  # 25 hours of running, a reading a minute
        t += MIN_S
        w.clock.set(t)
        w.pm.observe("fcu-lobby-01", int(t * 1000), {"fan": True})
        w.pm.tick(w.clock.now_ms())
    got = [x for x in w.all_tickets() if x.plan_id == "fcu-10h"]
    assert len(got) == 2  # at 10 h and at 20 h
    opened_h = [(x.created_at_ms - T0 * 1000) / HOUR_MS for x in got]
    assert 10 <= opened_h[0] < 10.1 and 20 <= opened_h[1] < 20.1
    assert all(x.due_at_ms == x.created_at_ms + 2 * 86_400_000 for x in got)
    w.restart(clean=False)
    w.pm.tick(w.clock.now_ms() + 60_000)
    assert len([x for x in w.all_tickets() if x.plan_id == "fcu-10h"]) == 2
    for x in (w0, w):
        x.engine.dispose()


def test_each_device_id_and_field_is_kept_once_whatever_copies_arrive(tmp_path: Path) -> None:
    """Decoding and the store bring a new string per message and per row; the meters keep
    one of each (at 10,000 devices the copies were ~4 MB), and still count right."""
    from zoneinfo import ZoneInfo

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    t0 = int(T0 * 1000)

    def dev() -> str:
        return "".join(["fcu", "-1"])  # a new string each call, as a decoded topic is

    m = Meters(eng, ZoneInfo("UTC"), trend_fields=["filter_dp"])
    for i in range(3):
        m.observe(dev(), 60, t0 + i * 60_000, {"fan": True, "filter_dp": 100.0 + i})
    m.save(t0 + 3 * 60_000)
    again = Meters(eng, ZoneInfo("UTC"), trend_fields=["filter_dp"])
    again.load()
    again.observe(dev(), 60, t0 + 3 * 60_000, {"fan": True, "filter_dp": 103.0})  # reads the day
    again.observe(dev(), 60, t0 - 60_000, {"filter_dp": 99.0})  # late: a row kept apart
    for mt in (m, again):
        ids = {id(k) for k in mt._closed} | {id(k) for k in mt._by_device}
        assert len(ids) == 1
        rec = mt._by_device[dev()]
        names = [n for n, _ in rec[0].entries] + [*mt._closed.get(dev(), [])[::5]]
        assert len({id(n) for n in names if n == "filter_dp"}) == 1
        assert mt.has_days(dev(), "filter_dp") and mt.has_days(dev(), "starts")
        assert not mt.has_days(dev(), "zone_temp") and not mt.has_days("fcu-2", "filter_dp")
    assert again.value(dev(), "fan_hours") == 3 / 60 and again.value(dev(), "starts") == 0
    assert [(d, r.n, r.total) for d, r in again.daily(dev(), "filter_dp")] == [
        ("2025-12-31", 1, 99.0),
        ("2026-01-01", 4, 406.0),
    ]
    eng.dispose()


def test_a_save_in_many_batches_writes_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoneinfo import ZoneInfo

    from gateway.maintenance import meter_store

    monkeypatch.setattr(meter_store, "SAVE_BATCH", 3)
    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    t0 = int(T0 * 1000)
    m = Meters(eng, ZoneInfo("UTC"), trend_fields=["filter_dp"])
    for i in range(7):
        for k in range(2):
            m.observe(f"d{i}", 60, t0 + k * 60_000, {"fan": True, "filter_dp": 10.0 * i + k})
    assert m.save(t0 + 120_000) == 7 * 2 + 7 * 3  # fan_hours and starts; 3 day rows each
    assert m.save(t0 + 120_000) == 0  # all clean
    again = Meters(eng, ZoneInfo("UTC"), trend_fields=["filter_dp"])
    again.load()
    assert [again.value(f"d{i}", "fan_hours") for i in range(7)] == [1 / 60] * 7
    assert [again.daily(f"d{i}", "filter_dp")[0][1].total for i in range(7)] == [
        20.0 * i + 1 for i in range(7)
    ]
    eng.dispose()


def test_a_meters_day_rows_are_the_meter_itself_and_a_day_closed_before_a_save_is_kept(
    tmp_path: Path,
) -> None:
    """A meter's day row (its value at the day's last reading) is written from the meter at
    save time, no row object kept per meter; a reading of a new day before the save keeps
    the previous day's last value apart until it is written. Read back the same."""
    from zoneinfo import ZoneInfo

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    midnight = int(T0 * 1000) // 86_400_000 * 86_400_000 + 86_400_000  # UTC
    m = Meters(eng, ZoneInfo("UTC"))
    for k in (-3, -2, -1, 1, 2):  # 23:57 .. 23:59 (fan on), then 00:01, 00:02
        m.observe("fcu-1", 60, midnight + k * 60_000, {"fan": k != 1})
    day1, day2 = m.local_day(midnight - 1), m.local_day(midnight)
    # no row object for the meters: they are their own rows; day1's rows, closed before
    # a save, are kept apart (five items a row in the device's one list)
    assert list(m._closed) == ["fcu-1"]
    assert m._closed["fcu-1"][::5] == ["fan_hours", "starts"]
    assert m._closed["fcu-1"][1::5] == [day1, day1]
    # 23:57-23:59, then 23:59-00:01 credited 1.5 min (the interval x STEP_SLACK), then off
    expect_hours = [(day1, 2 / 60), (day2, 3.5 / 60)]
    expect_starts = [(day1, 0.0), (day2, 1.0)]  # off at 00:01, on again at 00:02
    for got in (m, None):
        if got is None:
            assert m.save(midnight + 3 * 60_000) == 2 + 2 * 2  # 2 meters, 2 day rows each
            got = Meters(eng, ZoneInfo("UTC"))
            got.load()
        hours = [(d, round(r.last or 0, 6)) for d, r in got.daily("fcu-1", "fan_hours")]
        assert hours == [(d, round(v, 6)) for d, v in expect_hours]
        assert [(d, r.last) for d, r in got.daily("fcu-1", "starts")] == expect_starts
        assert [(d, r.last) for d, r in got.daily("fcu-1", "starts", day2)] == [(day2, 1.0)]
        assert got.has_days("fcu-1", "fan_hours") and not got.has_days("fcu-1", "on_hours")
    assert m.save(midnight + 4 * 60_000) == 0  # all written: the closed row too
    eng.dispose()


def test_a_devices_meters_are_one_record_shared_names_no_spare_room(tmp_path: Path) -> None:
    """Each device's meters are one flat list (no dict, no object a meter): the names
    tuple shared by devices with the same meters, no room to spare; the newest reading
    the service took is kept in it; the values read back the same after a save."""
    import sys
    from zoneinfo import ZoneInfo

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    t0 = int(T0 * 1000)
    m = Meters(eng, ZoneInfo("UTC"))
    for k in range(3):
        for d in ("a", "b"):
            m.observe(d, 60, t0 + k * 60_000, {"fan": k != 1})
    a, b = m._by_device["a"], m._by_device["b"]
    assert a[0].entries == (("fan_hours", False), ("starts", False)) and a[0] is b[0]
    assert sys.getsizeof(a) == sys.getsizeof([None] * len(a))  # no spare room
    assert m.of("a") == {"fan_hours": round(1 / 60, 3), "starts": 1.0}
    assert m.taken("a") == t0 + 2 * 60_000 and m.taken("c") == -1  # meters' last reading
    m.take("a", t0 + 5 * 60_000)
    assert m.taken("a") == t0 + 5 * 60_000 and m.last_ts("a") == t0 + 2 * 60_000
    assert m.save(t0 + 3 * 60_000) == 2 * (2 + 2)  # 2 meters and their day rows, 2 devices
    again = Meters(eng, ZoneInfo("UTC"))
    again.load()
    assert again.of("a") == m.of("a") and again.value("b", "starts") == 1.0
    assert again.value("a", "on_hours") is None and again.value("zz", "starts") is None
    eng.dispose()


def test_a_trend_fields_running_day_is_in_the_record_and_other_days_are_added_to(
    tmp_path: Path,
) -> None:
    """A trend field's running day is four items of the device's record (no row object);
    a day closed by a reading of a new day before the save, and an earlier day a late
    reading adds to (read from the store if saved), are kept apart until the save; after
    a restart the stored rows of the day are added to, not replaced."""
    import sys
    from zoneinfo import ZoneInfo

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    midnight = int(T0 * 1000) // 86_400_000 * 86_400_000 + 86_400_000  # UTC
    utc = ZoneInfo("UTC")
    day1, day2 = "2026-01-01", "2026-01-02"

    def rows(mt: Meters, dev: str = "fcu-1") -> list[tuple[str, int, float]]:
        return [(d, r.n, r.total) for d, r in mt.daily(dev, "filter_dp")]

    m = Meters(eng, utc, trend_fields=["filter_dp"])
    m.observe("fcu-1", 60, midnight - 120_000, {"fan": True, "filter_dp": 10.0})
    m.observe("fcu-1", 60, midnight - 60_000, {"fan": True, "filter_dp": 20.0})
    m.observe("fcu-2", 60, midnight - 60_000, {"filter_dp": 5.0})
    rec = m._by_device["fcu-1"]
    assert [n for n, _ in rec[0].entries] == ["fan_hours", "starts", "filter_dp"]
    assert rec[-4:] == [30.0, 2, 20.0, day1] and m._closed == {}
    assert sys.getsizeof(rec) == sys.getsizeof([None] * 16)  # 4 + 3 entries, no spare room
    m.observe("fcu-1", 60, midnight + 60_000, {"fan": True, "filter_dp": 30.0})  # day 2
    assert m._closed["fcu-1"][::5] == ["fan_hours", "starts", "filter_dp"]
    m.observe("fcu-1", 60, midnight - 30_000, {"filter_dp": 40.0})  # late: day 1's row
    assert rows(m) == [(day1, 3, 70.0), (day2, 1, 30.0)]
    assert m.daily("fcu-1", "filter_dp")[0][1].last == 40.0
    # fcu-1: 2 meters, their rows of days 1 and 2, filter_dp's of days 1 and 2; fcu-2: 1
    assert m.save(midnight + 120_000) == 2 + 2 * 2 + 2 + 1
    assert m._closed == {} and m.save(midnight + 120_000) == 0
    m.observe("fcu-1", 60, midnight - 15_000, {"filter_dp": 50.0})  # late, day 1 saved
    assert rows(m) == [(day1, 4, 120.0), (day2, 1, 30.0)]
    assert m.save(midnight + 180_000) == 1
    again = Meters(eng, utc, trend_fields=["filter_dp"])
    again.load()
    assert rows(again) == [(day1, 4, 120.0), (day2, 1, 30.0)]
    again.observe("fcu-1", 60, midnight + 120_000, {"filter_dp": 60.0})  # reads day 2
    assert rows(again) == [(day1, 4, 120.0), (day2, 2, 90.0)]
    # fcu-2 has no day-2 row; a reading of day 2 starts one, day 1's stays as stored
    again.observe("fcu-2", 60, midnight + 120_000, {"filter_dp": 7.0})
    assert rows(again, "fcu-2") == [(day1, 1, 5.0), (day2, 1, 7.0)]
    assert again.has_days("fcu-2", "filter_dp") and not again.has_days("fcu-3", "filter_dp")
    assert again.save(midnight + 180_000) == 2
    third = Meters(eng, utc, trend_fields=["filter_dp"])
    third.load()
    assert rows(third) == [(day1, 4, 120.0), (day2, 2, 90.0)]
    assert rows(third, "fcu-2") == [(day1, 1, 5.0), (day2, 1, 7.0)]
    eng.dispose()


def test_a_field_new_to_the_trends_adds_to_its_stored_rows(tmp_path: Path) -> None:
    """A plan on a new trend field mid-day: the field's stored rows of the day are read
    (the day had been read before without them) and added to; the rows running already
    are kept as they are."""
    from zoneinfo import ZoneInfo

    eng = make_engine(f"sqlite:///{tmp_path}/m.db")
    migrate(eng)
    t0 = int(T0 * 1000) + 3_600_000
    utc = ZoneInfo("UTC")
    first = Meters(eng, utc, trend_fields=["a", "b"])
    first.observe("d", 60, t0, {"a": 1.0, "b": 10.0})
    first.save(t0)
    m = Meters(eng, utc, trend_fields=["b"])  # a plan on "a" is not there (yet)
    m.load()
    m.observe("d", 60, t0 + 60_000, {"a": 2.0, "b": 20.0})  # reads the day's rows of "b"
    m.save(t0 + 60_000)
    m.observe("d", 60, t0 + 120_000, {"a": 3.0, "b": 30.0})
    m.trend_fields = {"a", "b"}
    m.observe("d", 60, t0 + 180_000, {"a": 4.0, "b": 40.0})
    assert [(r.n, r.total) for _, r in m.daily("d", "a")] == [(2, 5.0)]  # stored 1 + 4
    assert [(r.n, r.total) for _, r in m.daily("d", "b")] == [(4, 100.0)]
    m.save(t0 + 180_000)
    again = Meters(eng, utc, trend_fields=["a", "b"])
    assert [(r.n, r.total) for _, r in again.daily("d", "a")] == [(2, 5.0)]
    assert [(r.n, r.total) for _, r in again.daily("d", "b")] == [(4, 100.0)]
    eng.dispose()
