"""The world the simulated devices live in: site time, weather and people.

Everything here is a pure function of simulated time (epoch seconds) and the seed, so a
replay of the same period with the same seed sees the same building.

* Site time: the site's IANA zone (``Asia/Shanghai`` for the demo). The sales centre is
  open to visitors 09:00-18:00 every day (sales centres in China open at weekends, which
  are their busiest days); staff are in from 08:00 to 19:00.
* Weather: Shanghai-like outdoor temperature, a seasonal cosine (about 5 °C in January,
  29 °C in late July daily mean) plus a daily swing peaking mid-afternoon.
* People: per zone, occupancy is drawn every five minutes from a probability that depends
  on the kind of zone, the time of day and whether it is a weekend. The draw is a hash of
  (seed, zone, slot), so every device of a zone agrees on whether it is occupied.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

OPEN_FROM = 9.0
OPEN_UNTIL = 18.0
STAFF_FROM = 8.0
STAFF_UNTIL = 19.0
OCCUPANCY_SLOT_S = 300

# zone kinds, from the zone id
PUBLIC = "public"  # lobby, sand-table hall, negotiation area, VIP rooms
FLAT = "flat"  # model flats (presence-controlled lighting)
OFFICE = "office"
MEETING = "meeting"
CAR_PARK = "car_park"
PLANT = "plant"

_KIND_WORDS: tuple[tuple[str, str], ...] = (
    ("flat", FLAT),
    ("show", FLAT),
    ("office", OFFICE),
    ("meeting", MEETING),
    ("car", CAR_PARK),
    ("park", CAR_PARK),
    ("garage", CAR_PARK),
    ("plant", PLANT),
    ("service", PLANT),
    ("riser", PLANT),
)


def zone_kind(zone_id: str) -> str:
    """The kind of a zone, guessed from its id (``model-flat-a`` -> ``flat``)."""
    z = zone_id.lower()
    for word, kind in _KIND_WORDS:
        if word in z:
            return kind
    return PUBLIC


@dataclass(slots=True, frozen=True)
class Moment:
    """One instant as the building sees it."""

    t: float
    hour: float  # local decimal hour, 0 <= hour < 24
    weekday: int  # 0 = Monday
    weekend: bool
    outdoor: float  # °C
    daily_mean: float  # °C, the day's mean outdoor temperature (decides heating/cooling)

    @property
    def open(self) -> bool:
        """Open to visitors (09:00-18:00 site time)."""
        return OPEN_FROM <= self.hour < OPEN_UNTIL

    @property
    def staffed(self) -> bool:
        """Staff on site (08:00-19:00 site time)."""
        return STAFF_FROM <= self.hour < STAFF_UNTIL


def _unit_hash(*parts: object) -> float:
    """A uniform number in [0, 1) from the parts, stable across runs and processes."""
    key = "|".join(str(p) for p in parts).encode()
    return zlib.crc32(key) / 4294967296.0


class Environment:
    """Site time, weather and occupancy for one site, cached by the minute."""

    __slots__ = ("tz", "seed", "_moments")

    def __init__(self, timezone: str, seed: int = 0) -> None:
        self.tz = ZoneInfo(timezone)
        self.seed = seed
        self._moments: dict[int, Moment] = {}

    def at(self, t: float) -> Moment:
        minute = int(t // 60)
        m = self._moments.get(minute)
        if m is None:
            if len(self._moments) > 20_000:
                self._moments.clear()
            m = self._moments[minute] = self._moment(minute * 60.0)
        return m

    def _moment(self, t: float) -> Moment:
        local = datetime.fromtimestamp(t, self.tz)
        hour = local.hour + local.minute / 60.0
        doy = local.timetuple().tm_yday
        daily_mean = 17.0 + 11.5 * math.cos(2 * math.pi * (doy - 205) / 365.0)
        # a few degrees of day-to-day weather on top of the season
        daily_mean += 2.5 * (_unit_hash(self.seed, "weather", local.date()) - 0.5) * 2
        outdoor = daily_mean + 3.5 * math.cos(2 * math.pi * (hour - 14.5) / 24.0)
        wd = local.weekday()
        return Moment(t, hour, wd, wd >= 5, round(outdoor, 2), round(daily_mean, 2))

    def local_time(self, t: float, hour: float) -> float:
        """The epoch time of ``hour`` (decimal) on the local day containing ``t``."""
        local = datetime.fromtimestamp(t, self.tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        h = int(hour)
        m = int(round((hour - h) * 60))
        wall = midnight + timedelta(hours=h, minutes=m)
        # re-localise so a DST change (not in Shanghai, but elsewhere) lands right
        return wall.replace(tzinfo=None).replace(tzinfo=self.tz).timestamp()

    def next_boundary(self, t: float, hours: tuple[float, ...]) -> float:
        """The first local time strictly after ``t`` that is one of ``hours``."""
        best = math.inf
        for day in (0, 1):
            base = t + day * 86_400.0
            for h in hours:
                cand = self.local_time(base, h)
                if t < cand < best:
                    best = cand
        return best if best != math.inf else t + 3600.0

    # -- people ---------------------------------------------------------------------
    def occupancy_p(self, kind: str, m: Moment) -> float:
        """Probability that a zone of this kind is occupied at ``m``."""
        h = m.hour
        if kind in (PUBLIC, FLAT):
            if m.open:
                base = 0.8 if m.weekend else 0.45
                if 10.0 <= h < 12.0 or 14.0 <= h < 17.0:
                    base *= 1.15  # the morning and afternoon visiting peaks
                if kind == FLAT:
                    base *= 0.8
                return min(base, 0.95)
            if 8.5 <= h < OPEN_FROM or OPEN_UNTIL <= h < 18.5:
                return 0.3  # staff opening up / closing down
            return 0.0
        if kind == OFFICE:
            return (0.65 if m.weekend else 0.75) if m.staffed else 0.0
        if kind == MEETING:
            return (0.5 if m.weekend else 0.35) if m.open else 0.0
        if kind == CAR_PARK:
            if 8.5 <= h < 18.5:
                return 0.85 if m.weekend else 0.5
            if 18.5 <= h < 20.0:
                return 0.1
            return 0.0
        # plant rooms: maintenance rounds on weekdays
        return 0.06 if (not m.weekend and 9.0 <= h < 17.0) else 0.0

    def occupied(self, zone: str, kind: str, t: float) -> bool:
        p = self.occupancy_p(kind, self.at(t))
        if p <= 0.0:
            return False
        slot = int(t // OCCUPANCY_SLOT_S)
        return _unit_hash(self.seed, zone, slot) < p
