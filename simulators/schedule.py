"""The simulated clock's timetable: which device is due next, and the messages it says.

:class:`Schedule` is the base of :class:`simulators.engine.Simulation` (which sets up its
devices, heap and clock). Lifecycle: every device sits in one heap by the time its model
is next due (:meth:`Schedule._reschedule`; a stale or silent entry is skipped when it comes
up); :meth:`Schedule.generate` pops what is due up to a simulated time, advances each
model and encodes its emissions, with messages queued by scenarios (``_pending``) flushed
in between; the first call starts with every device's retained ``online`` status.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterator
from typing import Any

from .environment import Environment
from .fleet import SimDevice
from .model import EVENT, Emission

Message = tuple[str, bytes, int, bool]
_Routed = tuple[int, str, bytes, int, bool]


class Schedule:
    """The devices' timetable on the simulated clock, and the generator of their messages."""

    devices: list[SimDevice]
    env: Environment
    _now: float
    _started: bool
    _pending: list[_Routed]
    _heap: list[tuple[float, int, int]]
    _seq: int

    # -- scheduling ---------------------------------------------------------------------
    def _reschedule(self, d: SimDevice) -> None:
        t = d.model.next_time()
        if t == d.sched:
            return
        d.sched = t
        if not d.silent and t != math.inf:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, d.index))

    def next_due(self) -> float:
        """Simulated time of the next message (``inf`` if none is scheduled)."""
        if self._pending or not self._started:
            return self._now
        heap = self._heap
        while heap:
            t, _, idx = heap[0]
            d = self.devices[idx]
            if d.silent or t != d.sched:
                heapq.heappop(heap)
                continue
            return t
        return math.inf

    @property
    def now(self) -> float:
        """The simulated time up to which messages have been generated."""
        return self._now

    # -- the generator ------------------------------------------------------------------
    def generate(self, until: float) -> Iterator[Message]:
        """Every message due up to simulated time ``until`` (epoch s), in time order.

        The first call starts with each device's retained ``online`` status. Consume the
        iterator fully: the simulation's state moves forward as it goes.
        """
        for _, topic, payload, qos, retain in self._generate(until):
            yield topic, payload, qos, retain

    def _generate(self, until: float) -> Iterator[_Routed]:
        if not self._started:
            self._started = True
            for d in self.devices:
                yield d.index, d.status_topic, b"online", 1, True
        yield from self._flush()
        heap = self._heap
        env = self.env
        out: list[Emission] = []
        while heap and heap[0][0] <= until:
            t, _, idx = heapq.heappop(heap)
            d = self.devices[idx]
            if d.silent or t != d.sched:
                continue
            if t > self._now:
                self._now = t
            d.sched = math.inf
            out.clear()
            d.model.advance(t, env, out)
            for e in out:
                yield idx, *self._encode(d, e)
            self._reschedule(d)
            if self._pending:
                yield from self._flush()
        if until > self._now:
            self._now = until

    def _flush(self) -> Iterator[_Routed]:
        while self._pending:
            batch, self._pending = self._pending, []
            yield from batch

    def _encode(self, d: SimDevice, e: Emission) -> tuple[str, bytes, int, bool]:
        ts = int(e.t * 1000)
        obj: dict[str, Any]
        if e.kind == EVENT:
            obj = {"ts": ts, **e.body}
            kind = "event"
        elif d.flat:
            obj = {**e.body, "ts": ts}
            kind = "telemetry"
        else:
            obj = {"ts": ts, "values": e.body}
            kind = "telemetry"
        return d.prefix + kind, json.dumps(obj, separators=(",", ":")).encode(), 1, False

    def shutdown_messages(self) -> list[Message]:
        """Retained ``offline`` for every device still talking (a clean stop)."""
        return [(d.status_topic, b"offline", 1, True) for d in self.devices if not d.silent]
