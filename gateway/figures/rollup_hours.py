"""The roll-up's small parts: :class:`Hours` (site-local hour, day and month starts of
a time, the current hour cached: the hot path asks once a reading) and :class:`Track`
(one metered device's power field and newest reading). No state beyond the caches;
built by :class:`gateway.figures.rollup.EnergyRollup`.
"""

from __future__ import annotations

from datetime import datetime

from rules.site import Site

H = 3_600_000


class Track:
    """One metered device: its power field, factor to kW, longest credited step, and
    the newest reading seen (``ts`` ms, ``kw``)."""

    __slots__ = ("field", "factor", "max_step", "ts", "kw")

    def __init__(self, field: str, factor: float, max_step: int) -> None:
        self.field = field
        self.factor = factor
        self.max_step = max_step
        self.ts: int | None = None
        self.kw = 0.0


class Hours:
    """Site-local hour, day and month starts of epoch ms (whole-minute offsets)."""

    def __init__(self, site: Site) -> None:
        self.tz = site.tz
        self._h0 = 1
        self._h1 = 0
        self._parents: dict[int, tuple[int, int]] = {}

    def hour(self, ts: int) -> int:
        if self._h0 <= ts < self._h1:
            return self._h0
        d = datetime.fromtimestamp(ts / 1000, self.tz)
        h0 = ts - (d.minute * 60_000 + d.second * 1000 + ts % 1000)
        self._h0, self._h1 = h0, h0 + H
        return h0

    def parents(self, hour: int) -> tuple[int, int]:
        """(day start, month start) of the hour starting at ``hour``."""
        got = self._parents.get(hour)
        if got is None:
            d = datetime.fromtimestamp(hour / 1000, self.tz)
            day = int(datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp() * 1000)
            month = int(datetime(d.year, d.month, 1, tzinfo=self.tz).timestamp() * 1000)
            if len(self._parents) >= 20_000:
                self._parents.clear()
            got = self._parents[hour] = (day, month)
        return got
