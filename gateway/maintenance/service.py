"""The maintenance service of one site: assets, plans, meters and the scheduler, on a tick.

Life: :func:`gateway.services.build_site` builds it over the site's state store, its
ticket service and the rule engine's device state; construction writes the site file's
plans (``PlanStore.sync``) and reads back the meters, the plans' states and the plans.
Then :meth:`MaintenanceService.tick` (from ``SiteServices.tick``, once a second):

1. takes each device's newest reading from the engine's device state (one owner of
   device state: the rule engine; nothing on the hot path changes) into the meters and
   the trend fields' daily rows (``gateway.maintenance.meters``). On the event loop a
   sweep over the devices is done in slices, one loop turn each (at most
   :data:`POLL_TAKE` readings taken and :data:`POLL_LOOK` devices looked at): the first
   sweep over 100,000 new devices was one 1.2 s turn, a sweep with nothing new 17 ms; a
   tick while a sweep is still going on starts none. Without a loop (tests, tools) a
   sweep is done whole;
2. once a minute of gateway time: writes the meters that changed, and runs the scheduler
   (``gateway.maintenance.scheduler``), which opens the occurrences that are due.

:meth:`close` writes the meters one last time. Rebuilt over the same database (a
restart), it goes on where it stood: no occurrence is opened twice (the state steps on
in the ticket's own transaction) and meters lose at most the minute before a crash.

Reads for the API: :meth:`assets`, :meth:`asset` (history, meters, cost),
:meth:`plans`, :meth:`calendar` (the next ``days`` of occurrences, and what is overdue),
:meth:`figures` (``gateway.maintenance.figures``). :meth:`add_plan` adds a plan.
Everything runs on the event loop, short and synchronous, like the ticket service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy import Engine

from gateway.clock import Clock, iso_ms
from gateway.errors import Invalid, NotFound
from gateway.maintenance import triggers as tr
from gateway.maintenance.assets import AssetInfo, select, site_assets
from gateway.maintenance.figures import cost_of, history, pm_figures
from gateway.maintenance.meters import METERS, Meters
from gateway.maintenance.scheduler import Opener, Scheduler
from gateway.maintenance.store import PlanRecord, PlanStore
from gateway.store.db import reader
from rules.devices import DeviceState
from rules.site import CalendarTrigger, MeterTrigger, Plan, Site, TrendTrigger

log = logging.getLogger(__name__)

SCHEDULE_EVERY_MS = 60_000
SAVE_EVERY_MS = 60_000
#: a slice of a poll (one loop turn): at most this many readings taken (~10 ms) ...
POLL_TAKE = 1_000
#: ... and this many devices looked at (~3 ms with nothing new)
POLL_LOOK = 20_000
_METER_FIELDS = frozenset(f for f, _ in METERS.values())


class Tickets(Opener, Protocol):
    pass


class MaintenanceService:
    def __init__(
        self,
        engine: Engine,
        site: Site,
        clock: Clock,
        tickets: Opener,
        *,
        devices: Mapping[str, DeviceState] | None = None,
    ) -> None:
        self.site = site
        self.tz = site.tz
        self._clock = clock
        self._reader = reader(engine)
        self._devices = devices
        self._assets: dict[str, AssetInfo] = site_assets(site)
        self.store = PlanStore(engine)
        self.store.sync(site.plans, clock.now_ms())
        self._plans: dict[str, PlanRecord] = self.store.load()
        self.meters = Meters(engine, self.tz, self._trend_fields())
        self.meters.load()
        self.scheduler = Scheduler(self.store, self.meters, tickets, self.tz, lambda: self._assets)
        # the newest reading taken of each device is kept in its meters' record
        # (``Meters.taken``): a dict entry a device less
        self._clocks: dict[str, int] = {}  # each device's newest timestamp at the last poll
        self._sweep: Iterator[DeviceState] | None = None  # the poll under way (see poll)
        self._next_slice: asyncio.Handle | None = None
        self._run_at: int | None = None
        self._saved_at = clock.now_ms()

    def _trend_fields(self) -> set[str]:
        return {
            r.plan.trigger.trend
            for r in self._plans.values()
            if isinstance(r.plan.trigger, TrendTrigger)
        }

    # -------------------------------------------------------------------- time
    def tick(self, now_ms: int | None = None) -> list[dict[str, Any]]:
        """See the module doc; the tickets opened."""
        now = self._clock.now_ms() if now_ms is None else int(now_ms)
        self.poll()
        if now - self._saved_at >= SAVE_EVERY_MS:
            self._saved_at = now
            self.meters.save(now)
        if self._run_at is not None and now - self._run_at < SCHEDULE_EVERY_MS:
            return []
        self._run_at = now
        return self.scheduler.run(self._plans, now)

    def poll(self) -> None:
        """Take each device's newest reading (of the fields meters and trends read): the
        whole sweep now without an event loop, else its first slice now and the next
        ones in the loop's next turns; nothing while a sweep is still going on."""
        if self._devices is None or self._next_slice is not None:
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            while not self._poll_slice():
                pass
        elif not self._poll_slice():
            self._next_slice = loop.call_soon(self._poll_more)

    def _poll_more(self) -> None:
        self._next_slice = None
        try:
            done = self._poll_slice()
        except Exception:  # noqa: BLE001 - like a tick's: logged, the next tick sweeps anew
            log.exception("maintenance poll failed; going on")
            self._sweep = None
            return
        if not done:
            self._next_slice = asyncio.get_running_loop().call_soon(self._poll_more)

    def _poll_slice(self) -> bool:
        """One slice of the sweep; ``True`` once the sweep is done."""
        if self._devices is None:
            return True
        if self._sweep is None:
            # (a list: devices may be added between slices, a dict must not change while
            # it is iterated)
            self._sweep = iter(list(self._devices.values()))
        wanted = _METER_FIELDS | self.meters.trend_fields
        clocks = self._clocks
        looked = taken = 0
        for dev in self._sweep:
            looked += 1
            if clocks.get(dev.id) != dev.clock:
                clocks[dev.id] = dev.clock
                dts = dev.ts
                fields = [f for f in dts if f in wanted]
                if fields:
                    ts = max(dts[f] for f in fields)
                    if ts > self.meters.taken(dev.id):
                        self.meters.take(dev.id, ts)
                        self.observe(dev.id, ts, {f: dev.values[f] for f in fields if dts[f] == ts})
                        taken += 1
            if taken >= POLL_TAKE or looked >= POLL_LOOK:
                return False
        self._sweep = None
        return True

    def observe(self, device: str, ts_ms: int, values: Mapping[str, Any]) -> None:
        """One reading of ``device`` at device time ``ts_ms`` into meters and trends."""
        d = self.site.device(device)
        interval = d.interval_s if d is not None else 60.0
        self.meters.observe(device, interval, ts_ms, values)

    def close(self) -> None:
        if self._next_slice is not None:
            self._next_slice.cancel()
            self._next_slice = None
        self.meters.save(self._clock.now_ms())

    # ------------------------------------------------------------------ assets
    def assets(self) -> list[dict[str, Any]]:
        return [
            {**a.public(), "meters": self.meters.of(a.device) if a.device else {}}
            for a in self._assets.values()
        ]

    def asset(self, asset_id: str, limit: int = 200) -> dict[str, Any]:
        a = self._assets.get(asset_id)
        if a is None:
            raise NotFound(f"no asset {asset_id!r}")
        rows = history(self._reader, a)
        meters = self.meters.of(a.device) if a.device else {}
        readings = (
            {
                name: [
                    {"day": day, "value": row.last}
                    for day, row in self.meters.daily(a.device, name)[-90:]
                    if row.last is not None
                ]
                for name in meters
            }
            if a.device
            else {}
        )
        return {
            **a.public(),
            "meters": meters,
            "readings": readings,
            "plans": [r.plan.id for r in self._plans.values() if a in select(r.plan, self._assets)],
            "history": [t.public() for t in rows[:limit]],
            "history_total": len(rows),
            "cost": cost_of(rows),
        }

    # ------------------------------------------------------------------- plans
    def plans(self) -> list[dict[str, Any]]:
        return [
            {**r.public(), "assets_resolved": [a.id for a in select(r.plan, self._assets)]}
            for r in self._plans.values()
        ]

    def add_plan(self, body: Mapping[str, Any], user: str) -> dict[str, Any]:
        """A plan made through the API (:class:`Invalid` with the reason if it is not
        one; :class:`Conflict` for an id in use). Without ``id``, one is made up."""
        data = dict(body)
        if not data.get("id"):
            data["id"] = f"plan-{self._clock.now_ms()}"
        try:
            plan = Plan.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            raise Invalid(f"{where}: {first.get('msg')}") from None
        if self.site.crews and self.site.crew(plan.crew) is None:
            raise Invalid(f"crew {plan.crew!r} is not a crew of the site")
        if isinstance(plan.assets, list):
            unknown = [i for i in plan.assets if i not in self._assets]
            if unknown:
                raise Invalid(f"unknown assets: {', '.join(unknown)}")
        if not select(plan, self._assets):
            raise Invalid("the plan names no asset of the site")
        rec = self.store.add(plan, user, self._clock.now_ms())
        self._plans[plan.id] = rec
        self.meters.trend_fields = self._trend_fields()
        self._run_at = None  # judge it at the next tick
        return {**rec.public(), "assets_resolved": [a.id for a in select(plan, self._assets)]}

    # ---------------------------------------------------------------- calendar
    def calendar(self, days: float = 90.0) -> dict[str, Any]:
        """Occurrences due within ``days``: calendar plans from their rule, meter plans'
        next marks (with the meter now), trend plans' next due when projected."""
        now = self._clock.now_ms()
        end = now + int(days * tr.DAY_MS)
        items: list[dict[str, Any]] = []
        for rec in self._plans.values():
            trig = rec.plan.trigger
            for a in select(rec.plan, self._assets):
                st = self.scheduler.states.get((rec.plan.id, a.id))
                base = {
                    "plan_id": rec.plan.id,
                    "title": rec.plan.title,
                    "asset": a.id,
                    "crew": rec.plan.crew,
                }
                if isinstance(trig, CalendarTrigger):
                    start = st.next_due_ms if st and st.next_due_ms else None
                    if start is None:
                        continue
                    dtstart = tr.start_of(trig.start, rec.anchor_ms, self.tz)
                    for due in tr.occurrences(
                        trig.calendar, self.tz, dtstart=dtstart, start_ms=start, end_ms=end
                    ):
                        lead = tr.lead_ms(trig.lead_days)
                        items.append(
                            {**base, "due_at": iso_ms(due), "opens_at": iso_ms(due - lead)}
                        )
                elif isinstance(trig, MeterTrigger):
                    value = self.meters.value(a.device or "", trig.meter)
                    items.append(
                        {
                            **base,
                            "meter": trig.meter,
                            "value": value,
                            "next_mark": st.next_meter if st else None,
                        }
                    )
        items.sort(key=lambda i: i.get("due_at") or "~")
        figures = self.figures()
        return {
            "from": iso_ms(now),
            "to": iso_ms(end),
            "items": items,
            "overdue": figures["overdue"],
        }

    # ----------------------------------------------------------------- figures
    def figures(self, days: float = 30.0, now_ms: int | None = None) -> dict[str, Any]:
        now = self._clock.now_ms() if now_ms is None else now_ms
        return pm_figures(self._reader, self._assets, now, days)
