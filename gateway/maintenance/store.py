"""Persistence of plans and of where each (plan, asset) stands (``pm_plans``, ``pm_state``).

Plans: the site file's are written at start (:meth:`PlanStore.sync`: a new one gets its
anchor, the time it was first seen; a changed one keeps its anchor and loses its state,
which is then worked out again from its tickets; one no longer in the file is removed,
its tickets stay); the API's are added by :meth:`PlanStore.add` (409 for an id in use).

State (:class:`State`): one row per (plan, asset), kept in memory and written with a
version check (:meth:`PlanStore.advance`) in the transaction that opens the occurrence's
ticket, so a ticket and the step of its plan are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.store import models as m
from gateway.store.specs import API, add_api_spec, sync_site_specs
from gateway.store.work import Stale
from gateway.tickets.model import BACKLOG
from gateway.tickets.preventive import PREVENTIVE
from rules.site import Plan


@dataclass(slots=True)
class PlanRecord:
    plan: Plan
    source: str
    anchor_ms: int
    created_by: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            **self.plan.model_dump(mode="json", exclude_none=True),
            "source": self.source,
            "anchor_ms": self.anchor_ms,
            "created_by": self.created_by,
        }


@dataclass(slots=True)
class State:
    plan_id: str
    asset: str
    next_due_ms: int | None = None
    next_meter: float | None = None
    since_ms: int | None = None
    opened: int = 0
    version: int = 0  # 0: not stored yet

    def row(self, now_ms: int) -> dict[str, Any]:
        return {
            "next_due_ms": self.next_due_ms,
            "next_meter": self.next_meter,
            "since_ms": self.since_ms,
            "opened": self.opened,
            "updated_at_ms": now_ms,
        }


class PlanStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # ------------------------------------------------------------------ plans
    def load(self) -> dict[str, PlanRecord]:
        t = m.pm_plans
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.created_at_ms, t.c.id)).mappings()
            return {
                r["id"]: PlanRecord(
                    Plan.model_validate(r["spec"]), r["source"], r["anchor_ms"], r["created_by"]
                )
                for r in rows
            }

    def sync(self, plans: Iterable[Plan], now_ms: int) -> None:
        """Write the site file's plans (see the module doc)."""
        t, s = m.pm_plans, m.pm_state
        wanted = {p.id: p.model_dump(mode="json") for p in plans}
        with self._engine.begin() as conn:

            def forget(pid: str) -> None:  # a plan's schedule state goes with its trigger
                conn.execute(sa.delete(s).where(s.c.plan_id == pid))

            def changed(pid: str, old: dict[str, Any], new: dict[str, Any]) -> None:
                if old.get("trigger") != new.get("trigger"):
                    forget(pid)

            sync_site_specs(conn, t, wanted, now_ms, on_change=changed, on_remove=forget)

    def add(self, plan: Plan, user: str, now_ms: int) -> PlanRecord:
        with self._engine.begin() as conn:
            add_api_spec(
                conn, m.pm_plans, plan.id, plan.model_dump(mode="json"), user, now_ms, "plan"
            )
        return PlanRecord(plan, API, now_ms, user)

    # ------------------------------------------------------------------ state
    def states(self) -> dict[tuple[str, str], State]:
        t = m.pm_state
        with self._engine.connect() as conn:
            return {
                (r["plan_id"], r["asset"]): State(
                    r["plan_id"],
                    r["asset"],
                    r["next_due_ms"],
                    r["next_meter"],
                    r["since_ms"],
                    int(r["opened"]),
                    int(r["version"]),
                )
                for r in conn.execute(sa.select(t)).mappings()
            }

    def create(self, st: State, now_ms: int) -> None:
        with self._engine.begin() as conn:
            self.advance(conn, st, now_ms)

    @staticmethod
    def advance(conn: Connection, st: State, now_ms: int) -> None:
        """Write ``st`` over the stored version (:class:`Stale` if another writer moved
        it); bumps ``st.version``."""
        t = m.pm_state
        if st.version == 0:
            conn.execute(
                sa.insert(t).values(plan_id=st.plan_id, asset=st.asset, version=1, **st.row(now_ms))
            )
        else:
            res = conn.execute(
                sa.update(t)
                .where(t.c.plan_id == st.plan_id, t.c.asset == st.asset, t.c.version == st.version)
                .values(version=st.version + 1, **st.row(now_ms))
            )
            if res.rowcount != 1:
                raise Stale(f"pm_state {st.plan_id}/{st.asset} moved")
        st.version += 1

    # ---------------------------------------------------------------- tickets
    def last_due(self, plan_id: str, asset: str) -> int | None:
        t = m.tickets
        with self._engine.connect() as conn:
            got = conn.execute(
                sa.select(sa.func.max(t.c.due_at_ms)).where(
                    t.c.plan_id == plan_id, t.c.asset == asset, t.c.category == PREVENTIVE
                )
            ).scalar()
        return None if got is None else int(got)

    def progress(self) -> tuple[set[tuple[str, str]], dict[tuple[str, str], int]]:
        """(plan, asset) pairs with an unfinished occurrence, and the time each pair's
        last occurrence was finished (resolved, or cancelled)."""
        t = m.tickets
        done = sa.func.coalesce(t.c.resolved_at_ms, t.c.cancelled_at_ms)
        with self._engine.connect() as conn:
            pending = {
                (r[0], r[1])
                for r in conn.execute(
                    sa.select(t.c.plan_id, t.c.asset).where(
                        t.c.category == PREVENTIVE,
                        t.c.plan_id.is_not(None),
                        t.c.status.in_(BACKLOG),
                    )
                )
            }
            last = {
                (r[0], r[1]): int(r[2])
                for r in conn.execute(
                    sa.select(t.c.plan_id, t.c.asset, sa.func.max(done))
                    .where(t.c.category == PREVENTIVE, t.c.plan_id.is_not(None))
                    .group_by(t.c.plan_id, t.c.asset)
                )
                if r[2] is not None
            }
        return pending, last
