"""What an alarm service holds in memory: its open alarms, the out-of-service list and
the recent activations of each (rule, device, point).

Loaded from the database when the service starts; changed only after a commit
(:meth:`AlarmCache.take`), so it never holds a change the database refused. Another
service on the same database may change an alarm behind this one's back: the version
check catches that at the next write and the alarm is re-read (:meth:`AlarmCache.put`).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from sqlalchemy.engine import Connection

from gateway.alarms.changes import AlarmChanges
from gateway.alarms.model import UNACKED_STATES as UNACKED
from gateway.alarms.model import Alarm, Key
from gateway.alarms.store import AlarmStore
from rules.vocab import Priority


def timed(a: Alarm) -> bool:
    """Whether the tick may have something to do for ``a`` some time (a superset of
    ``Timers.due`` at any time): shelved, chattering, or critical and unacknowledged."""
    return a.shelved or a.chattering or (a.priority == Priority.CRITICAL and a.state in UNACKED)


class AlarmCache:
    """Open alarms by key and by id, out-of-service pairs, activation windows."""

    __slots__ = ("open", "by_id", "oos", "timed", "_hits", "_window_len")

    def __init__(self, chatter_count: int) -> None:
        self.open: dict[Key, Alarm] = {}
        self.by_id: dict[int, Alarm] = {}
        # keys of the open alarms the tick may have to change (``gateway.alarms.timers``):
        # shelved, chattering or critical and unacknowledged; the tick reads only these,
        # not every open alarm (30,000 in a flood)
        self.timed: set[Key] = set()
        self.oos: dict[tuple[str, str], dict[str, Any]] = {}
        self._hits: dict[Key, deque[int]] = {}
        self._window_len = max(16, chatter_count * 2)

    def put(self, a: Alarm) -> None:
        """Hold ``a`` (its newest version), or forget it once closed."""
        assert a.id is not None
        held = self.open.get(a.key)
        if a.is_open:
            if held is not None and held.id != a.id and held.id is not None:
                self.by_id.pop(held.id, None)
            self.open[a.key] = a
            self.by_id[a.id] = a
            if timed(a):
                self.timed.add(a.key)
            else:
                self.timed.discard(a.key)
        else:
            if held is not None and held.id == a.id:
                del self.open[a.key]
                self.timed.discard(a.key)
            self.by_id.pop(a.id, None)

    def evict(self, key: Key) -> None:
        self.timed.discard(key)
        old = self.open.pop(key, None)
        if old is not None and old.id is not None:
            self.by_id.pop(old.id, None)

    def window(self, key: Key) -> deque[int]:
        """Gateway times of the recent activations of ``key``."""
        w = self._hits.get(key)
        if w is None:
            w = self._hits[key] = deque(maxlen=self._window_len)
        return w

    def load(self, conn: Connection, since_ms: int) -> None:
        """Fill from the database: the open alarms, the out-of-service pairs and the
        activations after ``since_ms``."""
        for a in AlarmStore.open_alarms(conn):
            self.put(a)
        for row in AlarmStore.out_of_service(conn):
            self.oos[(row["rule"], row["device"])] = row
        for at_ms, key in AlarmStore.activations(conn, since_ms):
            self.window(key).append(at_ms)

    def of(self, rule: str, device: str) -> list[Alarm]:
        """The open alarms of (rule, device), every point."""
        return [a for a in self.open.values() if a.rule == rule and a.device == device]

    def take(self, work: AlarmChanges) -> None:
        """After commit: the new versions and out-of-service rows of ``work``."""
        for _old, new in work.saves.values():
            self.put(new)
        for key in work.oos_drop:
            self.oos.pop(key, None)
        for oos in work.oos_put:
            self.oos[(oos["rule"], oos["device"])] = oos
