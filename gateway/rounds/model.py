"""A round as stored and as shown: statuses, the :class:`Round` record, its public form.

**Life of a round** (one occurrence of a template)::

    due ──start──> in_progress ──finish──> done
     │                 │
     │ not started     └─ not finished within a second window ──> abandoned
     v  by start_by        (its answers are kept; findings stand)
   missed ──start (late)──> in_progress ──> done (late)

``due_at`` comes from the schedule; ``start_by`` = due + ``grace_min``; ``finish_by`` =
due + ``window_min``. A round is *on time* when it was started by ``start_by`` and
finished by ``finish_by``; *late* when it was done otherwise (a missed round may still be
done, late); *missed* while it was never started. Times are epoch ms; JSON shows RFC 3339.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from gateway.clock import iso_ms
from gateway.store.models_rounds import rounds as _rounds
from rules.vocab import TicketSource


class RoundStatus(StrEnum):
    DUE = "due"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    MISSED = "missed"
    ABANDONED = "abandoned"


STATUSES: tuple[str, ...] = tuple(RoundStatus)
#: a round someone may start
STARTABLE = (RoundStatus.DUE, RoundStatus.MISSED)
#: the ticket source of findings (contract section 8)
SOURCE_INSPECTION = TicketSource.INSPECTION


@dataclass(slots=True)
class Round:
    id: int
    site: str
    template_id: str
    name: str
    crew: str
    status: str
    due_at_ms: int
    start_by_ms: int
    finish_by_ms: int
    checkpoints: list[dict[str, Any]]
    priority: str
    started_at_ms: int | None
    started_by: str | None
    finished_at_ms: int | None
    finished_by: str | None
    missed_at_ms: int | None
    abandoned_at_ms: int | None
    note: str | None
    created_at_ms: int
    updated_at_ms: int
    version: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | sa.RowMapping) -> Round:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def on_time(self) -> bool | None:
        """Done on time (``None`` while not done)."""
        if self.status != RoundStatus.DONE:
            return None
        return bool(
            self.started_at_ms is not None
            and self.started_at_ms <= self.start_by_ms
            and self.finished_at_ms is not None
            and self.finished_at_ms <= self.finish_by_ms
        )

    def checkpoint(self, cp: str) -> dict[str, Any] | None:
        return next((c for c in self.checkpoints if c["id"] == cp), None)

    def public(
        self,
        answered: Mapping[str, Mapping[str, Any]] | None = None,
        findings: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        done = answered or {}
        cps = []
        for c in self.checkpoints:
            a = done.get(c["id"])
            cps.append(
                {
                    **c,
                    "done": a is not None,
                    "answers": a["answers"] if a else None,
                    "photos": a["photos"] if a else [],
                    "failed": a["failed"] if a else None,
                    "failed_items": a["failed_items"] if a else [],
                    "scanned": bool(a["scanned"]) if a else False,
                    "done_at": iso_ms(a["done_at_ms"]) if a else None,
                    "done_by": a["done_by"] if a else None,
                }
            )
        on_time = self.on_time
        return {
            "id": self.id,
            "template_id": self.template_id,
            "name": self.name,
            "crew": self.crew,
            "status": self.status,
            "priority": self.priority,
            "due_at": iso_ms(self.due_at_ms),
            "start_by": iso_ms(self.start_by_ms),
            "finish_by": iso_ms(self.finish_by_ms),
            "started_at": iso_ms(self.started_at_ms),
            "started_by": self.started_by,
            "finished_at": iso_ms(self.finished_at_ms),
            "finished_by": self.finished_by,
            "missed_at": iso_ms(self.missed_at_ms),
            "abandoned_at": iso_ms(self.abandoned_at_ms),
            "on_time": on_time,
            "late": None if on_time is None else not on_time,
            "note": self.note,
            "progress": {
                "done": sum(1 for c in cps if c["done"]),
                "total": len(cps),
                "failed": sum(1 for c in cps if c["failed"]),
            },
            "checkpoints": cps,
            "findings": findings or [],
            "version": self.version,
        }


ROUND_FIELDS = tuple(f.name for f in fields(Round))
assert set(ROUND_FIELDS) == {c.name for c in _rounds.columns}, "Round and rounds disagree"
