"""What one alarm operation changes, built before anything is written.

An operation of the lifecycle (``gateway.alarms.lifecycle``, ``gateway.alarms.timers``)
reads the service's cached alarms and records here what it would change: new or edited
alarms (always *copies*: :meth:`AlarmChanges.edit` makes the next version), journal
entries, the changes listeners will hear and the out-of-service rows to put or drop.
``gateway.alarms.store`` writes it in one transaction; only once that is committed does
the cache take the new versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from gateway.alarms.model import SYSTEM_USER, Alarm, Key
from gateway.store import journal as jr


class AlarmChanges:
    """Saved alarms, journal entries, listener changes and out-of-service rows of one
    operation at ``now_ms``."""

    __slots__ = ("now_ms", "saves", "journal", "changes", "oos_put", "oos_drop")

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.saves: dict[Key, tuple[Alarm | None, Alarm]] = {}
        self.journal: list[tuple[Alarm | None, dict[str, Any]]] = []
        self.changes: dict[Key, tuple[Alarm, str, bool]] = {}
        self.oos_put: list[dict[str, Any]] = []
        self.oos_drop: list[tuple[str, str]] = []

    def create(self, alarm: Alarm) -> Alarm:
        self.saves[alarm.key] = (None, alarm)
        return alarm

    def edit(self, current: Alarm) -> Alarm:
        """A new version of ``current`` to change (the same one if already edited)."""
        if current.key in self.saves:
            return self.saves[current.key][1]
        new = replace(current, ticket_ids=list(current.ticket_ids), version=current.version + 1)
        new.updated_at_ms = self.now_ms
        self.saves[current.key] = (current, new)
        return new

    def edited(self, current: Alarm) -> Alarm:
        """The version of ``current`` this operation holds (``current`` if unchanged)."""
        return self.saves[current.key][1] if current.key in self.saves else current

    def log(
        self,
        alarm: Alarm | None,
        action: str,
        *,
        actor: str = SYSTEM_USER,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        rule: str | None = None,
        device: str | None = None,
        ticket_id: int | str | None = None,
    ) -> None:
        row = jr.entry(
            at_ms=self.now_ms,
            actor=actor,
            action=action,
            reason=reason,
            ticket_id=ticket_id,
            rule=alarm.rule if alarm else rule,
            device=alarm.device if alarm else device,
            point=alarm.point if alarm else None,
            state=alarm.state if alarm else None,
            detail=detail,
        )
        self.journal.append((alarm, row))

    def emit(self, alarm: Alarm, change: str, announce: bool) -> None:
        """Tell listeners ``change`` of ``alarm`` (one change per alarm and operation:
        the first one's name, announced if any of them is)."""
        prev = self.changes.get(alarm.key)
        if prev is not None:
            change, announce = prev[1], prev[2] or announce
        self.changes[alarm.key] = (alarm, change, announce)

    def absorb(self, other: AlarmChanges) -> None:
        """Take in ``other`` (an operation on other alarms, at the same ``now_ms``), to be
        written in the same transaction (a batch: ``gateway.alarms.batch``)."""
        if not self.saves.keys().isdisjoint(other.saves):
            raise ValueError("a batch changes each alarm once")
        self.saves.update(other.saves)
        self.journal.extend(other.journal)
        self.changes.update(other.changes)
        self.oos_put.extend(other.oos_put)
        self.oos_drop.extend(other.oos_drop)

    @property
    def empty(self) -> bool:
        return not (self.saves or self.journal or self.changes or self.oos_put or self.oos_drop)
