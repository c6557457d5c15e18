"""Retry with backoff: one rule for every loop that tries again after a failure.

The MQTT link's reconnects (:mod:`gateway.mqtt`), the sinks' write retries
(:mod:`gateway.sinks.base`) and the outbox's deliveries (:mod:`gateway.outbox`) all wait the
same way: exponential backoff with *full jitter* (the wait is drawn uniformly from
``[0, ceiling)``, which spreads many clients that failed together) under a cap.

Lifecycle of a :class:`Backoff`:

1. Built once per retrying loop: ``Backoff(initial_s, max_s)``; its ceiling starts at
   ``initial_s``.
2. After each failure, ``await backoff.wait()`` waits a random time below the ceiling,
   then doubles the ceiling (``factor``) up to ``max_s``; a caller that logs the wait
   first splits it in two: ``delay = backoff.next_delay()``, then
   ``await backoff.sleep(delay)``. A server's ``Retry-After`` hint, passed as ``at_least``,
   lengthens the wait (never beyond ``max_s``).
3. After a success, ``backoff.reset()``: the next failure starts again from ``initial_s``.

Waits are real (monotonic) time, never the gateway :class:`~gateway.clock.Clock`: a test
that drives the gateway clock must not stall a retry. Tests inject ``rand`` (a function
returning a float in ``[0, 1)``) and ``sleep`` (an async function of seconds) instead.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with full jitter, a cap, and reset on success."""

    __slots__ = ("initial_s", "max_s", "factor", "attempts", "_ceiling", "_rand", "_sleep")

    def __init__(
        self,
        initial_s: float,
        max_s: float,
        *,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if initial_s <= 0 or factor < 1:
            raise ValueError("a backoff needs initial_s > 0 and factor >= 1")
        self.initial_s = float(initial_s)
        self.max_s = max(float(max_s), self.initial_s)
        self.factor = float(factor)
        self.attempts = 0
        """Failures since the last :meth:`reset` (what the logs call the retry number)."""
        self._ceiling = self.initial_s
        self._rand = rand
        self._sleep = sleep

    @property
    def ceiling(self) -> float:
        """The longest the next wait can be."""
        return self._ceiling

    def next_delay(self, at_least: float | None = None) -> float:
        """The wait after one more failure; the ceiling grows for the failure after it."""
        delay = self._rand() * self._ceiling
        if at_least is not None and at_least > 0:
            delay = max(delay, min(float(at_least), self.max_s))
        self.attempts += 1
        self._ceiling = min(self.max_s, self._ceiling * self.factor)
        return delay

    async def sleep(self, delay: float) -> None:
        """Sleep ``delay`` seconds (from :meth:`next_delay`) on the injected sleep."""
        await self._sleep(delay)

    async def wait(self, at_least: float | None = None) -> float:
        """Sleep :meth:`next_delay` seconds; returns how long it slept."""
        delay = self.next_delay(at_least)
        await self._sleep(delay)
        return delay

    def reset(self) -> None:
        """A success: the next failure waits at most ``initial_s`` again."""
        self.attempts = 0
        self._ceiling = self.initial_s
