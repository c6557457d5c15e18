"""Server-Sent Events framing of the alarm fan-out (``gateway.events.Hub``).

A stream subscribes first, then sends the snapshot (``initial()``), then every change
newer than the snapshot, with a comment line at least every ``HEARTBEAT_S`` seconds; it
ends when the gateway stops or the hub drops the subscriber.

``initial()`` gives ``(seq, data)`` pairs, framed as ``alarm`` events, or ``(seq, data,
event)`` triples for other events (the ``snapshot`` summary of a bounded snapshot). With
``groups`` (a grouped stream, ``gateway.alarms.groups``), a live change of an alarm that
may be grouped makes the stream send a ``groups`` event (the groups now, no ``id``: it
does not move ``Last-Event-ID``) at most once every ``groups_every_s``, so a flood of
30,000 changes costs a client a handful of group updates besides the changes. Changes that
wait together (a flood's batch) are framed and sent as one write of up to ``CHUNK``, the
loop served between writes, so the flood's fan-out costs a send per batch, not per change.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from gateway.events import Hub

HEARTBEAT_S = 10.0
GROUPS_EVERY_S = 1.0
#: changes framed into one write at most (a flood: one send for many, not one each)
CHUNK = 200

Initial = Sequence[tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], str]]


async def stream(
    hub: Hub,
    initial: Callable[[], Initial],
    stopping: asyncio.Event,
    heartbeat_s: float | None = None,
    *,
    groups: Callable[[], list[dict[str, Any]]] | None = None,
    groups_every_s: float = GROUPS_EVERY_S,
) -> AsyncIterator[str]:
    """Yield SSE frames: ``initial()`` first, then live changes, heartbeats between
    (every ``heartbeat_s``, default the module's ``HEARTBEAT_S`` read at call time)."""
    if heartbeat_s is None:
        heartbeat_s = HEARTBEAT_S
    sub = hub.subscribe()  # subscribe before the snapshot: nothing falls in between
    try:
        yield "retry: 2000\n\n"
        last = -1
        for first in initial():
            last = max(last, first[0])
            yield _frame(first[0], first[1], first[2] if len(first) > 2 else "alarm")  # type: ignore[misc]
        sent_groups = time.monotonic()
        dirty = False
        # one hop per change: a frame is yielded as soon as the queue has it (no task per
        # wait); the end of the stream on shutdown is the None that close_all() puts
        while not stopping.is_set():
            wait = heartbeat_s
            if dirty:
                wait = max(0.0, min(wait, sent_groups + groups_every_s - time.monotonic()))
            try:
                item = await sub.get(wait)
                # what waits besides it (a flood): framed together, sent as one write
                items = [item, *sub.more(CHUNK - 1)] if item is not None else [None]
                frames: list[str] = []
                ended = False
                for it in items:
                    if it is None:
                        ended = True
                        break
                    seq, alarm = it
                    if seq <= last:
                        continue  # already sent in the snapshot
                    sub.delivered(seq)
                    frames.append(_frame(seq, alarm))
                    dirty = dirty or (groups is not None and _groupable(alarm))
                if frames:
                    yield "".join(frames)
                if ended:
                    break
                if len(items) >= CHUNK:
                    await asyncio.sleep(0)  # more wait: the loop runs between chunks
            except TimeoutError:
                if not dirty:
                    yield ": keep-alive\n\n"
                    continue  # (else: time for the groups)
            if dirty and groups is not None and time.monotonic() - sent_groups >= groups_every_s:
                dirty = False
                sent_groups = time.monotonic()
                yield _frame(None, {"groups": groups()}, "groups")
    finally:
        sub.close()


def _groupable(alarm: dict[str, Any]) -> bool:
    """Whether a change may move a group (``gateway.alarms.groups.groupable``, on the
    public form)."""
    return (
        alarm.get("zone") is not None
        and alarm.get("priority") != "critical"
        and alarm.get("system") != "fire"
        and not str(alarm.get("rule", "")).startswith("fire.")
    )


def _frame(seq: int | None, data: dict[str, Any], event: str = "alarm") -> str:
    try:
        body = orjson.dumps(data).decode()
    except TypeError:  # what orjson refuses (an integer past 64 bits, ...): the slow way
        body = json.dumps(data, separators=(",", ":"), default=str)
    head = "" if seq is None else f"id: {seq}\n"
    return f"{head}event: {event}\ndata: {body}\n\n"
