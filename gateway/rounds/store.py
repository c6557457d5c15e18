"""Persistence of rounds: templates, rounds, inspected checkpoints, answers, findings.

Templates: the site file's are written at start (:meth:`RoundStore.sync`: a new one gets
its anchor, the time it was first seen; a changed one keeps its anchor; one no longer in
the file is removed, its rounds stay); the API's are added by :meth:`RoundStore.add`
(409 for an id in use). Rounds are made once per (template, due time): the unique index
refuses a second. Every write of a round is guarded by its ``version``
(:class:`~gateway.errors.Conflict` when it changed meanwhile).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.errors import Conflict, NotFound
from gateway.rounds.model import ROUND_FIELDS, Round
from gateway.store import models_rounds as mr
from gateway.store.models import tickets as _tickets
from gateway.store.specs import API, add_api_spec, sync_site_specs
from gateway.tickets.model import OPEN_STATUSES
from rules.site import RoundTemplate

_r, _cp, _a, _f, _t = (
    mr.rounds,
    mr.round_checkpoints,
    mr.round_answers,
    mr.round_findings,
    mr.round_templates,
)


@dataclass(slots=True)
class TemplateRecord:
    template: RoundTemplate
    source: str
    anchor_ms: int
    created_by: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            **self.template.model_dump(mode="json", exclude_none=True),
            "source": self.source,
            "created_by": self.created_by,
        }


class RoundStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -------------------------------------------------------------- templates
    def templates(self) -> dict[str, TemplateRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_t).order_by(_t.c.created_at_ms, _t.c.id)).mappings()
            return {
                r["id"]: TemplateRecord(
                    RoundTemplate.model_validate(r["spec"]),
                    r["source"],
                    r["anchor_ms"],
                    r["created_by"],
                )
                for r in rows
            }

    def sync(self, templates: Iterable[RoundTemplate], now_ms: int) -> None:
        wanted = {t.id: t.model_dump(mode="json") for t in templates}
        with self.engine.begin() as conn:
            sync_site_specs(conn, _t, wanted, now_ms)

    def add(self, template: RoundTemplate, user: str, now_ms: int) -> TemplateRecord:
        with self.engine.begin() as conn:
            add_api_spec(
                conn,
                _t,
                template.id,
                template.model_dump(mode="json"),
                user,
                now_ms,
                "round template",
            )
        return TemplateRecord(template, API, now_ms, user)

    # ----------------------------------------------------------------- rounds
    def due_times_of(self, template_id: str, lo_ms: int, hi_ms: int) -> set[int]:
        with self.engine.connect() as conn:
            q = sa.select(_r.c.due_at_ms).where(
                _r.c.template_id == template_id, _r.c.due_at_ms.between(lo_ms, hi_ms)
            )
            return {int(x) for x in conn.execute(q).scalars()}

    def insert(self, conn: Connection, values: Mapping[str, Any]) -> int:
        return int(conn.execute(sa.insert(_r).values(dict(values)).returning(_r.c.id)).scalar_one())

    def load(self, conn: Connection, round_id: int) -> Round:
        row = conn.execute(sa.select(_r).where(_r.c.id == round_id)).mappings().first()
        if row is None:
            raise NotFound(f"no round {round_id}")
        return Round.from_row(row)

    def save(self, conn: Connection, old: Round, **changes: Any) -> Round:
        values = {**changes, "version": old.version + 1}
        res = conn.execute(
            sa.update(_r).where(_r.c.id == old.id, _r.c.version == old.version).values(values)
        )
        if res.rowcount != 1:
            raise Conflict(f"round {old.id} changed meanwhile; try again")
        data = {f: getattr(old, f) for f in ROUND_FIELDS}
        data.update(values)
        return Round(**data)

    def select(
        self,
        conn: Connection,
        *,
        status: Sequence[str] | None = None,
        crew: str | None = None,
        ids: Sequence[int] | None = None,
        due_before_ms: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Round], int]:
        cond: list[Any] = []
        if status:
            cond.append(_r.c.status.in_(list(status)))
        if crew:
            cond.append(_r.c.crew == crew)
        if ids is not None:
            cond.append(_r.c.id.in_(list(ids)))
        if due_before_ms is not None:
            cond.append(_r.c.due_at_ms <= due_before_ms)
        total = conn.execute(sa.select(sa.func.count()).select_from(_r).where(*cond)).scalar()
        q = (
            sa.select(_r)
            .where(*cond)
            .order_by(_r.c.due_at_ms.desc(), _r.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [Round.from_row(r) for r in conn.execute(q).mappings()], int(total or 0)

    # ------------------------------------------------------------ checkpoints
    def answered(self, conn: Connection, round_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {rid: {} for rid in round_ids}
        if round_ids:
            for r in conn.execute(sa.select(_cp).where(_cp.c.round_id.in_(list(round_ids)))):
                out[int(r.round_id)][r.checkpoint] = dict(r._mapping)
        return out

    def put_checkpoint(self, conn: Connection, values: Mapping[str, Any]) -> None:
        key = (_cp.c.round_id == values["round_id"], _cp.c.checkpoint == values["checkpoint"])
        if conn.execute(sa.select(_cp.c.round_id).where(*key)).first() is None:
            conn.execute(sa.insert(_cp).values(dict(values)))
        else:
            conn.execute(sa.update(_cp).where(*key).values(dict(values)))

    # ---------------------------------------------------------------- answers
    def answer_seen(self, conn: Connection, round_id: int, key: str) -> bool:
        q = sa.select(_a.c.id).where(_a.c.round_id == round_id, _a.c.key == key)
        return conn.execute(q).first() is not None

    def add_answer(self, conn: Connection, values: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(_a).values(dict(values)))

    def answers(self, conn: Connection, round_id: int) -> list[dict[str, Any]]:
        q = sa.select(_a).where(_a.c.round_id == round_id).order_by(_a.c.id)
        return [dict(r) for r in conn.execute(q).mappings()]

    # --------------------------------------------------------------- findings
    def open_finding(
        self, conn: Connection, template_id: str, checkpoint: str, item: str
    ) -> dict[str, Any] | None:
        """The finding of this place and item whose ticket is still open, if any."""
        q = (
            sa.select(_f)
            .join(_tickets, _tickets.c.id == _f.c.ticket_id)
            .where(
                _f.c.template_id == template_id,
                _f.c.checkpoint == checkpoint,
                _f.c.item == item,
                _tickets.c.status.in_(OPEN_STATUSES),
            )
            .order_by(_f.c.id.desc())
            .limit(1)
        )
        row = conn.execute(q).mappings().first()
        return None if row is None else dict(row)

    def add_finding(self, conn: Connection, values: Mapping[str, Any]) -> None:
        conn.execute(sa.insert(_f).values(dict(values)))

    def repeat_finding(
        self, conn: Connection, f: Mapping[str, Any], round_id: int, photos: list[str], now: int
    ) -> None:
        conn.execute(
            sa.update(_f)
            .where(_f.c.id == f["id"])
            .values(
                count=int(f["count"]) + 1,
                rounds=[*f["rounds"], round_id],
                photos=list(dict.fromkeys([*f["photos"], *photos])),
                last_at_ms=now,
            )
        )

    def findings_of(self, conn: Connection, r: Round) -> list[dict[str, Any]]:
        """Findings this round made or added to (its id in ``rounds``)."""
        round_id = r.id
        q = sa.select(_f).where(
            _f.c.template_id == r.template_id, _f.c.last_at_ms >= r.created_at_ms
        )
        rows = conn.execute(q.order_by(_f.c.id)).mappings()
        out = []
        for f in rows:
            if round_id in (f["rounds"] or []):
                out.append(
                    {
                        "checkpoint": f["checkpoint"],
                        "item": f["item"],
                        "zone": f["zone"],
                        "ticket_id": f["ticket_id"],
                        "count": f["count"],
                        "opened_here": f["round_id"] == round_id,
                    }
                )
        return out
