"""The ticket service's own conflicts (HTTP 409), with what the client is shown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.errors import Conflict


class IllegalTransition(Conflict):
    """The ticket's life does not allow this move (409); ``allowed`` lists the moves."""

    def __init__(self, ticket_id: int, status: str, to: str, allowed: Sequence[str]) -> None:
        self.ticket_id = ticket_id
        self.status = status
        self.to = to
        self.allowed = list(allowed)
        moves = ", ".join(self.allowed) or "none (the ticket is finished)"
        super().__init__(f"ticket {ticket_id} is {status}: cannot move to {to}; allowed: {moves}")

    def detail(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "ticket": self.ticket_id,
            "status": self.status,
            "to": self.to,
            "allowed": self.allowed,
        }


class ClosedLoop(Conflict):
    """A rule's ticket cannot be resolved (closed) while its alarm is still active."""

    def __init__(
        self, ticket_id: int, status: str, to: str, message: str, allowed: Sequence[str]
    ) -> None:
        self.ticket_id = ticket_id
        self.status = status
        self.to = to
        self.allowed = list(allowed)
        super().__init__(message)

    def detail(self) -> dict[str, Any]:
        return {
            "message": str(self),
            "ticket": self.ticket_id,
            "status": self.status,
            "to": self.to,
            "allowed": self.allowed,
            "closed_loop": True,
        }
