"""The time-series sink: what the pipeline writes readings and events to.

Lifecycle (Telegraf-style output plugin)
----------------------------------------

1. ``make_sink(...)`` builds the sink; nothing is opened yet. The pipeline sets
   ``on_durable`` and ``on_rejected`` before ``start()``.
2. ``await start()`` opens the connection (InfluxDB: creates the database, tolerating
   failure; embedded: opens/creates the SQLite file) and starts the background writer.
   It does not fail because the store is down: writes are retried until it comes back.
3. ``submit(msg, seq)`` for every Telemetry/Event, ``mark(seq)`` for every message that
   has no points (status, rejected). ``seq`` is strictly increasing across both calls.
   Both return at once: points are encoded (refused fields and points go straight to
   ``on_rejected``) and appended to the buffer.
4. The background writer cuts the buffer into a batch when it holds ``batch_size``
   points, when its oldest point is ``flush_interval`` seconds old, when no message has
   come for ``idle_flush`` seconds (a burst ended: store it now), or when
   ``flush_at_unacked`` messages are waiting to become durable (the MQTT broker's
   in-flight window is bounded and a message is only acknowledged once durable).
   At most ``max_in_flight`` batches are written at once; new points keep buffering.
5. A write that fails for a passing reason (connection error, timeout, 5xx, 429, auth
   or "database not found") is retried with :class:`gateway.retry.Backoff` (full jitter,
   ``retry_initial_s`` doubling up to ``retry_max_s``, at least the server's
   ``Retry-After``), and the points are kept, never dropped. While the buffer holds
   ``max_buffer`` points or more, ``has_room()`` is False and the pipeline pauses its
   source (``await wait_room()``): that is the backpressure.
6. A batch the store refuses (4xx: parse error, field type conflict, ``partial write``)
   is split in halves until the refused points are isolated; the good points are
   written, each refused point goes to ``on_rejected(line, reason)`` (the gateway
   dead-letters it) and counts as done.
7. ``durable_seq`` advances in ``seq`` order once every message up to it is stored or
   dead-lettered, and ``on_durable(durable_seq)`` is called after each advance: the
   pipeline acknowledges MQTT messages up to there.
8. ``await flush()`` writes everything buffered at the time of the call and returns when
   it is durable (it waits as long as the store is down: wrap it in a timeout if needed).
9. ``await stop()`` flushes and stops; retries go on until ``stop_timeout`` seconds have
   passed, then whatever is still not durable is abandoned (it was never acknowledged,
   so the broker redelivers it on the next start).

``query()`` serves ``GET /api/v1/telemetry/{device}``; it raises
:class:`QueryNotSupported` (map to HTTP 501) when the store cannot be queried through
this gateway, and :class:`QueryFailed` (map to 503) when it can but is not answering.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rules.model import Event, Telemetry

log = logging.getLogger("gateway.sinks")

__all__ = [
    "Sink",
    "SinkError",
    "QueryNotSupported",
    "QueryFailed",
    "WriteRetry",
    "WriteRefused",
    "describe",
]


@runtime_checkable
class Sink(Protocol):
    """See the module docstring for the lifecycle."""

    on_durable: Callable[[int], None] | None
    """Called with the new ``durable_seq`` after it advances."""
    on_rejected: Callable[[str, str], None] | None
    """``(line-or-description, reason)`` for every point (or field) the store refused."""
    durable_seq: int
    """Every message submitted/marked with ``seq <= durable_seq`` is stored or dead-lettered."""

    @property
    def buffered_points(self) -> int:
        """Points buffered, waiting or being written (the sink's queue depth)."""

    def health(self) -> dict[str, object]:
        """For ``/healthz``: ``ok`` is false while writes keep failing."""

    async def start(self) -> None: ...

    def submit(self, msg: Telemetry | Event, seq: int) -> None:
        """Buffer a message's points; never blocks. ``seq`` strictly increasing."""

    def mark(self, seq: int) -> None:
        """A message with no points: durable once everything before it is."""

    def has_room(self) -> bool:
        """False while buffered points >= max_buffer: the caller pauses its source."""

    async def wait_room(self) -> None: ...

    async def flush(self) -> None:
        """Write everything buffered now; returns once it is durable."""

    async def stop(self) -> None:
        """Flush, then stop; retries continue until the stop deadline."""

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]:
        """``[{"ts": epoch_ms, "field": name, "value": v}, ...]`` sorted by ts.

        ``start_ms <= ts <= end_ms`` (both inclusive, either may be None); when more than
        ``limit`` values match, the *latest* ``limit`` are returned. Telemetry only (no
        events). Raises :class:`QueryNotSupported` or :class:`QueryFailed`.
        """


class SinkError(Exception):
    """Base of the sink's errors."""


class QueryNotSupported(SinkError):
    """This store cannot be queried through the gateway (API: 501 Not Implemented)."""


class QueryFailed(SinkError):
    """The store can be queried but did not answer (API: 503 Service Unavailable)."""


class WriteRetry(SinkError):
    """A write failed for a passing reason: keep the points, retry after a backoff.

    ``kind`` labels ``sitewatch_sink_write_errors`` (connection, timeout, server,
    throttled, auth, not_found, error); ``retry_after`` (seconds) is the server's hint.
    """

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


class WriteRefused(SinkError):
    """The store refused the batch (4xx): split it to isolate the bad points."""


def describe(msg: Telemetry | Event) -> str:
    """A message as text for ``on_rejected`` when it produced no point at all."""
    if isinstance(msg, Event):
        what = f"event {msg.type}" + (f" point={msg.point}" if msg.point else "")
    else:
        what = ",".join(f"{k}={v!r}" for k, v in msg.values.items()) or "no values"
    return f"{msg.site}/{msg.system}/{msg.device} ts={msg.ts_ms} {what}"[:500]
