"""Service levels of tickets: the clocks, their breaches, escalation.

``assign_by``, ``respond_by`` (in progress by) and ``resolve_by`` run from
``created_at``; ``callback_by`` (tickets raised by people) from ``resolved_at``. Clocks
do not pause on hold. A clock is *breached* when its due time passes before it is met:
the tick adds it to ``breached`` (journaled, published) when that happens
(:meth:`Sla.breach_and_escalate`), and a late move adds it at once (:meth:`Sla.late`).
**Escalation**: when a running clock reaches ``escalate_at`` (80 %) of its time, the
ticket escalates to the crew lead (level 1); when it runs out, to the site manager
(level 2). Each step is journaled and published. A complaint has one more clock,
``reply`` (the written reply to the complainant, due ``reply_ms`` after ``created_at``,
24 h by default), running until the reply is recorded, breached and escalated the same way.
"""

from __future__ import annotations

import math

from gateway.clock import iso_ms
from gateway.dispatch import HOUR_MS, Roster, ServiceLevels
from gateway.tickets.model import BACKLOG, PEOPLE_SOURCES, Ticket
from gateway.tickets.store import TicketTx
from rules.vocab import TicketStatus

_FINISHED = (TicketStatus.CLOSED, TicketStatus.CANCELLED)


class Sla:
    """The clocks of tickets by ``levels``; escalation along ``roster``'s chains."""

    def __init__(
        self,
        levels: ServiceLevels,
        roster: Roster,
        escalate_at: float,
        reply_ms: int = 24 * HOUR_MS,
    ) -> None:
        if not 0 < escalate_at < 1:
            raise ValueError("escalate_at is a fraction between 0 and 1")
        if reply_ms <= 0:
            raise ValueError("reply_ms > 0")
        self.reply_ms = reply_ms
        self.levels = levels
        self.roster = roster
        self.escalate_at = escalate_at

    def clocks(self, priority: str, category: str, created_ms: int) -> tuple[int, int, int]:
        """The assign, respond and resolve due times of a ticket created at
        ``created_ms``."""
        lv = self.levels.levels(priority, category)
        return (created_ms + lv.assign_ms, created_ms + lv.respond_ms, created_ms + lv.resolve_ms)

    def start_callback(self, t: Ticket, now: int) -> None:
        """A person's ticket was resolved at ``now``: the follow-up call is due."""
        t.callback_by_ms = now + self.levels.levels(t.priority, t.category).callback_ms

    @staticmethod
    def running(t: Ticket) -> list[tuple[str, int, int]]:
        """Clocks still running: (clock, start, due)."""
        out = []
        if t.status in BACKLOG:
            if t.assigned_at_ms is None:
                out.append(("assign", t.created_at_ms, t.assign_by_ms))
            if t.started_at_ms is None:
                out.append(("respond", t.created_at_ms, t.respond_by_ms))
            out.append(("resolve", t.created_at_ms, t.resolve_by_ms))
        elif (
            t.status == TicketStatus.RESOLVED
            and t.source in PEOPLE_SOURCES
            and t.callback_by_ms
            and t.resolved_at_ms
        ):
            out.append(("callback", t.resolved_at_ms, t.callback_by_ms))
        if t.reply_by_ms and not t.reply and t.status not in _FINISHED:
            out.append(("reply", t.created_at_ms, t.reply_by_ms))
        return out

    def target_level(self, start: int, due: int, now: int) -> int:
        """The escalation level a clock should be at: 2 past due, 1 from ``escalate_at``."""
        if now > due:
            return 2
        if now >= start + self.escalate_at * (due - start):
            return 1
        return 0

    def due(self, t: Ticket, now: int) -> bool:
        """Whether a clock of ``t`` is to be breached or escalated at ``now``."""
        for clock, start, due in self.running(t):
            if now > due and clock not in t.breached:
                return True
            if self.target_level(start, due, now) > int(t.escalations.get(clock, 0)):
                return True
        return False

    def next_due(self, t: Ticket) -> int | None:
        """The first time (epoch ms) at which :meth:`due` holds for ``t`` as it is, or
        ``None`` when no clock of it runs (the index's heap, ``gateway.tickets.index``)."""
        at: int | None = None
        for clock, start, due in self.running(t):
            level = int(t.escalations.get(clock, 0))
            times = []
            if clock not in t.breached or level < 2:
                times.append(due + 1)  # breach, and level 2: ``now > due``
            if level < 1:
                times.append(math.ceil(start + self.escalate_at * (due - start)))
            for x in times:
                if at is None or x < at:
                    at = x
        return at

    def breach_and_escalate(self, ttx: TicketTx, t: Ticket) -> list[str]:
        """Breach the clocks of ``t`` past due and escalate the running ones; the
        changes made (``breach``, ``escalate``)."""
        changes: list[str] = []
        for clock, start, due in self.running(t):
            level = int(t.escalations.get(clock, 0))
            target = self.target_level(start, due, ttx.now)
            if ttx.now > due and clock not in t.breached:
                t.breached = [*t.breached, clock]
                ttx.log(
                    t,
                    "breach",
                    reason=f"{clock} clock missed (due {iso_ms(due)})",
                    detail={"clock": clock, "due": iso_ms(due)},
                )
                changes.append("breach")
            for lvl in range(level + 1, target + 1):
                self._escalate(ttx, t, clock, lvl, start, due)
                changes.append("escalate")
        return changes

    def _escalate(
        self, ttx: TicketTx, t: Ticket, clock: str, level: int, start: int, due: int
    ) -> None:
        chain = self.roster.escalation_chain(t.crew)
        to = chain[level - 1] if len(chain) >= level else (chain[-1] if chain else None)
        t.escalations = {**t.escalations, clock: level}
        t.escalated_to = to
        pct = round(100.0 * (ttx.now - start) / (due - start), 1) if due > start else 100.0
        who = "crew lead" if level == 1 else "site manager"
        ttx.log(
            t,
            "escalate",
            reason=f"{clock} clock at {pct}% (due {iso_ms(due)}): escalated to the {who}"
            + (f" {to}" if to else " (none configured)"),
            detail={
                "clock": clock,
                "level": level,
                "to": to,
                "due": iso_ms(due),
                "elapsed_pct": pct,
            },
        )

    @staticmethod
    def late(ttx: TicketTx, t: Ticket) -> None:
        """Clocks met late by this move are breached (if the tick did not see it)."""
        checks = (
            ("assign", t.assigned_at_ms, t.assign_by_ms),
            ("respond", t.started_at_ms, t.respond_by_ms),
            ("resolve", t.resolved_at_ms, t.resolve_by_ms),
            (
                "callback",
                t.closed_at_ms if t.source in PEOPLE_SOURCES else None,
                t.callback_by_ms,
            ),
            ("reply", (t.reply or {}).get("at_ms"), t.reply_by_ms),
        )
        for clock, done, due in checks:
            if done is None or due is None or done <= due or clock in t.breached:
                continue
            t.breached = [*t.breached, clock]
            ttx.log(
                t,
                "breach",
                reason=f"{clock} clock missed (due {iso_ms(due)})",
                detail={"clock": clock, "due": iso_ms(due), "met_at": iso_ms(done)},
            )
