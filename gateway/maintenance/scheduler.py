"""The scheduler: each plan's occurrences on each of its assets, opened as tickets.

Life of one (plan, asset), at each :meth:`Scheduler.run` (the service calls it once a
minute of gateway time):

1. **First sight** (no state yet): a calendar plan's first occurrence owed is the first
   that *opens* (due time less the lead) at or after the plan was first seen, so every
   occurrence opens at its lead time (or, when it had tickets already, the first after
   its last ticket's due time: a plan whose trigger changed goes on from there); a meter
   plan's first mark is the meter's value then plus ``every`` (it waits for the meter's
   first reading); a trend plan reads data from then on.
2. **Due** (calendar: ``now >= due - lead``; meter: the meter passed its mark; trend: the
   projection crosses the limit within ``within_days`` and no occurrence is unfinished):
   the ticket is opened (``TicketService.open_preventive``) and, in the same transaction,
   the state steps on (next due time from the rule; next mark; opened count). Several
   due occurrences (a gateway down for weeks) open one ticket each, oldest first.
3. **From completion** (a calendar plan that says so): no next due time while the last
   occurrence is unfinished; once it is resolved (or cancelled) the rule restarts there.
   A trend plan reads its field again only from the last resolution on (a new filter).

Restarts: everything is read back from the store (``gateway.maintenance.store``); a
state row moved by another writer (:class:`Stale`) is read again at the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.maintenance import triggers as tr
from gateway.maintenance.assets import AssetInfo, select
from gateway.maintenance.meters import Meters
from gateway.maintenance.store import PlanRecord, PlanStore, State
from gateway.store.work import Stale
from rules.site import CalendarTrigger, MeterTrigger, Plan, TrendTrigger

log = logging.getLogger(__name__)
#: a trend plan is judged at most this often per asset (its data are daily means)
TREND_EVERY_MS = 6 * 3_600_000


class Opener(Protocol):
    def open_preventive(self, **occurrence: Any) -> dict[str, Any] | None: ...


class Scheduler:
    def __init__(
        self,
        store: PlanStore,
        meters: Meters,
        tickets: Opener,
        tz: ZoneInfo,
        assets: Callable[[], Mapping[str, AssetInfo]],
    ) -> None:
        self._store = store
        self._meters = meters
        self._tickets = tickets
        self.tz = tz
        self._assets = assets
        self.states: dict[tuple[str, str], State] = store.states()
        self._trend_at: dict[tuple[str, str], int] = {}
        self._selection: dict[str, tuple[Plan, list[AssetInfo]]] = {}
        self._progress: tuple[set[tuple[str, str]], dict[tuple[str, str], int]] | None = None

    def reload(self) -> None:
        self.states = self._store.states()

    def run(self, plans: Mapping[str, PlanRecord], now: int) -> list[dict[str, Any]]:
        """Open every occurrence due at ``now``; the tickets opened."""
        opened: list[dict[str, Any]] = []
        self._progress = None  # read from the tickets at most once a run, when needed
        for rec in plans.values():
            for asset in self._selected(rec.plan):
                try:
                    opened += self._one(rec, asset, now)
                except Stale:
                    log.info("plan %s on %s moved meanwhile: read again", rec.plan.id, asset.id)
                    self.reload()
        return opened

    def _selected(self, plan: Plan) -> list[AssetInfo]:
        got = self._selection.get(plan.id)
        if got is None or got[0] is not plan:
            got = self._selection[plan.id] = (plan, select(plan, dict(self._assets())))
        return got[1]

    def _pending(self, key: tuple[str, str]) -> tuple[bool, int | None]:
        """Whether (plan, asset) has an unfinished occurrence; when its last finished."""
        if self._progress is None:
            self._progress = self._store.progress()
        pending, finished = self._progress
        return key in pending, finished.get(key)

    # ------------------------------------------------------------------ one pair
    def _one(self, rec: PlanRecord, asset: AssetInfo, now: int) -> list[dict[str, Any]]:
        trig = rec.plan.trigger
        st = self.states.get((rec.plan.id, asset.id))
        if st is None:
            st = self._first(rec, asset, now)
            if st is None:
                return []
        if isinstance(trig, CalendarTrigger):
            return self._calendar(rec, trig, asset, st, now)
        if isinstance(trig, MeterTrigger):
            return self._meter(rec, trig, asset, st, now)
        return self._trend(rec, trig, asset, st, now)

    def _first(self, rec: PlanRecord, asset: AssetInfo, now: int) -> State | None:
        trig = rec.plan.trigger
        st = State(rec.plan.id, asset.id, since_ms=rec.anchor_ms)
        if isinstance(trig, CalendarTrigger):
            last = self._store.last_due(rec.plan.id, asset.id)
            # owed: the first occurrence that opens (due - lead) once the plan is known
            after = rec.anchor_ms + tr.lead_ms(trig.lead_days) if last is None else last
            st.next_due_ms = tr.next_due(
                trig.calendar,
                self.tz,
                dtstart=self._dtstart(rec, trig),
                after_ms=after,
                inclusive=last is None,
            )
        elif isinstance(trig, MeterTrigger):
            value = self._meters.value(asset.device or "", trig.meter)
            if value is None:
                return None  # waits for the meter's first reading
            st.next_meter = value + trig.every
        self._store.create(st, now)
        self.states[(st.plan_id, st.asset)] = st
        return st

    def _dtstart(self, rec: PlanRecord, trig: CalendarTrigger) -> Any:
        return tr.start_of(trig.start, rec.anchor_ms, self.tz)

    # ------------------------------------------------------------------ triggers
    def _calendar(
        self,
        rec: PlanRecord,
        trig: CalendarTrigger,
        asset: AssetInfo,
        st: State,
        now: int,
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        lead = tr.lead_ms(trig.lead_days)
        if trig.from_completion and st.next_due_ms is None:
            pending, finished = self._pending((st.plan_id, st.asset))
            if pending or finished is None or finished <= (st.since_ms or 0):
                return out
            nxt = State(**{**_fields(st), "since_ms": finished})
            nxt.next_due_ms = tr.next_due(
                trig.calendar, self.tz, dtstart=tr.to_local(finished, self.tz), after_ms=finished
            )
            self._store.create(nxt, now)
            self.states[(st.plan_id, st.asset)] = st = nxt
        while st.next_due_ms is not None and now >= st.next_due_ms - lead:
            due = st.next_due_ms
            nxt = State(**_fields(st))
            nxt.next_due_ms = (
                None
                if trig.from_completion
                else tr.next_due(
                    trig.calendar, self.tz, dtstart=self._dtstart(rec, trig), after_ms=due
                )
            )
            nxt.opened += 1
            got = self._open(rec.plan, asset, due, nxt, now)
            st = self.states[(st.plan_id, st.asset)]
            if got is not None:
                out.append(got)
        return out

    def _meter(
        self, rec: PlanRecord, trig: MeterTrigger, asset: AssetInfo, st: State, now: int
    ) -> list[dict[str, Any]]:
        value = self._meters.value(asset.device or "", trig.meter)
        if value is None or st.next_meter is None or value < st.next_meter:
            return []
        nxt = State(**_fields(st))
        nxt.next_meter = tr.next_mark(st.next_meter, trig.every, value)
        nxt.opened += 1
        due = now + tr.lead_ms(trig.due_days)
        reason = f"{trig.meter} {value:.1f} passed {st.next_meter:g} (every {trig.every:g})"
        got = self._open(rec.plan, asset, due, nxt, now, reason=reason)
        return [got] if got is not None else []

    def _trend(
        self,
        rec: PlanRecord,
        trig: TrendTrigger,
        asset: AssetInfo,
        st: State,
        now: int,
    ) -> list[dict[str, Any]]:
        key = (st.plan_id, st.asset)
        if asset.device is None or now - self._trend_at.get(key, -(2**62)) < TREND_EVERY_MS:
            return []
        self._trend_at[key] = now
        if not self._meters.has_days(asset.device, trig.trend):
            return []
        pending, finished = self._pending(key)
        if pending:
            return []
        since = max(st.since_ms or 0, finished or 0)
        first_day = self._meters.local_day(since + tr.DAY_MS)  # whole days after it only
        rows = self._meters.daily(asset.device, trig.trend, first_day)
        daily = [(d, row.mean) for d, row in rows if row.mean is not None][-trig.history_days :]
        at = tr.projection(
            daily, limit=trig.limit, within_days=trig.within_days, now_ms=now, tz=self.tz
        )
        if at is None:
            return []
        nxt = State(**{**_fields(st), "since_ms": since})
        nxt.opened += 1
        last = daily[-1][1]
        reason = f"{trig.trend} trend ({last:.0f} today) reaches {trig.limit:g} by the due time"
        got = self._open(rec.plan, asset, at, nxt, now, reason=reason)
        return [got] if got is not None else []

    # -------------------------------------------------------------------- opening
    def _open(
        self,
        plan: Plan,
        asset: AssetInfo,
        due: int,
        nxt: State,
        now: int,
        *,
        reason: str | None = None,
    ) -> dict[str, Any] | None:
        expected = nxt.version

        def also(ttx: Any) -> None:
            nxt.version = expected  # an attempt run again writes over the same version
            PlanStore.advance(ttx.conn, nxt, now)

        got = self._tickets.open_preventive(
            plan_id=plan.id,
            asset=asset.id,
            due_at_ms=due,
            title=f"{plan.title}: {asset.name}",
            description=plan.description,
            crew=plan.crew,
            priority=plan.priority,
            checklist=[i.model_dump(mode="json", exclude_none=True) for i in plan.checklist],
            device=asset.device,
            system=asset.system,
            zone=asset.zone,
            reason=reason,
            also=also,
        )
        self.states[(nxt.plan_id, nxt.asset)] = nxt
        return got


def _fields(st: State) -> dict[str, Any]:
    return {
        "plan_id": st.plan_id,
        "asset": st.asset,
        "next_due_ms": st.next_due_ms,
        "next_meter": st.next_meter,
        "since_ms": st.since_ms,
        "opened": st.opened,
        "version": st.version,
    }
