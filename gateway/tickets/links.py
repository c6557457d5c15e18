"""What tickets ask of alarms, and nothing more: the :class:`AlarmLink` interface.

The ticket service never reads alarm JSON: it asks whether a rule's alarm is active on a
device, which alarms are active (for delayed dispatches), links a ticket to an alarm and
takes a rule's alarms on a device out of (back to) service. ``gateway.alarms``'s
``AlarmService`` is one; a test may pass its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class AlarmView(Protocol):
    """An active alarm as the ticket service sees it (times epoch ms)."""

    @property
    def id(self) -> int | None: ...
    @property
    def rule(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def system(self) -> str | None: ...
    @property
    def device(self) -> str: ...
    @property
    def point(self) -> str: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def message(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def activated_at_ms(self) -> int: ...
    @property
    def source_ts_ms(self) -> int: ...


class AlarmLink(Protocol):
    def is_active(self, rule: str, device: str) -> bool:
        """Whether an alarm of ``rule`` on ``device`` (any point) is active."""
        ...

    def active_alarms(self) -> Sequence[AlarmView]:
        """The active alarms, oldest first."""
        ...

    def link_ticket(self, alarm_id: int, ticket_id: int) -> object:
        """Record on the alarm that the ticket was opened for it."""
        ...

    def set_out_of_service(
        self, rule: str, device: str, on: bool, user: str, reason: str | None = None
    ) -> object:
        """Take (rule, device) out of service, or return it to service."""
        ...
