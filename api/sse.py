"""Server-Sent Events framing of the alarm fan-out (``gateway.events.Hub``).

A stream subscribes first, then sends the snapshot (``initial()``), then every change
newer than the snapshot, with a comment line at least every ``HEARTBEAT_S`` seconds; it
ends when the gateway stops or the hub drops the subscriber.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.events import Hub

HEARTBEAT_S = 10.0


async def stream(
    hub: Hub,
    initial: Callable[[], list[tuple[int, dict[str, Any]]]],
    stopping: asyncio.Event,
    heartbeat_s: float | None = None,
) -> AsyncIterator[str]:
    """Yield SSE frames: ``initial()`` first, then live changes, heartbeats between
    (every ``heartbeat_s``, default the module's ``HEARTBEAT_S`` read at call time)."""
    if heartbeat_s is None:
        heartbeat_s = HEARTBEAT_S
    sub = hub.subscribe()  # subscribe before the snapshot: nothing falls in between
    try:
        yield "retry: 2000\n\n"
        last = -1
        for seq, alarm in initial():
            last = max(last, seq)
            yield _frame(seq, alarm)
        # one hop per change: a frame is yielded as soon as the queue has it (no task per
        # wait); the end of the stream on shutdown is the None that close_all() puts
        while not stopping.is_set():
            try:
                item = await sub.get(heartbeat_s)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if item is None:
                break
            seq, alarm = item
            if seq <= last:
                continue  # already sent in the snapshot
            sub.delivered(seq)
            yield _frame(seq, alarm)
    finally:
        sub.close()


def _frame(seq: int, alarm: dict[str, Any]) -> str:
    return f"id: {seq}\nevent: alarm\ndata: {json.dumps(alarm, separators=(',', ':'))}\n\n"
