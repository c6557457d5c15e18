"""Due times of round schedules in the site's time zone (python-dateutil's RRULE, fixed
times, every N minutes between two times), daylight saving kept in local time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from gateway.rounds.schedule import due_times
from rules.site import RoundSchedule

SH = ZoneInfo("Asia/Shanghai")


def ms(y: int, mo: int, d: int, h: int, mi: int = 0, tz: ZoneInfo = SH) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=tz).timestamp() * 1000)


def local(values: list[int], tz: ZoneInfo = SH) -> list[str]:
    return [datetime.fromtimestamp(v / 1000, tz).strftime("%a %H:%M") for v in values]


def test_every_two_hours_from_nine_to_six() -> None:
    s = RoundSchedule.model_validate({"every_min": 120, "start": "09:00", "end": "18:00"})
    got = due_times(s, SH, ms(2026, 1, 1, 0), ms(2026, 1, 5, 0), ms(2026, 1, 5, 23, 59))
    assert local(got) == ["Mon 09:00", "Mon 11:00", "Mon 13:00", "Mon 15:00", "Mon 17:00"]


def test_fixed_times_on_some_days() -> None:
    s = RoundSchedule.model_validate({"times": ["08:30"], "days": ["sat", "sun"]})
    got = due_times(s, SH, ms(2026, 1, 1, 0), ms(2026, 1, 5, 0), ms(2026, 1, 12, 0))
    assert local(got) == ["Sat 08:30", "Sun 08:30"]


def test_an_rrule_in_the_site_zone_keeps_local_time_across_dst() -> None:
    london = ZoneInfo("Europe/London")
    s = RoundSchedule.model_validate({"rrule": "FREQ=WEEKLY;BYDAY=SU;BYHOUR=22;BYMINUTE=0"})
    got = due_times(
        s,
        london,
        ms(2026, 3, 1, 0, tz=london),
        ms(2026, 3, 20, 0, tz=london),
        ms(2026, 4, 6, 0, tz=london),
    )
    assert local(got, london) == ["Sun 22:00"] * 3  # 22 Mar (GMT), 29 Mar and 5 Apr (BST)
    assert got[1] - got[0] == 7 * 86_400_000 - 3_600_000


def test_a_schedule_is_one_form() -> None:
    with pytest.raises(ValidationError, match="one of rrule, times or every_min"):
        RoundSchedule.model_validate({"times": ["09:00"], "every_min": 60})
    with pytest.raises(ValidationError, match="RFC 5545"):
        RoundSchedule.model_validate({"rrule": "FREQ=SOMETIMES"})
