"""Dispatch: who is on duty, who gets a ticket, who hears when a clock is running out,
and how long each clock runs (service levels).

- :class:`Roster` reads the site file's crews: a member is *on shift* at an instant when
  one of their shifts covers the site-local weekday and time (``[start, end)``, the
  site's IANA time zone; a shift never runs past midnight: a night shift is two shifts).
  Outside every shift the crew's ``on_call`` member is on duty (then the lead, then
  every member: someone always is).
- :meth:`Roster.pick` gives a ticket to the member on duty with the least open work
  (tickets ``assigned``, ``in_progress`` or ``on_hold``); ties go to the member listed
  first in the site file.
- :meth:`Roster.escalation_chain` is the crew lead, then the site manager.
- :class:`ServiceLevels` holds the contract's table (assign / in progress / resolve by
  priority, follow-up call 24 h) with overrides per priority, per category and per
  (priority, category).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rules.site import Crew, Site
from rules.vocab import Priority

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

CLOCKS: tuple[str, ...] = ("assign", "respond", "resolve", "callback")


def _minutes(hhmm: str) -> int:
    h, _, m = hhmm.partition(":")
    return int(h) * 60 + int(m)


class Roster:
    """The crews of ``site`` and who of them is on duty when."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._tz = site.tz

    def crew(self, crew_id: str) -> Crew | None:
        return self.site.crew(crew_id)

    def local(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, tz=UTC).astimezone(self._tz)

    def on_shift(self, crew_id: str, at_ms: int) -> list[str]:
        """Members of ``crew_id`` whose shift covers ``at_ms`` (site time), in file order."""
        crew = self.crew(crew_id)
        if crew is None:
            return []
        t = self.local(at_ms)
        day = _WEEKDAYS[t.weekday()]
        minute = t.hour * 60 + t.minute
        out = []
        for member in crew.members:
            for s in member.shifts:
                if day in s.days and _minutes(s.start) <= minute < _minutes(s.end):
                    out.append(member.id)
                    break
        return out

    def on_duty(self, crew_id: str, at_ms: int) -> list[str]:
        """Who may take a ticket now: the members on shift, else the on-call member, else
        the lead, else every member of the crew (``[]`` only for an unknown or empty
        crew)."""
        shift = self.on_shift(crew_id, at_ms)
        if shift:
            return shift
        crew = self.crew(crew_id)
        if crew is None:
            return []
        if crew.on_call:
            return [crew.on_call]
        if crew.lead:
            return [crew.lead]
        return [m.id for m in crew.members]

    def pick(self, crew_id: str, at_ms: int, open_work: Mapping[str, int]) -> str | None:
        """The member on duty with the least open work (ties: first in the site file)."""
        candidates = self.on_duty(crew_id, at_ms)
        if not candidates:
            return None
        order = {m: i for i, m in enumerate(candidates)}
        return min(candidates, key=lambda m: (open_work.get(m, 0), order[m]))

    def escalation_chain(self, crew_id: str) -> list[str]:
        """Level 1: the crew lead; level 2: the site manager (either may be missing)."""
        crew = self.crew(crew_id)
        chain: list[str] = []
        if crew is not None and crew.lead:
            chain.append(crew.lead)
        if self.site.site_manager:
            chain.append(self.site.site_manager)
        return chain

    def is_member(self, crew_id: str, member: str) -> bool:
        crew = self.crew(crew_id)
        return crew is not None and any(m.id == member for m in crew.members)

    def members(self) -> dict[str, str]:
        """Every member id → their crew id."""
        return {m.id: c.id for c in self.site.crews for m in c.members}


# ------------------------------------------------------------------ service levels
#: the contract's defaults, minutes: priority -> (assign, in progress, resolve)
DEFAULT_SLA_MIN: Mapping[str, tuple[float, float, float]] = {
    Priority.CRITICAL: (2, 15, 4 * 60),
    Priority.HIGH: (15, 60, 8 * 60),
    Priority.MEDIUM: (15, 4 * 60, 24 * 60),
    Priority.LOW: (15, 4 * 60, 72 * 60),
}
DEFAULT_CALLBACK_MIN = 24 * 60.0


@dataclass(slots=True, frozen=True)
class Levels:
    """The four clocks of one ticket, in milliseconds from their start."""

    assign_ms: int
    respond_ms: int
    resolve_ms: int
    callback_ms: int


class ServiceLevels:
    """Service-level clocks by priority and category.

    ``overrides`` maps a key to ``{clock: minutes}`` with clocks ``assign``, ``respond``
    (in progress within), ``resolve`` and ``callback`` (follow-up call after resolved,
    tickets raised by people). Keys, weakest first: ``"<priority>"``, ``"<category>"``,
    ``"<priority>/<category>"``; e.g. ``{"cleaning": {"resolve": 240},
    "high/repair": {"respond": 30}}``. Unknown clocks or non-positive minutes raise
    ``ValueError``."""

    def __init__(self, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._over: dict[str, dict[str, float]] = {}
        for key, clocks in (overrides or {}).items():
            if not isinstance(clocks, Mapping):
                raise ValueError(f"service level {key!r}: expected a mapping of clock: minutes")
            got: dict[str, float] = {}
            for clock, minutes in clocks.items():
                if clock not in CLOCKS:
                    raise ValueError(
                        f"service level {key!r}: unknown clock {clock!r} "
                        f"(clocks: {', '.join(CLOCKS)})"
                    )
                value = float(minutes)
                if not value > 0:
                    raise ValueError(f"service level {key!r}.{clock}: minutes must be > 0")
                got[clock] = value
            self._over[str(key)] = got

    def minutes(self, priority: str, category: str) -> dict[str, float]:
        base = DEFAULT_SLA_MIN.get(priority, DEFAULT_SLA_MIN[Priority.LOW])
        out = {
            "assign": float(base[0]),
            "respond": float(base[1]),
            "resolve": float(base[2]),
            "callback": DEFAULT_CALLBACK_MIN,
        }
        for key in (priority, category, f"{priority}/{category}"):
            out.update(self._over.get(key, {}))
        return out

    def levels(self, priority: str, category: str) -> Levels:
        m = self.minutes(priority, category)
        return Levels(
            assign_ms=round(m["assign"] * MINUTE_MS),
            respond_ms=round(m["respond"] * MINUTE_MS),
            resolve_ms=round(m["resolve"] * MINUTE_MS),
            callback_ms=round(m["callback"] * MINUTE_MS),
        )

    def table(self, priorities: Sequence[str] = tuple(DEFAULT_SLA_MIN)) -> dict[str, Any]:
        """The effective table (defaults and overrides), for documentation and the API."""
        return {
            "defaults": {p: self.minutes(p, "") for p in priorities},
            "overrides": {k: dict(v) for k, v in self._over.items()},
        }
