"""Who may move a ticket: the people rules of ``gateway.people.principal`` applied to a
move as the ticket stands (contract section 6).

:func:`check_rights` runs inside the move's transaction, on the ticket just loaded, before
anything changes; a refusal is :class:`~gateway.errors.Forbidden` (HTTP 403) and nothing
is written. In order:

1. **Move at all**: operators and admins move any ticket; a technician or lead the
   tickets of their own crew or assigned to them; managers, viewers and integrators none
   (:func:`~gateway.people.check_move`).
2. **Taking it**: a technician who moves an unassigned ticket to ``assigned`` without
   naming anyone takes it themselves ("my tickets" are the signed-in person's; there is
   no picker of whom to act as).
3. **Reassigning**: naming an assignee other than the current one is a reassignment,
   except taking an unassigned ticket oneself: a lead may reassign within their crew,
   operators and admins anyone (:func:`~gateway.people.check_reassign`).

A shared ``SITEWATCH_API_TOKENS`` token names a role, not a person or a crew: it keeps
its role's rights on every ticket (scripted set-ups and the demo; the README says so).
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.people.principal import Principal, Via, check_move, check_reassign, may_reassign
from gateway.tickets.model import Ticket
from rules.vocab import TicketStatus


def check_rights(
    principal: Principal,
    old: Ticket,
    to: str,
    assignee: str | None,
    crews: Mapping[str, str],
) -> str | None:
    """Refuse (403) a move ``principal`` may not make; the assignee the move names
    (``principal.user`` when a technician takes the ticket). ``crews``: member → crew."""
    if principal.via is Via.TOKEN:
        return assignee
    tid = old.tid
    check_move(principal, tid, old.crew, old.assignee)
    if (
        to == TicketStatus.ASSIGNED
        and not assignee
        and old.assignee is None
        and not may_reassign(principal, old.crew, old.crew)
    ):
        assignee = principal.user  # a technician takes it
    if to == TicketStatus.ASSIGNED and not assignee:
        check_reassign(principal, tid, old.crew, old.crew)  # the roster picks in the crew
    if assignee and assignee != old.assignee:
        taking = old.assignee is None and assignee == principal.user
        if not taking:
            check_reassign(principal, tid, old.crew, crews.get(assignee))
    return assignee
