"""Time-driven alarm work, done by the service's tick (every few seconds).

- A timed shelve ends when it expires (``unshelve``, announced if the alarm is still
  unacknowledged and nothing else masks it).
- A ``critical`` alarm left unacknowledged ``critical_reannounce_s`` (60 s) is announced
  again and escalated (journaled ``escalate``), again every 60 s until acked.
- ``chattering`` lifts once ``chatter_quiet_s`` pass with no activation.

:meth:`Timers.due` answers without touching the database, and :meth:`Timers.due_keys`
looks only at the alarms the cache marks as timed (``AlarmCache.timed``), so an idle tick
costs nothing, also with 30,000 open alarms of a flood.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.alarms.changes import AlarmChanges
from gateway.alarms.model import UNACKED_STATES, Alarm, Key, unshelve
from rules.vocab import AlarmState, Priority


class Timers:
    """Shelve expiry, re-announcement of critical alarms, end of chattering."""

    def __init__(self, *, reannounce_ms: int, chatter_quiet_ms: int) -> None:
        self.reannounce_ms = reannounce_ms
        self.chatter_quiet_ms = chatter_quiet_ms

    def _expired(self, a: Alarm, now_ms: int) -> bool:
        return a.shelved and a.shelved_until_ms is not None and a.shelved_until_ms <= now_ms

    def _reannounce(self, a: Alarm, now_ms: int) -> bool:
        return (
            a.priority == Priority.CRITICAL
            and a.state in UNACKED_STATES
            and now_ms - a.last_announced_ms >= self.reannounce_ms
        )

    def _quiet(self, a: Alarm, now_ms: int) -> bool:
        return a.chattering and now_ms - a.last_hit_ms >= self.chatter_quiet_ms

    def due(self, a: Alarm, now_ms: int) -> bool:
        """Whether :meth:`tick` has something to do for ``a`` at ``now_ms``."""
        return self._expired(a, now_ms) or self._reannounce(a, now_ms) or self._quiet(a, now_ms)

    def due_keys(self, open_: Mapping[Key, Alarm], timed: Iterable[Key], now_ms: int) -> list[Key]:
        """The keys among ``timed`` (``AlarmCache.timed``: the only open alarms a tick
        may change) whose alarm is due at ``now_ms``: O(those), not O(open alarms)."""
        return [k for k in timed if (a := open_.get(k)) is not None and self.due(a, now_ms)]

    def tick_keys(
        self, open_: Mapping[Key, Alarm], keys: Iterable[Key], now_ms: int
    ) -> AlarmChanges:
        """:meth:`tick` of the open alarms of ``keys`` (read from ``open_`` now)."""
        return self.tick([a for k in keys if (a := open_.get(k)) is not None], now_ms)

    def tick(self, alarms: Iterable[Alarm], now_ms: int) -> AlarmChanges:
        work = AlarmChanges(now_ms)
        for a in list(alarms):
            if self._expired(a, now_ms):
                new = work.edit(a)
                unshelve(new)
                work.log(new, "unshelve", reason="shelve expired")
                work.emit(new, "unshelve", _announce(new))
            if self._reannounce(a, now_ms):
                new = work.edit(a)
                new.escalations += 1
                new.last_announced_ms = now_ms
                unacked_s = (now_ms - a.activated_at_ms) / 1000
                work.log(
                    new,
                    "escalate",
                    reason=f"critical alarm unacknowledged for {unacked_s:.0f} s",
                    detail={"level": new.escalations, "unacked_s": unacked_s},
                )
                work.emit(new, "reannounce", True)
            if self._quiet(a, now_ms):
                new = work.edit(a)
                new.chattering = False
                quiet_s = (now_ms - a.last_hit_ms) / 1000
                work.log(new, "chattering_ended", reason=f"quiet for {quiet_s:.0f} s")
                work.emit(new, "chattering_ended", _announce(new))
        return work


def _announce(a: Alarm) -> bool:
    """An unmasked alarm still unacknowledged and active is announced again."""
    return a.state == AlarmState.ACTIVE_UNACKED and not a.masked
