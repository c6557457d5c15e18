"""Fan-out of alarm changes to Server-Sent-Events clients.

The alarm service calls :meth:`Hub.publish` (on the event loop) for every change; each
connected stream has a bounded queue of its own. A client too slow to keep up is cut off
(its queue overflowed): it reconnects with ``Last-Event-ID`` and gets what it missed from
the service's change log, so nothing is lost and nobody holds the others back.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

HEARTBEAT_S = 10.0
CLIENT_QUEUE = 2000


class Hub:
    def __init__(self, on_delay: Callable[[float], None] | None = None) -> None:
        self._clients: set[asyncio.Queue[tuple[int, dict[str, Any]] | None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # seconds from publish() to the frame handed to the HTTP server, per client
        self.on_delay = on_delay
        self._published_at: dict[int, float] = {}

    def publish(self, seq: int, alarm: dict[str, Any]) -> None:
        """Thread-safe: from another thread the change is handed to the loop."""
        loop = self._loop
        if loop is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                loop.call_soon_threadsafe(self._publish, seq, alarm)
                return
        self._publish(seq, alarm)

    def _publish(self, seq: int, alarm: dict[str, Any]) -> None:
        if self.on_delay is not None and self._clients:
            self._published_at[seq] = time.monotonic()
            if len(self._published_at) > 4 * CLIENT_QUEUE:
                for old in sorted(self._published_at)[: CLIENT_QUEUE]:
                    del self._published_at[old]
        for q in list(self._clients):
            try:
                q.put_nowait((seq, alarm))
            except asyncio.QueueFull:
                self._clients.discard(q)
                q._queue.clear()  # type: ignore[attr-defined]  # noqa: SLF001 - make room for the end marker
                q.put_nowait(None)

    def close_all(self) -> None:
        for q in list(self._clients):
            self._clients.discard(q)
            try:
                q.put_nowait(None)
            except asyncio.QueueFull:
                q._queue.clear()  # type: ignore[attr-defined]  # noqa: SLF001
                q.put_nowait(None)

    @property
    def clients(self) -> int:
        return len(self._clients)

    async def stream(
        self,
        initial: Callable[[], list[tuple[int, dict[str, Any]]]],
        stopping: asyncio.Event,
        heartbeat_s: float | None = None,
    ) -> AsyncIterator[str]:
        """Yield SSE frames: ``initial()`` first, then live changes, heartbeats between
        (every ``heartbeat_s``, default the module's ``HEARTBEAT_S`` read at call time)."""
        if heartbeat_s is None:
            heartbeat_s = HEARTBEAT_S
        self._loop = asyncio.get_running_loop()
        q: asyncio.Queue[tuple[int, dict[str, Any]] | None] = asyncio.Queue(CLIENT_QUEUE)
        self._clients.add(q)  # subscribe before the snapshot: nothing falls in between
        try:
            yield "retry: 2000\n\n"
            last = -1
            for seq, alarm in initial():
                last = max(last, seq)
                yield _frame(seq, alarm)
            # one hop per change: a frame is yielded as soon as the queue has it (no task
            # per wait); the end of the stream on shutdown is the None close_all() puts
            while not stopping.is_set():
                try:
                    async with asyncio.timeout(heartbeat_s):
                        item = await q.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if item is None:
                    break
                seq, alarm = item
                if seq <= last:
                    continue  # already sent in the snapshot
                at = self._published_at.get(seq)
                if at is not None and self.on_delay is not None:
                    self.on_delay(time.monotonic() - at)
                yield _frame(seq, alarm)
        finally:
            self._clients.discard(q)


def _frame(seq: int, alarm: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: alarm\ndata: {json.dumps(alarm, separators=(',', ':'))}\n\n"
