"""Crews told where they are: who hears of a ticket change, and through what.

Life of a notification::

    ticket change (its transaction) ──> Notifier.on_ticket ──> per person, per channel:
        outbox row  email:<address>   (delivered by aiosmtplib, retried, in order, once)
        outbox row  chat:<kind>:<id>  (the group webhook, the vendor's JSON format)
        notifications row             (the phone page shows it while open)

**Who**: a new ticket, one assigned or reassigned (``assign``, ``transition:assigned``)
and one whose clock is breached tell its assignee, or every member of its crew while it is
unassigned; an escalation also tells the person escalated to (the crew lead, then the
site manager, when they are users). A complaint's written reply is e-mailed to the
complainant when they left an e-mail address on the request page. Each person's channels
come from their profile (``gateway.notify.profiles``); the same e-mail address or group
webhook gets one message per change however many of its people are told.

**Critical alarms**: :meth:`Notifier.tick` finds critical alarms still unacknowledged 60 s
after they became active and tells the leads of the crews the rule dispatches to and the
site manager, once per alarm (``alarm_notices`` keeps it across restarts). It walks the
active alarms only when one may be due (the first tick; the earliest 60 s still running;
60 s after a change of a critical alarm, heard from the alarm service's listeners; at
least once a minute), so 30,000 active offline alarms cost the tick nothing each second.

**Limits**: at most ``per_hour`` notifications per person in any hour (a sliding window;
more are dropped and counted in :attr:`Notifier.suppressed`), except critical alarms.
Messages carry the ticket's number, title, zone, priority, status, due time and
assignee, and the page's link: never a password, token, progress link or webhook URL, nor
the free text a person typed.

Everything here runs inside the caller's transaction or its own short one, on the event
loop (no awaits).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock, iso_ms
from gateway.notify.chat import Notice, chat_body
from gateway.notify.delivery import EMAIL_PREFIX, chat_dest
from gateway.notify.profiles import EMAIL_RE, Profiles
from gateway.outbox import Outbox
from gateway.requests.limits import SlidingWindow
from gateway.store import models as m
from gateway.store.db import reader
from gateway.tickets.model import Ticket
from rules.model import RuleSpec
from rules.site import Site
from rules.vocab import AlarmState, Priority, TicketCategory

log = logging.getLogger(__name__)

#: the changes that notify, most important first
EVENTS: tuple[str, ...] = ("breach", "escalate", "transition:assigned", "assign", "create")
LABELS: Mapping[str, str] = {
    "create": "New ticket 新工单",
    "assign": "Assigned 已派单",
    "transition:assigned": "Assigned 已派单",
    "escalate": "Escalated 已升级",
    "breach": "Overdue 已超时",
}
CRITICAL_LABEL = "CRITICAL alarm unacknowledged 紧急报警未确认"
CRITICAL_UNACKED_MS = 60_000
FEED_KEEP_MS = 7 * 24 * 3600 * 1000
FEED_PRUNE_EVERY_MS = 3600 * 1000
#: the active alarms are walked at least this often (a safety net); else only when a
#: critical alarm's 60 s may have run out (:meth:`Notifier.tick`)
WALK_EVERY_MS = 60_000


class Notifier:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        site: Site,
        profiles: Profiles,
        outbox: Outbox | None,
        *,
        site_id: str | None = None,
        specs: Mapping[str, RuleSpec] | None = None,
        alarms: Any = None,
        per_hour: int = 20,
        link_base: str = "",
    ) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._clock = clock
        self.site = site
        self.site_id = site_id or site.site
        self.profiles = profiles
        self.outbox = outbox
        self.specs = dict(specs or {})
        self.alarms = alarms
        self.limiter = SlidingWindow(per_hour, 3600.0, 50_000)
        self.link_base = link_base.rstrip("/")
        self.suppressed = 0
        self.queued = 0
        self._noticed: set[int] = set()
        self._pruned_at = 0
        # the next walk of the active alarms (0: at the first tick); the alarm service's
        # changes move it (``_on_alarm``) once the notifier listens to them
        self._walk_at = 0
        self._watching = False

    def _watch(self) -> None:
        subscribe = getattr(self.alarms, "subscribe", None)
        if not self._watching and subscribe is not None:
            subscribe(self._on_alarm)
            self._watching = True

    def _on_alarm(self, _seq: int, a: Mapping[str, Any]) -> None:
        """A committed alarm change: a critical one unacknowledged may be due in 60 s."""
        if a.get("priority") == Priority.CRITICAL and a.get("state") == AlarmState.ACTIVE_UNACKED:
            self._walk_at = min(self._walk_at, self._clock.now_ms() + CRITICAL_UNACKED_MS)

    # --------------------------------------------------------------- tickets
    def on_ticket(self, conn: Connection, t: Ticket, changes: Sequence[str], now_ms: int) -> None:
        event = next((e for e in EVENTS if e in changes), None)
        if event is not None:
            people = self._people_of(t, event)
            self._send(conn, people, self._ticket_notice(t, event), now_ms, limited=True)
        if "reply" in changes and t.category == TicketCategory.COMPLAINT:
            self._reply_to_complainant(conn, t, now_ms)

    def _people_of(self, t: Ticket, event: str) -> list[str]:
        if t.assignee:
            out = [t.assignee]
        else:
            crew = self.site.crew(t.crew)
            out = [mb.id for mb in crew.members] if crew is not None else []
        if event == "escalate" and t.escalated_to and t.escalated_to not in out:
            out.append(t.escalated_to)
        return out

    def _link(self, what: str) -> str | None:
        return f"{self.link_base}/#/{what}" if self.link_base else None

    def _ticket_notice(self, t: Ticket, event: str) -> Notice:
        zone = t.zone or "-"
        if event == "escalate" and max(t.escalations.values(), default=0) >= 2:
            event = "breach"  # escalated to the site manager: a clock ran out
        return Notice(
            title=f"[{self.site_id}] {LABELS[event]} #{t.id}: {t.title}"[:200],
            lines=(
                f"Zone 区域: {zone}",
                f"Priority 优先级: {t.priority} · Status 状态: {t.status}",
                f"Resolve by 完成时限: {iso_ms(t.resolve_by_ms)}",
                f"Assignee 处理人: {t.assignee or '-'} · Crew 班组: {t.crew}",
            ),
            link=self._link(f"tickets/{t.id}"),
            ticket_id=t.id,
        )

    def _reply_to_complainant(self, conn: Connection, t: Ticket, now_ms: int) -> None:
        pr = m.portal_requests
        contact = conn.execute(sa.select(pr.c.contact).where(pr.c.ticket_id == t.id)).scalar()
        if not contact or not EMAIL_RE.match(str(contact)) or not t.reply:
            return
        if self.outbox is None or not self.limiter_ok(f"contact:{contact}", now_ms):
            return
        subject = f"[{self.site.name}] Reply to your complaint 投诉回复"
        text = f"{t.reply.get('text', '')}\n\n-- {self.site.name}"
        self._row(
            conn, EMAIL_PREFIX + str(contact), "", {"subject": subject, "text": text}, t.id, now_ms
        )

    # ------------------------------------------------------------ the sending
    def limiter_ok(self, key: str, now_ms: int) -> bool:
        now = now_ms / 1000
        if self.limiter.retry_after(key, now):
            self.suppressed += 1
            log.info("notification to %s dropped: over the hourly limit", key)
            return False
        self.limiter.hit(key, now)
        return True

    def _send(
        self,
        conn: Connection,
        people: Iterable[str],
        n: Notice,
        now_ms: int,
        *,
        limited: bool,
    ) -> None:
        users = [u for u in dict.fromkeys(people) if u]
        profiles = self.profiles.many(users, conn)
        seen: set[str] = set()
        for user in users:
            p = profiles.get(user)
            if p is None or p.empty:
                continue
            if limited and not self.limiter_ok(user, now_ms):
                continue
            if p.browser:
                conn.execute(
                    sa.insert(m.notifications).values(
                        user_id=user,
                        at_ms=now_ms,
                        title=n.title[:256],
                        body="\n".join(n.lines),
                        ticket_id=n.ticket_id,
                        alarm_id=n.alarm_id,
                    )
                )
            if self.outbox is None:
                continue
            if p.email and EMAIL_PREFIX + p.email not in seen:
                seen.add(EMAIL_PREFIX + p.email)
                payload = {"subject": n.title, "text": n.text()}
                self._row(conn, EMAIL_PREFIX + p.email, "", payload, n.ticket_id, now_ms)
            for kind, url in p.chats:
                dest = chat_dest(kind, url)
                if dest in seen:
                    continue
                seen.add(dest)
                self._row(conn, dest, url, chat_body(kind, n), n.ticket_id, now_ms)

    def _row(
        self,
        conn: Connection,
        dest: str,
        topic: str,
        payload: Mapping[str, Any],
        ticket_id: int | None,
        now_ms: int,
    ) -> None:
        assert self.outbox is not None
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        self.outbox.add_row(
            conn, dest=dest, topic=topic, payload=body, ticket_id=ticket_id, now_ms=now_ms
        )
        self.queued += 1

    # ------------------------------------------------------------------ time
    def tick(self, now_ms: int) -> int:
        """Critical alarms unacknowledged for 60 s: tell the leads and the site manager
        (once per alarm). Also drops the browser feed's old rows once an hour. Returns the
        alarms announced."""
        if now_ms - self._pruned_at >= FEED_PRUNE_EVERY_MS:
            self._pruned_at = now_ms
            with self._engine.begin() as conn:
                conn.execute(
                    sa.delete(m.notifications).where(
                        m.notifications.c.at_ms < now_ms - FEED_KEEP_MS
                    )
                )
        if self.alarms is None:
            return 0
        self._watch()
        if now_ms < self._walk_at:
            return 0  # no critical alarm can be due yet: the active alarms are not walked
        due: list[Any] = []
        next_at = now_ms + (WALK_EVERY_MS if self._watching else 0)
        live: set[int] = set()
        for a in self.alarms.active_alarms():
            if a.priority != Priority.CRITICAL or a.id is None:
                continue
            live.add(a.id)
            if a.state != AlarmState.ACTIVE_UNACKED or a.id in self._noticed:
                continue
            at = a.activated_at_ms + CRITICAL_UNACKED_MS
            if now_ms >= at:
                due.append(a)
            else:
                next_at = min(next_at, at)
        self._walk_at = next_at
        self._noticed &= live  # bounded by the active critical alarms
        if not due:
            return 0
        an = m.alarm_notices
        done = 0
        with self._engine.begin() as conn:
            ids = [a.id for a in due]
            old = set(
                conn.execute(sa.select(an.c.alarm_id).where(an.c.alarm_id.in_(ids))).scalars()
            )
            for a in due:
                self._noticed.add(a.id)
                if a.id in old:
                    continue
                conn.execute(sa.insert(an).values(alarm_id=a.id, at_ms=now_ms))
                self._send(conn, self._leads_of(a), self._alarm_notice(a), now_ms, limited=False)
                done += 1
        if done and self.outbox is not None:
            self.outbox.wake()
        return done

    def _leads_of(self, a: Any) -> list[str]:
        out: list[str] = []
        spec = self.specs.get(a.rule)
        for c in spec.crews_for(a.system) if spec is not None else ():
            crew = self.site.crew(c.crew)
            if crew is not None and crew.lead:
                out.append(crew.lead)
        if self.site.site_manager:
            out.append(self.site.site_manager)
        return out

    def _alarm_notice(self, a: Any) -> Notice:
        return Notice(
            title=f"[{self.site_id}] {CRITICAL_LABEL}: {a.message or a.rule}"[:200],
            lines=(
                f"Device 设备: {a.device} · Zone 区域: {a.zone or '-'}",
                f"Active since 报警时间: {iso_ms(a.activated_at_ms)}",
            ),
            link=self._link("control"),
            alarm_id=a.id,
        )

    # ------------------------------------------------------------ the feed
    def feed(self, user: str, after: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """The browser channel's notifications of ``user`` after id ``after``."""
        n = m.notifications
        with self._reader.connect() as conn:
            rows = conn.execute(
                sa.select(n)
                .where(n.c.user_id == user, n.c.id > after)
                .order_by(n.c.id)
                .limit(max(1, min(limit, 200)))
            ).mappings()
            return [
                {
                    "id": r["id"],
                    "at": iso_ms(r["at_ms"]),
                    "title": r["title"],
                    "body": r["body"],
                    "ticket_id": r["ticket_id"],
                    "alarm_id": r["alarm_id"],
                }
                for r in rows
            ]
