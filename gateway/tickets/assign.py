"""Dispatch of tickets to people (the rules are ``gateway.dispatch``'s): a new ticket is
assigned at once to the member of its crew on duty with the least open work; a ticket no
one could take stays ``open`` and is offered again at each tick.
"""

from __future__ import annotations

from gateway.dispatch import Roster
from gateway.tickets.model import DISPATCH_ACTOR, Ticket
from gateway.tickets.sla import Sla
from gateway.tickets.store import TicketTx
from rules.vocab import TicketStatus


class Assigner:
    """Who of a crew takes a ticket, by ``roster``; late assignments breach by ``sla``."""

    def __init__(self, roster: Roster, sla: Sla) -> None:
        self.roster = roster
        self._sla = sla

    def pick(self, ttx: TicketTx, crew: str) -> tuple[str | None, dict[str, int]]:
        """The member of ``crew`` on duty with the least open work, and everyone's work."""
        work = ttx.open_work(self.roster.on_duty(crew, ttx.now))
        return self.roster.pick(crew, ttx.now, work), work

    def waiting(self, t: Ticket, now: int) -> bool:
        """Whether ``t`` is open, unassigned, and someone of its crew is on duty."""
        return (
            t.status == TicketStatus.OPEN
            and t.assignee is None
            and bool(self.roster.on_duty(t.crew, now))
        )

    def assign(self, ttx: TicketTx, t: Ticket, *, new: bool = False) -> bool:
        """Assign the open ticket ``t`` to the member on duty with the least open work
        (the caller saves ``t``; a ``new`` one is updated here, and journaled if nobody
        can take it)."""
        who, work = self.pick(ttx, t.crew)
        if who is None:
            if new:
                ttx.log(t, "dispatch_failed", reason=f"nobody of crew {t.crew} is on duty")
            return False
        shift = self.roster.on_shift(t.crew, ttx.now)
        t.status = TicketStatus.ASSIGNED
        t.assignee = who
        t.assigned_at_ms = ttx.now
        how = "on shift" if who in shift else "on call (no one on shift)"
        ttx.log(
            t,
            "assign",
            actor=DISPATCH_ACTOR,
            reason=f"{who} {how} with the least open work ({work.get(who, 0)})",
            detail={"assignee": who, "on_duty": sorted(work), "open_work": work, "on_shift": shift},
        )
        self._sla.late(ttx, t)
        if new:
            ttx.save_assignment(t)
        return True
