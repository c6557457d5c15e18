"""When an occurrence is due: the three triggers of a plan, as pure functions of time.

- **calendar** (:func:`next_due`): the plan's RFC 5545 rule, evaluated by python-dateutil's
  ``rrule`` in the site's time zone (local wall time, then converted to epoch ms), from
  ``DTSTART`` = the trigger's ``start`` day (or the day the plan was first seen) at 00:00;
  the first occurrence owed is the first that opens at or after the plan was first seen.
  An occurrence opens ``lead_days`` before it is due. Each next occurrence follows the
  previous *due time* (a late completion moves nothing) unless ``from_completion``: then
  the rule restarts at the completion and the first occurrence after it is the next due.
- **meter** (:func:`next_mark`): every ``every`` units of a meter, counted from the
  meter's value when the plan first saw the asset; due ``due_days`` after the mark is
  passed. Each mark follows the previous mark, not the meter at completion.
- **trend** (:func:`projection`): the daily means of a field fitted by least squares
  (ordinary linear regression on day numbers); the occurrence opens when the line reaches
  ``limit`` within ``within_days`` of now (or the last mean is already at the limit); it
  is due when the line reaches the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

DAY_MS = 86_400_000


def to_local(ms: int, tz: ZoneInfo) -> datetime:
    """Epoch ms -> naive local wall time (what ``rrule`` iterates over)."""
    return datetime.fromtimestamp(ms / 1000, tz=tz).replace(tzinfo=None)


def to_ms(local: datetime, tz: ZoneInfo) -> int:
    """Naive local wall time -> epoch ms."""
    return int(local.replace(tzinfo=tz).timestamp() * 1000)


def rule(text: str, start: datetime) -> rrule:
    got = rrulestr(text, dtstart=start)
    assert isinstance(got, rrule)
    return got


def start_of(day: date | None, anchor_ms: int, tz: ZoneInfo) -> datetime:
    """DTSTART: ``day`` (or the anchor's local day) at 00:00 local time."""
    d = day if day is not None else to_local(anchor_ms, tz).date()
    return datetime.combine(d, time())


def next_due(
    text: str,
    tz: ZoneInfo,
    *,
    dtstart: datetime,
    after_ms: int,
    inclusive: bool = False,
) -> int | None:
    """The rule's first occurrence after ``after_ms`` (at or after, with ``inclusive``);
    ``None`` once the rule has ended (``COUNT``/``UNTIL``)."""
    r = rule(text, dtstart)
    got = r.after(to_local(after_ms, tz), inc=inclusive)
    return None if got is None else to_ms(got, tz)


def occurrences(
    text: str, tz: ZoneInfo, *, dtstart: datetime, start_ms: int, end_ms: int
) -> list[int]:
    """Every occurrence due in ``[start_ms, end_ms]`` (the calendar of the page)."""
    r = rule(text, dtstart)
    return [to_ms(d, tz) for d in r.between(to_local(start_ms, tz), to_local(end_ms, tz), True)]


def lead_ms(lead_days: float) -> int:
    return int(round(lead_days * DAY_MS))


def next_mark(base: float, every: float, value: float) -> float:
    """The first mark ``base + k * every`` (k >= 1) above ``value``."""
    k = max(1, int((value - base) // every) + 1)
    return base + k * every


# ------------------------------------------------------------------------- trend
def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares line ``y = slope * x + intercept`` (``None`` below 2 distinct x)."""
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    slope = sum((x - mx) * (y - my) for x, y in points) / sxx
    return slope, my - slope * mx


def day_number(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def projection(
    daily: Sequence[tuple[str, float]],
    *,
    limit: float,
    within_days: float,
    now_ms: int,
    tz: ZoneInfo,
    min_days: int = 3,
) -> int | None:
    """When the trend of ``daily`` (local day, mean) reaches ``limit``, if that is within
    ``within_days`` of ``now_ms`` (epoch ms; ``now_ms`` itself if the last mean is already
    there); ``None`` otherwise or with fewer than ``min_days`` days. Days are numbered at
    their local noon (a mean is the middle of its day)."""
    if len(daily) < min_days:
        return None
    if daily[-1][1] >= limit:
        return now_ms
    pts = [(day_number(d) + 0.5, y) for d, y in daily]
    line = fit(pts)
    if line is None or line[0] <= 0:
        return None
    slope, icept = line
    cross_day = (limit - icept) / slope  # fractional day number
    now_local = to_local(now_ms, tz)
    now_day = now_local.toordinal() + (now_local - datetime.combine(now_local.date(), time())) / (
        timedelta(days=1)
    )
    if cross_day - now_day > within_days:
        return None
    midnight = datetime.fromordinal(int(cross_day))
    at = midnight + timedelta(days=cross_day - int(cross_day))
    return max(now_ms, to_ms(at, tz))
