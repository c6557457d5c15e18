"""The one RFC 3339 parser (gateway.clock.parse_rfc3339_ms) and the clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.clock import ManualClock, iso_ms, parse_iso_ms, parse_rfc3339_ms

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-01-01T00:00:00Z", NOW_MS),
        ("2026-01-01T00:00:00z", NOW_MS),
        ("2026-01-01t00:00:00Z", NOW_MS),
        ("2026-01-01 00:00:00Z", NOW_MS),  # RFC 3339 allows a space for readability
        ("2026-01-01T08:00:00+08:00", NOW_MS),
        ("2025-12-31T19:30:00-04:30", NOW_MS),
        ("2026-01-01T00:00:00+00:00", NOW_MS),
        ("2026-01-01T00:00:00-00:00", NOW_MS),
        ("2026-01-01T00:00:00.042Z", NOW_MS + 42),
        ("2026-01-01T00:00:00.5Z", NOW_MS + 500),
        ("2026-01-01T00:00:00.0425Z", NOW_MS + 43),  # rounded half up
        ("2026-01-01T00:00:00.04249999999Z", NOW_MS + 42),
        ("2026-01-01T00:00:00.123456789Z", NOW_MS + 123),
        ("2026-01-01T00:00:00.9999Z", NOW_MS + 1000),
        ("2025-12-31T23:59:60Z", NOW_MS),  # a leap second
        (" 2026-01-01T00:00:00Z\n", NOW_MS),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
        ("0001-01-01T00:00:00Z", -62_135_596_800_000),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
        # past year 9999 once in UTC, and still exact
        ("9999-12-31T23:59:59-23:59", 253_402_300_799_000 + (23 * 60 + 59) * 60_000),
    ],
)
def test_accepted(text: str, ms: int) -> None:
    assert parse_rfc3339_ms(text) == ms
    assert parse_iso_ms(text) == ms


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("yesterday", "not an RFC 3339 time"),
        ("", "not an RFC 3339 time"),
        ("2026-01-01", "not an RFC 3339 time"),
        ("2026-01-01T00:00Z", "not an RFC 3339 time"),
        ("20260101T000000Z", "not an RFC 3339 time"),
        ("2026-01-01T00:00:00.Z", "not an RFC 3339 time"),
        ("2026-01-01T00:00:00+0800", "not an RFC 3339 time"),
        ("2026-W01-1T00:00:00Z", "not an RFC 3339 time"),
        ("٢٠٢٦-01-01T00:00:00Z", "not an RFC 3339 time"),
        ("2026-01-01T00:00:00", "no time zone offset"),
        ("0000-01-01T00:00:00Z", "year 0 is out of range"),
        ("2026-13-01T00:00:00Z", "month must be in 1..12"),
        ("2026-02-29T00:00:00Z", "day is out of range"),
        ("2026-01-01T24:00:00Z", "time of day out of range"),
        ("2026-01-01T00:60:00Z", "time of day out of range"),
        ("2026-01-01T00:00:61Z", "time of day out of range"),
        ("2026-01-01T00:00:00+24:00", "offset out of range"),
        ("2026-01-01T00:00:00+01:60", "offset out of range"),
    ],
)
def test_refused_with_a_value_error_that_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_rfc3339_ms(text)
    assert parse_iso_ms(text) is None


def test_not_a_string_is_a_value_error() -> None:
    for bad in (None, 5, b"2026-01-01T00:00:00Z"):
        with pytest.raises(ValueError, match="expected an RFC 3339 string"):
            parse_rfc3339_ms(bad)  # type: ignore[arg-type]
    assert parse_iso_ms(None) is None


@given(st.text(max_size=60))
def test_any_text_parses_or_raises_value_error(text: str) -> None:
    try:
        parse_rfc3339_ms(text)
    except ValueError:
        pass


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
)
def test_agrees_with_datetime(naive: datetime, offset_min: int) -> None:
    naive = naive.replace(microsecond=naive.microsecond // 1000 * 1000)
    dt = naive.replace(tzinfo=timezone(timedelta(minutes=offset_min)))
    expected = (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert parse_rfc3339_ms(dt.isoformat()) == expected


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_round_trip_with_iso_ms(ms: int) -> None:
    text = iso_ms(ms)
    assert text is not None and text.endswith("Z")
    assert parse_rfc3339_ms(text) == ms


def test_manual_clock_moves_only_forward() -> None:
    c = ManualClock()
    assert c.now_ms() == NOW_MS and c.monotonic() == 0.0
    c.advance(1.5)
    assert c.now_ms() == NOW_MS + 1500 and c.monotonic() == 1.5
    c.set(0)  # into the past: no move
    assert c.now_ms() == NOW_MS + 1500
    with pytest.raises(ValueError):
        c.advance(-1)
