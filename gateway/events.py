"""The event fan-out: alarm changes to every live subscriber (the SSE streams).

Lifecycle: the composition root makes one :class:`Hub` per site and subscribes it to the
alarm service; each HTTP stream takes a :class:`Subscription` (``hub.subscribe()``), reads
changes from it and closes it when the client goes. :meth:`Hub.close_all` ends every
subscription on shutdown. The HTTP layer only frames what it reads (``api.sse``).

Runs on the event loop only. Bounded: a subscriber that falls ``CLIENT_QUEUE`` changes
behind is dropped (its stream ends; the browser reconnects with ``Last-Event-ID`` and is
sent a fresh snapshot), so one slow client never holds memory or the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

CLIENT_QUEUE = 2000

Change = tuple[int, dict[str, Any]]


class Subscription:
    """One subscriber's queue of ``(seq, alarm)`` changes; ``None`` marks its end."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(CLIENT_QUEUE)

    async def get(self, timeout_s: float) -> Change | None:
        """The next change; ``None`` when the subscription ended; ``TimeoutError`` when
        nothing came within ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            return await self.queue.get()

    def more(self, limit: int) -> list[Change | None]:
        """Up to ``limit`` changes that wait already (never waits; a flood's changes are
        framed and sent together, one write for many)."""
        q = self.queue
        out: list[Change | None] = []
        while len(out) < limit and not q.empty():
            out.append(q.get_nowait())
        return out

    def delivered(self, seq: int) -> None:
        """The change ``seq`` was handed to the client (for the publish-to-frame delay)."""
        self._hub.delivered(seq)

    def end(self) -> None:
        q = self.queue
        while not q.empty():  # make room for the end marker
            q.get_nowait()
        q.put_nowait(None)

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    def __init__(self, on_delay: Callable[[float], None] | None = None) -> None:
        self._subs: set[Subscription] = set()
        # seconds from publish() to the frame handed to the HTTP server, per client
        self.on_delay = on_delay
        self._published_at: dict[int, float] = {}

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, seq: int, alarm: dict[str, Any]) -> None:
        if self.on_delay is not None and self._subs:
            self._published_at[seq] = time.monotonic()
            if len(self._published_at) > 4 * CLIENT_QUEUE:
                for old in sorted(self._published_at)[:CLIENT_QUEUE]:
                    del self._published_at[old]
        for sub in list(self._subs):
            try:
                sub.queue.put_nowait((seq, alarm))
            except asyncio.QueueFull:
                self._subs.discard(sub)
                sub.end()

    def delivered(self, seq: int) -> None:
        at = self._published_at.get(seq)
        if at is not None and self.on_delay is not None:
            self.on_delay(time.monotonic() - at)

    def close_all(self) -> None:
        for sub in list(self._subs):
            self._subs.discard(sub)
            sub.end()

    @property
    def clients(self) -> int:
        return len(self._subs)
