"""Periods of the manager's figures, in the site's time zone.

A scorecard period is a calendar month written ``YYYY-MM`` (the site's months: a month
in Shanghai starts at 16:00 UTC the day before). :func:`parse_month` checks one against
the clock (a month after the current one is refused, the current one is "to date");
:func:`month_bounds` gives its epoch-ms ``[start, end)``; :func:`trailing_months` the 12
months of a trend. :func:`buckets` cuts ``[start, end)`` into site-local hours, days or
months for the energy figures. Pure functions: nothing here reads a clock by itself.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.errors import Invalid

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
ACCEPTED_PERIOD = "a month written YYYY-MM (for example 2026-11), not after the current month"
#: energy steps: the contract's names
STEPS: tuple[str, ...] = ("1h", "1d", "1mo")
TREND_PERIODS = 12


class BadPeriod(Invalid):
    """A period the figures cannot be computed for (HTTP 422, naming the accepted forms)."""

    def __init__(self, given: str, why: str) -> None:
        super().__init__(f"period {given!r}: {why}; accepted: {ACCEPTED_PERIOD}")
        self.given = given
        self.why = why

    def detail(self) -> object:
        return {"msg": str(self), "given": self.given, "accepted": [ACCEPTED_PERIOD]}


def month_of(epoch_ms: int, tz: ZoneInfo) -> tuple[int, int]:
    d = datetime.fromtimestamp(epoch_ms / 1000, tz)
    return d.year, d.month


def parse_month(text: str, now_ms: int, tz: ZoneInfo) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month); :class:`BadPeriod` for another form, a month that
    does not exist, one before 1970 or one after the current month (site time)."""
    m = MONTH_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise BadPeriod(str(text), "not a month")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12 or year < 1970:
        raise BadPeriod(text, "no such month")
    if (year, month) > month_of(now_ms, tz):
        raise BadPeriod(text, "a month in the future")
    return year, month


def month_name(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def add_months(year: int, month: int, n: int) -> tuple[int, int]:
    k = year * 12 + (month - 1) + n
    return k // 12, k % 12 + 1


def _local_ms(year: int, month: int, day: int, hour: int, tz: ZoneInfo) -> int:
    return int(datetime(year, month, day, hour, tzinfo=tz).timestamp() * 1000)


def month_bounds(year: int, month: int, tz: ZoneInfo) -> tuple[int, int]:
    """The month's ``[start, end)`` in epoch ms, site time."""
    ny, nm = add_months(year, month, 1)
    return _local_ms(year, month, 1, 0, tz), _local_ms(ny, nm, 1, 0, tz)


def trailing_months(year: int, month: int, n: int = TREND_PERIODS) -> list[tuple[int, int]]:
    """The ``n`` months ending with (year, month), oldest first."""
    return [add_months(year, month, i) for i in range(-(n - 1), 1)]


def buckets(
    start_ms: int, end_ms: int, step: str, tz: ZoneInfo, limit: int | None = None
) -> list[tuple[int, int]]:
    """``[start, end)`` cut at site-local hour, day or month boundaries: ``(b0, b1)``
    pairs, the first and last clipped to ``start`` and ``end``. A day is a calendar day
    (23 or 25 hours across a daylight-saving change). With ``limit``, it stops after
    ``limit + 1`` pairs (enough to tell a caller the range has too many)."""
    if step not in STEPS:
        raise Invalid(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    if end_ms <= start_ms:
        return []
    local = datetime.fromtimestamp(start_ms / 1000, tz)
    if step == "1h":
        cur = local.replace(minute=0, second=0, microsecond=0)
    elif step == "1d":
        cur = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        cur = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out: list[tuple[int, int]] = []
    b0 = start_ms
    while b0 < end_ms:
        nxt = _next(cur, step, tz)
        b1 = min(end_ms, int(nxt.timestamp() * 1000))
        if b1 > b0:
            out.append((b0, b1))
            if limit is not None and len(out) > limit:
                break
        b0 = max(b0, b1)
        cur = nxt
    return out


def _next(cur: datetime, step: str, tz: ZoneInfo) -> datetime:
    if step == "1h":
        # in UTC so an hour repeated by a daylight-saving change is not skipped
        return (cur.astimezone(ZoneInfo("UTC")) + timedelta(hours=1)).astimezone(tz)
    if step == "1d":
        d = cur.date() + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=tz)
    y, m = add_months(cur.year, cur.month, 1)
    return datetime(y, m, 1, tzinfo=tz)


def next_edge(ms: int, step: str, tz: ZoneInfo) -> int:
    """The site-local hour, day or month edge after the one at ``ms`` (an edge itself)."""
    return int(_next(datetime.fromtimestamp(ms / 1000, tz), step, tz).timestamp() * 1000)
