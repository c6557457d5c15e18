"""Time-of-day / weekday windows evaluated in the site's time zone.

``inside: "22:00-06:00"`` holds from 22:00 to 06:00 local time (a window may wrap past
midnight; ``24:00`` is the end of the day); ``outside: "08:00-20:00"`` holds whenever the
inside window does not. ``days: [mon, tue, ...]`` restricts the inside window to those
local weekdays (the weekday of the instant itself, also after midnight of a wrapped
window). The evaluator is pure: the time comes in as epoch milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rules.lang import RuleError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE_RE = re.compile(r"^\s*(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)\s*$")
_BUCKET_MS = 900_000  # every UTC offset in use is a multiple of 15 minutes


@dataclass(frozen=True, slots=True)
class WindowSpec:
    start_min: int
    end_min: int
    outside: bool
    days: frozenset[int] | None  # 0 = Monday
    text: str

    def inside_at(self, weekday: int, minute: float) -> bool:
        if self.days is not None and weekday not in self.days:
            return False
        s, e = self.start_min, self.end_min
        if s < e:
            return s <= minute < e
        return minute >= s or minute < e

    def holds(self, weekday: int, minute: float) -> bool:
        return self.inside_at(weekday, minute) != self.outside


def parse_window(text: object, outside: bool, days: object = None) -> WindowSpec:
    if not isinstance(text, str):
        raise RuleError(f'a time window is a string like "08:00-20:00", not {text!r}')
    m = _RANGE_RE.match(text)
    if m is None:
        raise RuleError(f'bad time window {text!r}: write "HH:MM-HH:MM"')
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    for h, mi in ((h1, m1), (h2, m2)):
        if mi > 59 or h > 24 or (h == 24 and mi != 0):
            raise RuleError(f"bad time window {text!r}: {h:02d}:{mi:02d} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == 1440:
        raise RuleError(f"bad time window {text!r}: a window cannot start at 24:00")
    if start == end:
        raise RuleError(f"bad time window {text!r}: start and end are the same")
    day_set: frozenset[int] | None = None
    if days is not None:
        if isinstance(days, str):
            days = [days]
        if not isinstance(days, list) or not days:
            raise RuleError("days: a list of weekdays like [mon, tue]")
        idx = []
        for d in days:
            if not isinstance(d, str) or d.lower()[:3] not in WEEKDAYS:
                raise RuleError(f"days: unknown weekday {d!r} (mon, tue, wed, thu, fri, sat, sun)")
            idx.append(WEEKDAYS.index(d.lower()[:3]))
        day_set = frozenset(idx)
    return WindowSpec(start, end, outside, day_set, text.strip())


class LocalClock:
    """Epoch ms -> (local weekday, local minute of day), cached per 15-minute bucket."""

    __slots__ = ("tz", "_cache")

    def __init__(self, tz: ZoneInfo):
        self.tz = tz
        self._cache: dict[int, tuple[int, int]] = {}

    def local(self, ts_ms: int) -> tuple[int, float]:
        b = ts_ms // _BUCKET_MS
        e = self._cache.get(b)
        if e is None:
            if len(self._cache) > 4096:
                self._cache.clear()
            dt = datetime.fromtimestamp(b * (_BUCKET_MS // 1000), self.tz)
            e = (dt.weekday(), dt.hour * 60 + dt.minute)
            self._cache[b] = e
        minute = e[1] + (ts_ms - b * _BUCKET_MS) / 60_000
        if minute >= 1440:  # historical offsets that are not multiples of 15 min
            dt = datetime.fromtimestamp(ts_ms / 1000, self.tz)
            return dt.weekday(), dt.hour * 60 + dt.minute + dt.second / 60
        return e[0], minute

    def holds(self, w: WindowSpec, ts_ms: int) -> bool:
        wd, minute = self.local(ts_ms)
        return w.holds(wd, minute)
