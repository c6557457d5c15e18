"""When a round template's rounds are due: its schedule in the site's time zone.

:func:`due_times` lists the due times (epoch ms) of a schedule within ``[start_ms,
end_ms]``. An RFC 5545 rule is evaluated by python-dateutil in local wall time from
local midnight of the template's anchor day (the day it was first seen), then placed in
the zone (``zoneinfo``: a daylight-saving change moves the UTC time, never the local
one); fixed times (``times``, or ``every_min`` from ``start`` to ``end``) are read on
each local day, on ``days`` only when given.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from rules.site import RoundSchedule

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz).replace(tzinfo=None)


def _ms(local: datetime, tz: ZoneInfo) -> int:
    return int(round(local.replace(tzinfo=tz).timestamp() * 1000))


def due_times(
    sched: RoundSchedule, tz: ZoneInfo, anchor_ms: int, start_ms: int, end_ms: int
) -> list[int]:
    """Due times within ``[start_ms, end_ms]``, oldest first."""
    if end_ms < start_ms:
        return []
    lo, hi = _local(start_ms, tz), _local(end_ms, tz)
    if sched.rrule is not None:
        anchor = _local(anchor_ms, tz).replace(hour=0, minute=0, second=0, microsecond=0)
        rule = rrulestr(sched.rrule, dtstart=anchor)
        got = [_ms(d, tz) for d in rule.between(lo - timedelta(seconds=1), hi, inc=True)]
        return [m for m in got if start_ms <= m <= end_ms]
    times = [time.fromisoformat(x) for x in sched.local_times()]
    out: list[int] = []
    day = lo.date()
    while day <= hi.date():
        if sched.days is None or _DAYS[day.weekday()] in sched.days:
            for t in times:
                m = _ms(datetime.combine(day, t), tz)
                if start_ms <= m <= end_ms:
                    out.append(m)
        day += timedelta(days=1)
    return out
