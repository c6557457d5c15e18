"""The embedded SQLite store: writes, idempotent redelivery, types, queries, retention."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink
from rules.model import Event, Telemetry

pytestmark = pytest.mark.anyio

DAY = 86_400_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_767_225_600.0)


def tel(ts: int, device: str = "ahu-1", **values: Any) -> Telemetry:
    return Telemetry("sc01", "hvac", device, ts, values, ts, zone="z1")


def make(tmp_path, clock: ManualClock, **kw: object) -> EmbeddedSink:
    opts: dict = dict(batch_size=100, flush_interval=0.05)
    opts.update(kw)
    return EmbeddedSink(tmp_path / "tsdb" / "t.db", Metrics(), clock, **opts)


async def test_write_query_types_and_order(tmp_path, clock: ManualClock) -> None:
    now = clock.now_ms()
    sink = make(tmp_path, clock)
    durable: list[int] = []
    sink.on_durable = durable.append
    await sink.start()
    sink.submit(tel(now - 2000, zone_temp=21, fan=True, mode="auto"), 1)
    sink.submit(tel(now - 1000, zone_temp=21.5, fan=False), 2)
    sink.submit(tel(now - 1500, device="other", zone_temp=99.0), 3)
    await sink.flush()
    assert sink.durable_seq == 3 and durable[-1] == 3
    rows = await sink.query("ahu-1", None, None, None)
    assert rows == [
        {"ts": now - 2000, "field": "fan", "value": True},
        {"ts": now - 2000, "field": "mode", "value": "auto"},
        {"ts": now - 2000, "field": "zone_temp", "value": 21.0},
        {"ts": now - 1000, "field": "fan", "value": False},
        {"ts": now - 1000, "field": "zone_temp", "value": 21.5},
    ]
    assert type(rows[2]["value"]) is float and type(rows[0]["value"]) is bool
    assert await sink.query("ahu-1", "zone_temp", now - 1500, None) == [
        {"ts": now - 1000, "field": "zone_temp", "value": 21.5}
    ]
    assert await sink.query("ahu-1", None, now - 2000, now - 2000) == rows[:3]
    # more than `limit`: the latest ones, still sorted by ts
    assert [r["ts"] for r in await sink.query("ahu-1", None, None, None, limit=2)] == [
        now - 1000,
        now - 1000,
    ]
    assert await sink.query("nobody", None, None, None) == []
    await sink.stop()


async def test_redelivery_overwrites_and_data_survives_restart(tmp_path, clock) -> None:
    now = clock.now_ms()
    sink = make(tmp_path, clock)
    await sink.start()
    sink.submit(tel(now, zone_temp=20.0), 1)
    sink.submit(tel(now, zone_temp=20.0), 2)  # the broker redelivered it
    await sink.flush()
    assert await sink.count_rows() == 1
    await sink.stop()

    again = make(tmp_path, clock)
    await again.start()
    assert await again.query("ahu-1", None, None, None) == [
        {"ts": now, "field": "zone_temp", "value": 20.0}
    ]
    await again.stop()


async def test_events_stored_and_bad_values_refused(tmp_path, clock) -> None:
    now = clock.now_ms()
    sink = make(tmp_path, clock)
    rejected: list[tuple[str, str]] = []
    sink.on_rejected = lambda line, reason: rejected.append((line, reason))
    await sink.start()
    sink.submit(Event("sc01", "fire", "fp-1", now, "fire_alarm", now, point="d1"), 1)
    sink.submit(tel(now, v=float("nan"), ok=1), 2)
    sink.submit(tel(now + 1, v=float("inf")), 3)  # nothing storable: refused, still durable
    await sink.flush()
    assert sink.durable_seq == 3
    assert [r for _, r in rejected] == ["not a finite number: nan", "not a finite number: inf"]
    assert await sink.query("ahu-1", None, None, None) == [{"ts": now, "field": "ok", "value": 1.0}]
    await sink.stop()
    con = sqlite3.connect(tmp_path / "tsdb" / "t.db")
    assert con.execute("SELECT device, ts_ms, type, point FROM events").fetchall() == [
        ("fp-1", now, "fire_alarm", "d1")
    ]
    con.close()


async def test_retention_by_age_and_by_rows(tmp_path, clock: ManualClock) -> None:
    now = clock.now_ms()
    sink = make(tmp_path, clock, retention_days=7, max_readings=5, sweep_interval_s=3600)
    await sink.start()
    sink.submit(tel(now - 8 * DAY, old=1.0), 1)  # backfill older than retention
    for i in range(4):
        sink.submit(tel(now - 1000 + i, v=float(i)), 2 + i)
    await sink.flush()
    # the first write swept (before the rows were all there); sweep now explicitly
    await sink.sweep()
    assert [r["field"] for r in await sink.query("ahu-1", None, None, None)] == ["v"] * 4
    for i in range(4):
        sink.submit(tel(now + i, v=10.0 + i), 10 + i)
    await sink.flush()
    await sink.sweep()
    rows = await sink.query("ahu-1", None, None, None)
    assert len(rows) == 5 and [r["value"] for r in rows] == [3.0, 10.0, 11.0, 12.0, 13.0]
    clock.advance(8 * 86_400)
    await sink.sweep()
    assert await sink.count_rows() == 0
    await sink.stop()


async def test_interval_flush_without_flush_call(tmp_path, clock) -> None:
    sink = make(tmp_path, clock, flush_interval=0.05)
    await sink.start()
    sink.submit(tel(clock.now_ms(), v=1.0), 1)
    for _ in range(100):
        if sink.durable_seq == 1:
            break
        await asyncio.sleep(0.01)
    assert sink.durable_seq == 1
    await sink.stop()


async def test_query_after_stop_is_a_query_failed(tmp_path, clock) -> None:
    from gateway.sinks.base import QueryFailed

    sink = make(tmp_path, clock)
    await sink.start()
    await sink.stop()
    with pytest.raises(QueryFailed):
        await sink.query("ahu-1", None, None, None)


async def test_readings_stamped_alike_merge_their_fields(tmp_path, clock) -> None:
    now = clock.now_ms()
    sink = make(tmp_path, clock)
    await sink.start()
    sink.submit(tel(now, zone_temp=20.0, fan=True), 1)
    await sink.flush()  # in another batch: the row is there when the next one comes
    sink.submit(tel(now, power_kw=1.5, zone_temp=20.5), 2)
    sink.submit(tel(now, mode="eco"), 3)  # and one in the same batch
    await sink.flush()
    assert await sink.query("ahu-1", None, None, None) == [
        {"ts": now, "field": "fan", "value": True},
        {"ts": now, "field": "mode", "value": "eco"},
        {"ts": now, "field": "power_kw", "value": 1.5},
        {"ts": now, "field": "zone_temp", "value": 20.5},
    ]
    assert await sink.count_rows() == 4
    await sink.stop()
    con = sqlite3.connect(tmp_path / "tsdb" / "t.db")
    # one row a reading; the telemetry view has one a value (booleans as 1/0)
    assert con.execute("SELECT count(*) FROM readings").fetchone() == (1,)
    assert con.execute(
        "SELECT field, value FROM telemetry WHERE device = 'ahu-1' ORDER BY field"
    ).fetchall() == [("fan", 1), ("mode", "eco"), ("power_kw", 1.5), ("zone_temp", 20.5)]
    con.close()


async def test_field_query_skips_readings_without_it_and_keeps_the_latest(tmp_path, clock):
    now = clock.now_ms()
    sink = make(tmp_path, clock)
    await sink.start()
    for i in range(6):
        values: dict[str, Any] = {"zone_temp": 20.0 + i}
        if i % 3 == 0:
            values["alarm_count"] = float(i)
        sink.submit(tel(now + i, **values), 1 + i)
    await sink.flush()
    assert await sink.query("ahu-1", "alarm_count", None, None) == [
        {"ts": now, "field": "alarm_count", "value": 0.0},
        {"ts": now + 3, "field": "alarm_count", "value": 3.0},
    ]
    assert [r["value"] for r in await sink.query("ahu-1", "zone_temp", None, None, limit=2)] == [
        24.0,
        25.0,
    ]
    # the limit counts values, cutting a reading's fields at the newest end
    assert await sink.query("ahu-1", None, now + 3, None, limit=3) == [
        {"ts": now + 3, "field": "zone_temp", "value": 23.0},
        {"ts": now + 4, "field": "zone_temp", "value": 24.0},
        {"ts": now + 5, "field": "zone_temp", "value": 25.0},
    ]
    await sink.stop()


async def test_a_file_of_one_row_a_value_is_converted_on_open(tmp_path, clock) -> None:
    now = clock.now_ms()
    path = tmp_path / "tsdb" / "t.db"
    path.parent.mkdir()
    con = sqlite3.connect(path)
    con.executescript(
        """
        CREATE TABLE telemetry (device TEXT NOT NULL, field TEXT NOT NULL,
            ts_ms INTEGER NOT NULL, value, PRIMARY KEY (device, field, ts_ms)) WITHOUT ROWID;
        CREATE INDEX telemetry_device_ts ON telemetry (device, ts_ms);
        CREATE INDEX telemetry_ts ON telemetry (ts_ms);
        """
    )
    con.executemany(
        "INSERT INTO telemetry VALUES (?, ?, ?, ?)",
        [
            ("ahu-1", "zone_temp", now - 10, 21.5),
            ("ahu-1", "fan", now - 10, 1),
            ("ahu-1", "mode", now - 10, "auto"),
            ("ahu-1", "fan", now - 5, 0),
            ("lamp-1", "power_w", now - 5, 12.0),
        ],
    )
    con.commit()
    con.close()
    sink = make(tmp_path, clock)
    await sink.start()
    assert await sink.query("ahu-1", None, None, None) == [
        {"ts": now - 10, "field": "fan", "value": True},
        {"ts": now - 10, "field": "mode", "value": "auto"},
        {"ts": now - 10, "field": "zone_temp", "value": 21.5},
        {"ts": now - 5, "field": "fan", "value": False},
    ]
    sink.submit(tel(now - 5, zone_temp=22.0), 1)  # joins the converted reading
    await sink.flush()
    assert await sink.query("ahu-1", None, now - 5, None) == [
        {"ts": now - 5, "field": "fan", "value": False},
        {"ts": now - 5, "field": "zone_temp", "value": 22.0},
    ]
    assert await sink.count_rows() == 6
    await sink.stop()
    con = sqlite3.connect(path)
    kinds = dict(con.execute("SELECT name, type FROM sqlite_master WHERE name LIKE 'tele%'"))
    assert kinds == {"telemetry": "view"}
    con.close()
