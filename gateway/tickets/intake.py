"""Where tickets come from: rules (their hits and delayed crews) and people.

**Tickets from rules** (:meth:`Intake.on_hit`, :meth:`Intake.due_dispatches`). A rule
with crews (``RuleSpec.crews_for(system)``) sends a ticket to each crew: at once for a
crew with ``after_s == 0``; for a delayed crew once the rule's alarm has been active
``after_s`` seconds (a dispatch that never happens if the alarm clears or closes first).
Delays are judged from the active alarms (their ``activated_at``), so they survive a
restart: the tick walks them into a heap of due times at its first run, when a new
activation's delay runs out and at least once a minute, and between walks takes what is
due off the heap (a crew whose alarm cleared or ended meanwhile is skipped), at most
``DUE_MAX`` a tick: the delayed crews of a flood's 30,000 offline devices come due in the
same second and are opened over the next ticks, not in one transaction that holds the
loop. A ticket-only rule (``raises: ticket``, e.g. ``hvac.filter_clogged``)
has no alarm: its hits open tickets directly. One open ticket per (rule, device, crew)
(the database enforces it): a hit while one is open links the alarm to it. When the
rule's condition clears (the clearing ``RuleHit``) the ticket records that its condition
is back to normal; a ``resolved`` rule ticket then closes (*verified back to normal*),
and a rule ticket resolved once its condition is already normal closes at once. The same
fault (rule, device, crew) within ``repeat_window_days`` (30) of its last ticket closing
opens a new ticket with ``repeat_of`` = that ticket.

A hit with nothing to write (the open tickets, ``gateway.tickets.index``, already say
what it would write, e.g. a ``device.offline`` whose crews come after 30 minutes) costs
no transaction; :meth:`Intake.on_hits` writes a flood's other hits in transactions of
``INTAKE_BATCH``.

**Tickets from people** (:meth:`Intake.create`): routed by category (see
``gateway.tickets.model``). A repair request must name a device of the site (else
:class:`Invalid`).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

from gateway.errors import Invalid
from gateway.people.audit import Audit, audit_detail
from gateway.site import Site
from gateway.store import journal as jr
from gateway.tickets.index import OpenTickets
from gateway.tickets.lifecycle import Lifecycle
from gateway.tickets.links import AlarmLink, AlarmView
from gateway.tickets.model import (
    CATEGORIES,
    CATEGORY_CREW,
    CHANNEL_STAFF,
    SYSTEM_ACTOR,
    SYSTEM_CREW,
    Ticket,
    TicketDict,
)
from gateway.tickets.store import TicketTx
from rules.model import RuleHit, RuleSpec
from rules.vocab import PRIORITIES, TicketCategory, TicketSource, TicketStatus

log = logging.getLogger(__name__)
R = TypeVar("R")
_Op = Callable[[TicketTx], list[TicketDict]]
#: hits with something to write per transaction of :meth:`Intake.on_hits`
INTAKE_BATCH = 100
#: delayed dispatches opened per tick at most (the rest at the next ticks), and the
#: time their transaction should take (its size is learned from the last ones)
DUE_MAX = 50
DUE_TARGET_S = 0.025
#: the active alarms are walked for delayed crews at least this often (a safety net)
WALK_EVERY_MS = 60_000


def _hit_of(a: AlarmView) -> RuleHit:
    """The hit a delayed crew's ticket is opened from: its alarm's."""
    return RuleHit(
        rule=a.rule,
        site=a.site,
        system=a.system or "",
        device=a.device,
        point=a.point or None,
        active=True,
        ts_ms=a.source_ts_ms,
        value=a.value,
        zone=a.zone,
        message=a.message,
    )


def _all(ops: Sequence[_Op]) -> _Op:
    """One operation doing ``ops`` in order."""
    return lambda ttx: [t for op in ops for t in op(ttx)]


class IntakeErrors(Exception):
    """``failed`` hits of :meth:`Intake.on_hits` could not be written (logged); the
    others were: ``tickets``."""

    def __init__(self, failed: int, tickets: list[TicketDict]) -> None:
        super().__init__(f"{failed} hit(s) could not reach their tickets")
        self.failed = failed
        self.tickets = tickets


#: (spec, hit, crew, alarm id, (alarm id, activated at, crew) or None)
_Due = tuple[RuleSpec, RuleHit, str, int | None, tuple[int, int, str] | None]


class Runner(Protocol):
    def __call__(self, op: Callable[[TicketTx], R]) -> R: ...


class Intake:
    """Opens tickets; ``run`` runs an operation in one transaction of the service."""

    def __init__(
        self,
        specs: Mapping[str, RuleSpec],
        site: Site,
        life: Lifecycle,
        run: Runner,
        index: OpenTickets,
        *,
        repeat_window_ms: int,
    ) -> None:
        self._specs = specs
        self.site = site
        self._life = life
        self._run = run
        self._index = index
        self.repeat_window_ms = repeat_window_ms
        # ticket-only rules with a delayed crew: (rule, device, crew) -> hit, since
        self._pending: dict[tuple[str, str, str], tuple[RuleHit, int]] = {}
        # alarm activations whose tickets are settled: (alarm id, activated_at, crew)
        self._dispatched: set[tuple[int, int, str]] = set()
        # delayed crews of active alarms by due time (see _walk), the next walk's time,
        # and the (rule, device, point) cleared since the last walk (their activation ended)
        self._heap: list[tuple[float, int, AlarmView, str]] = []
        self._walk_at = 0
        self._due_per_s = DUE_TARGET_S / 8  # time to open one, learned from the ticks
        self._cleared: dict[tuple[str, str, str], int] = {}

    # ------------------------------------------------------------- rule hits
    def on_hit(self, hit: RuleHit, alarm_id: int | None, now_ms: int) -> list[TicketDict]:
        op = self._plan(hit, alarm_id, now_ms, False)
        return [] if op is None else self._run(op)

    def on_hits(self, hits: Sequence[tuple[RuleHit, int | None]], now_ms: int) -> list[TicketDict]:
        """:meth:`on_hit` of each in order, the hits with something to write in
        transactions of at most ``INTAKE_BATCH``. Once a hit of (rule, device) writes, the
        later ones of that pair in the same call are judged in the transaction (the index
        learns of a write only after its commit). A batch that fails is run again hit by
        hit, so one bad hit stops nothing; :class:`IntakeErrors` then says how many failed."""
        ops: list[_Op] = []
        touched: set[tuple[str, str]] = set()
        for hit, alarm_id in hits:
            key = (hit.rule, hit.device)
            op = self._plan(hit, alarm_id, now_ms, key in touched)
            if op is not None:
                touched.add(key)
                ops.append(op)
        out: list[TicketDict] = []
        failed = 0
        for i in range(0, len(ops), INTAKE_BATCH):
            chunk = ops[i : i + INTAKE_BATCH]
            try:
                out += self._run(_all(chunk))
                continue
            except Exception:  # noqa: BLE001 - one by one below
                if len(chunk) == 1:
                    failed += 1
                    log.exception("cannot dispatch tickets for a hit")
                    continue
                log.exception("a batch of %d ticket hits failed; one by one", len(chunk))
            for op in chunk:
                try:
                    out += self._run(op)
                except Exception:  # noqa: BLE001
                    failed += 1
                    log.exception("cannot dispatch tickets for a hit")
        if failed:
            raise IntakeErrors(failed, out)
        return out

    def _plan(self, hit: RuleHit, alarm_id: int | None, now_ms: int, force: bool) -> _Op | None:
        """What ``hit`` writes, as an operation for one transaction, or ``None`` when the
        open tickets (the index) show it has nothing to write (``force``: ask the
        database anyway). The in-memory part (pending delayed crews) is done here."""
        spec = self._specs.get(hit.rule)
        if spec is None:
            return None
        crews = spec.crews_for(hit.system)
        if not crews:
            return None
        ticket_only = spec.raises == "ticket"
        if hit.active:
            now_crews = [c.crew for c in crews if c.after_s <= 0]
            if not ticket_only:  # a new activation's delayed crews: walk when they are due
                for c in crews:
                    if c.after_s > 0:
                        self._walk_at = min(self._walk_at, now_ms + round(c.after_s * 1000))
            if ticket_only:
                for c in crews:
                    if c.after_s > 0:
                        self._pending.setdefault((hit.rule, hit.device, c.crew), (hit, now_ms))
            if not force and self._settled(hit.rule, hit.device, True, now_crews, alarm_id):
                return None

            def op(ttx: TicketTx) -> list[TicketDict]:
                out = self.condition(ttx, hit.rule, hit.device, True)
                for crew in now_crews:
                    t = self._open_for_rule(ttx, spec, hit, crew, alarm_id)
                    if t is not None:
                        out.append(t)
                return out

            return op
        self._cleared[(hit.rule, hit.device, hit.point or "")] = now_ms
        if self._pending:
            for key in [k for k in self._pending if k[0] == hit.rule and k[1] == hit.device]:
                del self._pending[key]
        if not ticket_only and self._life.alarm_active(hit.rule, hit.device):
            return None  # another point of the rule is still active on the device
        if not force and self._settled(hit.rule, hit.device, False, (), None):
            return None
        return lambda ttx: self.condition(ttx, hit.rule, hit.device, False)

    def _settled(
        self, rule: str, device: str, active: bool, crews: Sequence[str], alarm_id: int | None
    ) -> bool:
        """Whether the open tickets of (rule, device) already say ``active`` and each of
        ``crews`` has its open ticket, linked to ``alarm_id``: nothing to write."""
        have = self._index.of(rule, device)
        if any(t.condition_active != active for t in have):
            return False
        by_crew = {t.crew: t for t in have}
        for crew in crews:
            t = by_crew.get(crew)
            if t is None or (alarm_id is not None and t.alarm_id != alarm_id):
                return False
        return True

    def condition(self, ttx: TicketTx, rule: str, device: str, active: bool) -> list[TicketDict]:
        """Record on the open tickets of (rule, device) that the condition is active or
        back to normal; a resolved ticket whose condition is back to normal closes."""
        out = []
        for old in ttx.open_of(rule, device):
            if old.condition_active == active:
                continue
            new = ttx.edit(old)
            new.condition_active = active
            new.condition_cleared_at_ms = None if active else ttx.now
            action = "condition_active" if active else "condition_normal"
            ttx.log(
                new,
                action,
                reason="the rule's condition is active again"
                if active
                else "the rule's condition is back to normal",
            )
            if not active and new.status == TicketStatus.RESOLVED:
                self._life.close_verified(ttx, new)
            ttx.save(old, new, action)
            out.append(new.public())
        return out

    def _open_for_rule(
        self, ttx: TicketTx, spec: RuleSpec, hit: RuleHit, crew: str, alarm_id: int | None
    ) -> TicketDict | None:
        """The open ticket of (rule, device, crew), created (and dispatched) if none."""
        existing = ttx.open_for(hit.rule, hit.device, crew)
        if existing is not None:
            if alarm_id is None or existing.alarm_id == alarm_id:
                return None
            new = ttx.edit(existing)
            new.alarm_id = alarm_id
            ttx.log(new, "alarm_linked", detail={"alarm_id": alarm_id})
            ttx.save(existing, new, "alarm_linked")
            ttx.links.append((alarm_id, existing.tid))
            return new.public()
        prev = ttx.last_closed(hit.rule, hit.device, crew, ttx.now - self.repeat_window_ms)
        system = hit.system or spec.system
        dev = self.site.device(hit.device)
        t = self._life.new(
            ttx,
            title=hit.message or spec.message or f"{spec.id} on {hit.device}",
            description=spec.action or None,
            category=TicketCategory.SECURITY if crew == "security" else TicketCategory.REPAIR,
            priority=spec.priority_for(system),
            source=TicketSource.RULE,
            rule=hit.rule,
            crew=crew,
            device=hit.device,
            system=system,
            zone=hit.zone or (dev.zone if dev else None),
            alarm_id=alarm_id,
            created_by=SYSTEM_ACTOR,
            repeat_of=prev,
            condition_active=True,
        )
        self._life.open(
            ttx,
            t,
            actor=SYSTEM_ACTOR,
            reason=f"rule {hit.rule} on {hit.device}",
            detail={
                "value": jr.json_safe(hit.value),
                "source_ts_ms": hit.ts_ms,
                "point": hit.point,
                "repeat_of": prev,
            },
        )
        if alarm_id is not None:
            ttx.links.append((alarm_id, t.tid))
        return t.public()

    def due_dispatches(self, now: int) -> list[TicketDict]:
        """Delayed crews whose delay has run out on an alarm still active (and ticket-only
        rules' pending crews): in one transaction a tick, as many as the last ones opened
        in ``DUE_TARGET_S`` (at most ``DUE_MAX``): the delayed crews of a whole flood come
        due in the same second; the rest wait for the next ticks, the loop served in
        between."""
        room = max(1, min(DUE_MAX, int(DUE_TARGET_S / self._due_per_s)))
        todo = self._due_on_alarms(now, room)
        todo += self._due_pending(now, room - len(todo))
        if not todo:
            return []

        def op(ttx: TicketTx) -> list[TicketDict]:
            got: list[TicketDict] = []
            for spec, hit, crew, alarm_id, key in todo:
                if key is not None and ttx.dispatched(key[0], crew, key[1]):
                    continue
                ticket = self._open_for_rule(ttx, spec, hit, crew, alarm_id)
                if ticket is not None:
                    got.append(ticket)
            return got

        started = time.perf_counter()
        out = self._run(op)
        per = (time.perf_counter() - started) / len(todo)
        self._due_per_s = 0.5 * self._due_per_s + 0.5 * max(per, 1e-6)
        for item in todo:
            if item[4] is not None:
                self._dispatched.add(item[4])
        return out

    def _due_on_alarms(self, now: int, room: int) -> list[_Due]:
        """At most ``room`` delayed crews due on active alarms, from the heap of due times
        (see :meth:`_walk`): the tick's cost follows what is due, not the active alarms."""
        alarms = self._life.alarms
        if alarms is None:
            return []
        if now >= self._walk_at:
            self._walk(alarms, now)
        todo: list[_Due] = []
        heap = self._heap
        while heap and heap[0][0] <= now and len(todo) < room:
            _, _, a, crew = heapq.heappop(heap)
            assert a.id is not None
            key = (a.id, a.activated_at_ms, crew)
            spec = self._specs.get(a.rule)
            ended = self._cleared.get((a.rule, a.device, a.point or ""), -1)
            if (
                spec is None
                or key in self._dispatched
                or ended >= a.activated_at_ms
                or not alarms.is_active(a.rule, a.device)
            ):
                continue
            todo.append((spec, _hit_of(a), crew, a.id, key))
        return todo

    def _walk(self, alarms: AlarmLink, now: int) -> None:
        """Every crew of every active alarm not dispatched yet, by due time, into the
        heap. Walked at the first tick, when an activation's delay runs out
        (:meth:`_plan` moves ``_walk_at``) and at least every ``WALK_EVERY_MS``."""
        active = alarms.active_alarms()
        live = {a.id for a in active}
        self._dispatched = {k for k in self._dispatched if k[0] in live}
        self._cleared.clear()
        heap: list[tuple[float, int, AlarmView, str]] = []
        for a in active:
            spec = self._specs.get(a.rule)
            if spec is None or a.id is None:
                continue
            for c in spec.crews_for(a.system):
                if (a.id, a.activated_at_ms, c.crew) not in self._dispatched:
                    heap.append((a.activated_at_ms + c.after_s * 1000, len(heap), a, c.crew))
        heapq.heapify(heap)
        self._heap = heap
        self._walk_at = now + WALK_EVERY_MS

    def _due_pending(self, now: int, room: int) -> list[_Due]:
        todo: list[_Due] = []
        for (rule, device, crew), (hit, since) in list(self._pending.items()):
            if len(todo) >= room:
                break
            spec = self._specs.get(rule)
            after = (
                next((c.after_s for c in spec.crews_for(hit.system) if c.crew == crew), 0.0)
                if spec
                else 0.0
            )
            if spec is not None and now >= since + after * 1000:
                del self._pending[(rule, device, crew)]
                todo.append((spec, hit, crew, None, None))
        return todo

    # ------------------------------------------------------------ from people
    def create(
        self,
        *,
        title: str,
        category: str,
        priority: str,
        user: str,
        device: str | None = None,
        description: str | None = None,
        audit: Audit | None = None,
        source: str = TicketSource.PERSON,
        channel: str | None = CHANNEL_STAFF,
        zone: str | None = None,
        repair_crew: str | None = None,
        round_id: int | None = None,
        then: Callable[[TicketTx, Ticket], None] | None = None,
    ) -> TicketDict:
        """A request or complaint raised by a person, routed by category and dispatched.
        :class:`Invalid` for an empty title, unknown category, priority or device, or a
        repair with no device (unless ``repair_crew`` says who takes such a repair: the
        request page's). ``source`` is ``person`` (staff entered it; ``channel`` ``staff``
        or ``phone``), ``portal`` or ``inspection`` (a round's finding: ``round_id``);
        ``then(ttx, ticket)`` runs in the same transaction
        once the ticket is stored (the request page's own row)."""
        if not title or not title.strip():
            raise Invalid("title is required")
        if category not in CATEGORIES:
            raise Invalid(f"unknown category {category!r} (categories: {', '.join(CATEGORIES)})")
        if priority not in PRIORITIES:
            raise Invalid(f"unknown priority {priority!r} (priorities: {', '.join(PRIORITIES)})")
        if not user or not user.strip():
            raise Invalid("user is required")
        dev = None
        if device:
            dev = self.site.device(device)
            if dev is None:
                raise Invalid(f"no device {device!r} at this site")
        if category == TicketCategory.REPAIR and dev is None and repair_crew:
            crew = repair_crew
        elif category == TicketCategory.REPAIR:
            if dev is None:
                raise Invalid(
                    "a repair request names its device (the device's system picks the crew)"
                )
            crew = SYSTEM_CREW[dev.system]
        else:
            crew = CATEGORY_CREW[category]

        def op(ttx: TicketTx) -> TicketDict:
            t: Ticket = self._life.new(
                ttx,
                title=title.strip(),
                description=description,
                category=category,
                priority=priority,
                source=source,
                channel=channel,
                crew=crew,
                device=device or None,
                system=dev.system if dev else None,
                zone=dev.zone if dev else zone,
                created_by=user,
                round_id=round_id,
            )
            self._life.open(ttx, t, actor=user, reason=description, detail=audit_detail(audit))
            if then is not None:
                then(ttx, t)
            return t.public()

        return self._run(op)
