"""The alarm lifecycle (ISA-18.2 / IEC 62682 / EEMUA 191): what each rule hit and each
operator action changes. Every step reads the cache and returns an
:class:`~gateway.alarms.changes.AlarmChanges` (nothing is written here).

- One open (not ``closed``) alarm per (rule, device, point): a repeat while it is open
  updates it (``value``, ``source_ts``, ``count``).
- Event alarms whose rule ``clears_on_ack`` close when acknowledged.
- Shelving: timed (at most ``max_shelve_minutes``), one-shot (ends when the alarm
  clears), ended by the tick when it expires (``gateway.alarms.timers``).
- Chattering: ``chatter_count`` (3) activations of one (rule, device, point) within
  ``chatter_window_s`` (60 s) mark the alarm ``chattering``; it is no longer
  re-announced (listeners still get each change, flagged) until ``chatter_quiet_s`` pass
  with no activation.
- ``critical`` alarms are never shelved, suppressed, put out of service or marked
  chattering.

An *activation* is a transition into alarm (journal actions ``raise`` and
``reactivate``); a repeat on an alarm that is still active (journal ``repeat``) updates
it but is not an activation. KPIs and chattering count activations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.alarms.cache import AlarmCache
from gateway.alarms.changes import AlarmChanges
from gateway.alarms.masks import Masks
from gateway.alarms.model import UNACKED_STATES, Alarm, Key, unshelve
from gateway.clock import iso_ms
from gateway.errors import Conflict
from gateway.people.audit import Audit, audit_detail
from gateway.store import journal as jr
from rules.model import RuleHit, RuleSpec
from rules.vocab import AlarmState, Priority

_MINUTE_MS = 60_000
S = AlarmState


class Lifecycle:
    """Steps of the alarms in ``cache``; ``zone_of`` finds a device's zone."""

    def __init__(
        self,
        cache: AlarmCache,
        masks: Masks,
        zone_of: Callable[[str], str | None],
        *,
        chatter_count: int,
        chatter_window_ms: int,
    ) -> None:
        self._cache = cache
        self._masks = masks
        self._zone_of = zone_of
        self.chatter_count = chatter_count
        self.chatter_window_ms = chatter_window_ms

    # --------------------------------------------------------------- rule hits
    def raise_(
        self, hit: RuleHit, spec: RuleSpec, key: Key, now: int
    ) -> tuple[AlarmChanges, tuple[Alarm, bool]]:
        """Raise ``key``'s alarm, or update the open one; the alarm and whether this
        was an activation."""
        work = AlarmChanges(now)
        cur = self._cache.open.get(key)
        priority = spec.priority_for(hit.system)
        activation = cur is None or cur.state == S.CLEARED_UNACKED
        since = now - self.chatter_window_ms
        activations = 1 + sum(1 for t in self._cache.window(key) if t > since)
        chatter = activation and priority != Priority.CRITICAL and activations >= self.chatter_count
        value = jr.json_safe(hit.value)
        if cur is None:
            new = work.create(self._new(hit, spec, priority, value, now))
            change = "raise"
        else:
            new = work.edit(cur)
            change = self._repeat(new, cur, hit, value, now)
        detail: dict[str, Any] = {"value": value, "source_ts_ms": hit.ts_ms, "count": new.count}
        if hit.context:
            detail["context"] = dict(hit.context)
        work.log(new, change, reason=hit.message or None, detail=detail)
        if chatter and not new.chattering:
            new.chattering = True
            work.log(
                new,
                "chattering",
                reason=f"{activations} activations within {self.chatter_window_ms // 1000} s",
                detail={"activations": activations},
            )
        self._masks.out_of_service(work, new)
        self._masks.suppressed(work, new)
        self._masks.suppressor_changed(work, cur, new)
        work.emit(new, change, change != "repeat" and not new.masked)
        return work, (new, activation)

    def _new(self, hit: RuleHit, spec: RuleSpec, priority: str, value: Any, now: int) -> Alarm:
        return Alarm(
            rule=hit.rule,
            site=hit.site,
            system=hit.system,
            device=hit.device,
            point=hit.point or "",
            zone=hit.zone or self._zone_of(hit.device),
            priority=priority,
            state=S.ACTIVE_UNACKED,
            raised_at_ms=now,
            activated_at_ms=now,
            source_ts_ms=hit.ts_ms,
            last_hit_ms=now,
            last_announced_ms=now,
            updated_at_ms=now,
            value=value,
            message=hit.message or spec.message,
            action=spec.action,
            cause=spec.cause,
            consequence=spec.consequence,
            message_zh=hit.message_zh or spec.message_zh,
            action_zh=spec.action_zh,
            cause_zh=spec.cause_zh,
            consequence_zh=spec.consequence_zh,
            **_fdd(hit),
        )

    @staticmethod
    def _repeat(new: Alarm, cur: Alarm, hit: RuleHit, value: Any, now: int) -> str:
        """A hit on an open alarm: ``repeat`` while active, ``reactivate`` once cleared."""
        new.count += 1
        if hit.ts_ms >= cur.source_ts_ms:
            new.value = value
            new.source_ts_ms = hit.ts_ms
            if hit.message:
                new.message = hit.message
            if hit.message_zh:
                new.message_zh = hit.message_zh
            for name, v in _fdd(hit).items():
                setattr(new, name, v)
        if cur.state != S.CLEARED_UNACKED:
            return "repeat"
        new.state = S.ACTIVE_UNACKED
        new.cleared_at_ms = None
        new.activated_at_ms = now
        new.last_hit_ms = now
        new.last_announced_ms = now
        new.escalations = 0
        return "reactivate"

    def clear(self, hit: RuleHit, key: Key, now: int) -> tuple[AlarmChanges, Alarm | None]:
        """The condition of ``key`` is back to normal: ``active_acked`` closes,
        ``active_unacked`` waits for its acknowledgement as ``cleared_unacked``."""
        work = AlarmChanges(now)
        cur = self._cache.open.get(key)
        if cur is None or cur.state == S.CLEARED_UNACKED:
            return work, cur
        new = work.edit(cur)
        new.cleared_at_ms = now
        if cur.state == S.ACTIVE_ACKED:
            new.state = S.CLOSED
            new.closed_at_ms = now
        else:
            new.state = S.CLEARED_UNACKED
        if new.shelved:  # a shelve is one-shot: it ends when the alarm clears
            unshelve(new)
            work.log(new, "unshelve", reason="alarm cleared (one-shot shelve)")
        detail = {"value": jr.json_safe(hit.value), "source_ts_ms": hit.ts_ms}
        work.log(new, "clear", reason=hit.message or None, detail=detail)
        self._masks.suppressor_changed(work, cur, new)
        work.emit(new, "close" if new.state == S.CLOSED else "clear", False)
        return work, new

    # --------------------------------------------------------- operator actions
    def ack(
        self,
        cur: Alarm,
        spec: RuleSpec | None,
        user: str,
        note: str | None,
        now: int,
        audit: Audit | None = None,
    ) -> tuple[AlarmChanges, Alarm]:
        if cur.state not in UNACKED_STATES:
            raise Conflict(f"alarm {cur.id} is {cur.state}: nothing to acknowledge")
        work = AlarmChanges(now)
        new = work.edit(cur)
        new.acked_at_ms = now
        new.acked_by = user
        detail: dict[str, Any] = {"from": cur.state}
        if cur.state == S.CLEARED_UNACKED or (spec is not None and spec.clears_on_ack):
            if cur.state == S.ACTIVE_UNACKED:
                new.cleared_at_ms = now
                detail["clears_on_ack"] = True
            new.state = S.CLOSED
            new.closed_at_ms = now
            if new.shelved:
                unshelve(new)
        else:
            new.state = S.ACTIVE_ACKED
        work.log(new, "ack", actor=user, reason=note or None, detail=audit_detail(audit, detail))
        self._masks.suppressor_changed(work, cur, new)
        work.emit(new, "ack", False)
        return work, new

    @staticmethod
    def shelve(
        cur: Alarm, user: str, minutes: int, reason: str, now: int, audit: Audit | None = None
    ) -> tuple[AlarmChanges, Alarm]:
        if cur.priority == Priority.CRITICAL:
            raise Conflict(f"alarm {cur.id} is critical: critical alarms are never shelved")
        work = AlarmChanges(now)
        new = work.edit(cur)
        new.shelved = True
        new.shelved_until_ms = now + minutes * _MINUTE_MS
        new.shelved_by = user
        new.shelve_reason = reason
        work.log(
            new,
            "shelve",
            actor=user,
            reason=reason,
            detail=audit_detail(audit, {"minutes": minutes, "until": iso_ms(new.shelved_until_ms)}),
        )
        work.emit(new, "shelve", False)
        return work, new

    @staticmethod
    def unshelve(
        cur: Alarm, user: str, now: int, audit: Audit | None = None
    ) -> tuple[AlarmChanges, Alarm]:
        if not cur.shelved:
            raise Conflict(f"alarm {cur.id} is not shelved")
        work = AlarmChanges(now)
        new = work.edit(cur)
        unshelve(new)
        work.log(new, "unshelve", actor=user, detail=audit_detail(audit))
        work.emit(new, "unshelve", new.state == S.ACTIVE_UNACKED and not new.masked)
        return work, new

    def set_out_of_service(
        self, rule: str, device: str, on: bool, user: str, reason: str | None, now: int
    ) -> tuple[AlarmChanges, list[Alarm]]:
        work = AlarmChanges(now)
        if ((rule, device) in self._cache.oos) == on:
            return work, []
        targets = self._cache.of(rule, device)
        if any(a.priority == Priority.CRITICAL for a in targets):
            raise Conflict(f"{rule} on {device} is critical: never out of service")
        if on:
            work.oos_put.append(
                {
                    "rule": rule,
                    "device": device,
                    "since_ms": now,
                    "by": user,
                    "reason": reason or "",
                }
            )
        else:
            work.oos_drop.append((rule, device))
        action = "out_of_service" if on else "in_service"
        work.log(None, action, actor=user, reason=reason, rule=rule, device=device)
        changed = []
        for cur in targets:
            new = work.edit(cur)
            new.out_of_service = on
            work.log(new, action, actor=user, reason=reason)
            work.emit(new, action, not on and new.state == S.ACTIVE_UNACKED and not new.masked)
            changed.append(new)
        return work, changed

    @staticmethod
    def link_ticket(
        cur: Alarm, ticket_id: int | str, user: str, now: int
    ) -> tuple[AlarmChanges, Alarm]:
        work = AlarmChanges(now)
        if ticket_id in cur.ticket_ids:
            return work, cur
        new = work.edit(cur)
        new.ticket_ids = [*cur.ticket_ids, ticket_id]
        work.log(new, "link_ticket", actor=user, ticket_id=ticket_id)
        work.emit(new, "ticket", False)
        return work, new


def _fdd(hit: RuleHit) -> dict[str, Any]:
    """A fault-detection hit's operating mode and estimated wasted power (from its
    context), for the alarm; nothing for other rules."""
    out: dict[str, Any] = {}
    mode = hit.context.get("mode")
    if isinstance(mode, str):
        out["mode"] = mode[:32]
    waste = hit.context.get("waste_kw")
    if isinstance(waste, int | float) and not isinstance(waste, bool):
        out["waste_kw"] = round(float(waste), 3)
    return out
