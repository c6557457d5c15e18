"""The buffered sink: batching, retries, bisection of refused points, ordered durability.

:class:`BufferedSink` does the work the lifecycle in ``gateway.sinks.base`` describes
(steps 3 to 9) for every concrete store; a store supplies ``_encode`` and ``_write``.
:class:`LineProtocolSink` is the InfluxDB flavour (points as line protocol).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from gateway.metrics import Metrics
from gateway.retry import Backoff
from gateway.sinks.base import QueryNotSupported, WriteRefused, WriteRetry, describe
from gateway.sinks.conflicts import FieldTypeConflict, strip_field
from gateway.sinks.lineprotocol import LineProtocolError, encode, telemetry_line
from rules.model import Event, Telemetry

log = logging.getLogger("gateway.sinks")

P = TypeVar("P")

#: the open buffer is written once no message has come for this long (the end of a
#: burst, a lull): its messages are stored and acknowledged now, not at the next
#: ``flush_interval``; a steady stream still fills whole batches
IDLE_FLUSH_S = 0.05


class _Batch(Generic[P]):
    __slots__ = ("points", "last_seq", "n_msgs", "done")

    def __init__(self, points: list[P], last_seq: int, n_msgs: int) -> None:
        self.points = points
        self.last_seq = last_seq
        self.n_msgs = n_msgs
        self.done = False


class BufferedSink(Generic[P]):
    """Batching, ordering, retries and bisection; subclasses provide the store.

    Subclasses implement :meth:`_encode` (message -> points, reporting refusals; and
    optionally ``_encode_clean``, its fast path for a reading of one clean point),
    :meth:`_write` (store a list of points; raise :class:`WriteRetry` or
    :class:`WriteRefused`), :meth:`_describe` (a point as text for ``on_rejected``),
    and optionally :meth:`_open` / :meth:`_close` and :meth:`query`.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        idle_flush: float = IDLE_FLUSH_S,
        flush_at_unacked: int = 5000,
        max_buffer: int | None = None,
        max_in_flight: int = 2,
        retry_initial_s: float = 0.2,
        retry_max_s: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if batch_size < 1 or flush_interval <= 0 or flush_at_unacked < 1 or max_in_flight < 1:
            raise ValueError("batch_size, flush_interval, flush_at_unacked, max_in_flight > 0")
        if retry_initial_s <= 0:
            raise ValueError("retry_initial_s > 0")
        self.metrics = metrics
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.idle_flush = idle_flush
        self.flush_at_unacked = flush_at_unacked
        self.max_buffer = max_buffer if max_buffer is not None else max(20 * batch_size, 50_000)
        self.max_in_flight = max_in_flight
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.stop_timeout = stop_timeout

        self.on_durable: Callable[[int], None] | None = None
        self.on_rejected: Callable[[str, str], None] | None = None
        self.durable_seq = -1

        self._buf: list[P] = []
        self._buf_msgs = 0  # messages (incl. marks) in the open buffer
        self._buf_since = 0.0  # loop time of the first point in the open buffer
        self._last_seq = -1  # highest seq submitted or marked
        # the dispatcher's view of the input: the last seq it saw and since when
        self._seen_seq = -1
        self._seen_at = 0.0
        self._ready: deque[_Batch[P]] = deque()  # cut, waiting for a write slot
        self._inflight: deque[_Batch[P]] = deque()  # being written, in seq order
        self._tasks: set[asyncio.Task[None]] = set()
        self._points = 0  # points buffered + ready + in flight
        self._pending_msgs = 0  # messages not yet durable
        self._wake = asyncio.Event()
        self._advanced = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._started = False
        self._stopping = False
        # read when /metrics is scraped, not set on every point
        metrics.queue_depth.labels(stage="sink").set_function(lambda: self._points)
        self._rejected_total = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._written_total = 0

    # -- subclass hooks ---------------------------------------------------------------
    def _encode(self, msg: Telemetry | Event, refused: list[tuple[str, str]]) -> list[P]:
        raise NotImplementedError  # pragma: no cover - abstract

    #: the fast path of :meth:`_encode` for a reading: its one point when nothing of it
    #: is refused, else None (then :meth:`_encode` is asked and reports the refusals)
    _encode_clean: Callable[[Telemetry], P | None] | None = None

    async def _write(self, points: list[P]) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    def _describe(self, point: P) -> str:
        return str(point)

    def _split_refused(self, chunk: list[P], exc: WriteRefused) -> list[P] | None:
        """Take the fields ``exc`` names out of ``chunk``'s points, rejecting each.

        Returns the points left to write, or None when ``exc`` names nothing that can be
        taken out (then the chunk is bisected until the refused points are isolated).
        """
        return None

    async def _open(self) -> None:
        return None

    async def _close(self) -> None:
        return None

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]:
        raise QueryNotSupported(f"{type(self).__name__} cannot be queried")

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._stopping = False
        await self._open()
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"{type(self).__name__}")

    async def flush(self) -> None:
        target = self._last_seq
        if target > self.durable_seq and self._dispatcher is None:
            raise RuntimeError("flush() before start(): nothing would write the buffer")
        self._cut()
        self._wake.set()
        while self.durable_seq < target:
            ev = self._advanced
            await ev.wait()

    async def stop(self) -> None:
        if not self._started:
            await self._close()
            return
        self._stopping = True
        try:
            await asyncio.wait_for(self.flush(), self.stop_timeout)
        except TimeoutError:
            log.warning(
                "sink stopped with %d points not durable (store unreachable); "
                "their messages were not acknowledged and will be redelivered",
                self._points,
            )
        self._started = False
        tasks = [t for t in (self._dispatcher, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._dispatcher = None
        await self._close()

    # -- the pipeline's calls ---------------------------------------------------------
    def submit(self, msg: Telemetry | Event, seq: int) -> None:
        if seq <= self._last_seq:
            raise ValueError(f"seq {seq} not above {self._last_seq}")
        clean = self._encode_clean
        point = clean(msg) if clean is not None and type(msg) is Telemetry else None
        buf = self._buf
        if point is not None:  # the usual case: one point, nothing refused
            if not buf:
                self._buf_since = time.monotonic()
                self._wake.set()  # arm the flush timer
            buf.append(point)
            self._points += 1
        else:
            refused: list[tuple[str, str]] = []
            points = self._encode(msg, refused)
            if refused:
                for desc, reason in refused:
                    self._reject(desc, reason)
            if not points:
                self.mark(seq)
                return
            if not buf:
                self._buf_since = time.monotonic()
                self._wake.set()  # arm the flush timer
            buf.extend(points)
            self._points += len(points)
        self._last_seq = seq
        self._buf_msgs += 1
        self._pending_msgs += 1
        if self._points >= self.max_buffer:
            self._room.clear()
        if len(buf) >= self.batch_size:
            self._cut()
            self._wake.set()
        elif (
            self._pending_msgs >= self.flush_at_unacked and len(self._inflight) < self.max_in_flight
        ):
            self._wake.set()

    def mark(self, seq: int) -> None:
        if seq <= self._last_seq:
            raise ValueError(f"seq {seq} not above {self._last_seq}")
        self._last_seq = seq
        if not self._buf and not self._ready and not self._inflight:
            self._set_durable(seq)
            return
        self._buf_msgs += 1
        self._pending_msgs += 1

    def has_room(self) -> bool:
        return self._points < self.max_buffer

    async def wait_room(self) -> None:
        while self._points >= self.max_buffer:
            self._room.clear()
            await self._room.wait()

    def health(self) -> dict[str, object]:
        """For ``/healthz``: ``ok`` is false while writes keep failing."""
        return {
            "kind": type(self).__name__,
            "ok": self._failing_since is None,
            "buffered_points": self._points,
            "points_written": self._written_total,
            "points_rejected": self._rejected_total,
            "last_error": self._last_error,
        }

    @property
    def buffered_points(self) -> int:
        """Points not yet stored (open buffer + cut batches + in flight)."""
        return self._points

    @property
    def rejected_points(self) -> int:
        return self._rejected_total

    # -- internals --------------------------------------------------------------------
    def _reject(self, desc: str, reason: str) -> None:
        self._rejected_total += 1
        self.metrics.points_rejected.inc()
        log.warning("point refused: %s: %s", reason, desc[:200])
        cb = self.on_rejected
        if cb is not None:
            try:
                cb(desc, reason)
            except Exception:  # a callback bug must not stop the writer
                log.exception("on_rejected callback failed")

    def _set_durable(self, seq: int) -> None:
        if seq <= self.durable_seq:
            return
        self.durable_seq = seq
        ev, self._advanced = self._advanced, asyncio.Event()
        ev.set()
        cb = self.on_durable
        if cb is not None:
            try:
                cb(seq)
            except Exception:
                log.exception("on_durable callback failed")

    def _cut(self) -> None:
        """Move the open buffer (points and marks) into the ready queue."""
        if not self._buf_msgs:
            return
        self._ready.append(_Batch(self._buf, self._last_seq, self._buf_msgs))
        self._buf = []
        self._buf_msgs = 0

    def _due(self, now: float) -> bool:
        if not self._buf_msgs:
            return False
        if self._last_seq != self._seen_seq:
            self._seen_seq, self._seen_at = self._last_seq, now
        return (
            self._stopping
            or len(self._buf) >= self.batch_size
            or self._pending_msgs >= self.flush_at_unacked
            or not self._buf  # only marks, behind in-flight batches
            or now - self._buf_since >= self.flush_interval
            or now - self._seen_at >= self.idle_flush  # the input paused: write now
        )

    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            now = time.monotonic()
            while len(self._inflight) < self.max_in_flight:
                if not self._ready and self._due(now):
                    self._cut()
                if not self._ready:
                    break
                batch = self._ready.popleft()
                self._inflight.append(batch)
                task = asyncio.create_task(self._run(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            timeout: float | None = None
            if self._buf and len(self._inflight) < self.max_in_flight:
                due = min(self._buf_since + self.flush_interval, self._seen_at + self.idle_flush)
                timeout = max(0.0, due - time.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    async def _run(self, batch: _Batch[P]) -> None:
        if batch.points:
            # cancelled at the stop deadline: the batch stays not done, never durable
            await self._deliver(batch.points)
        batch.done = True
        self._points -= len(batch.points)
        if self._points < self.max_buffer:
            self._room.set()
        self._advance()
        self._wake.set()

    def _advance(self) -> None:
        seq = None
        while self._inflight and self._inflight[0].done:
            b = self._inflight.popleft()
            self._pending_msgs -= b.n_msgs
            seq = b.last_seq
        if not self._inflight and not self._ready and self._buf_msgs and not self._buf:
            # only marks left behind the batches that just finished
            self._pending_msgs -= self._buf_msgs
            self._buf_msgs = 0
            seq = self._last_seq
        if seq is not None:
            self._set_durable(seq)

    async def _deliver(self, points: list[P]) -> None:
        """Write ``points``; retry passing failures; bisect refusals."""
        work: deque[list[P]] = deque([points])
        backoff = Backoff(self.retry_initial_s, self.retry_max_s)
        loop = asyncio.get_running_loop()
        while work:
            chunk = work[0]
            t0 = loop.time()
            try:
                await self._write(chunk)
            except WriteRefused as exc:
                self.metrics.write_errors.labels(kind="refused").inc()
                work.popleft()
                rest = self._split_refused(chunk, exc)
                if rest is not None:  # the refused fields are out: write the rest
                    if rest:
                        work.appendleft(rest)
                elif len(chunk) == 1:
                    self._reject(self._describe(chunk[0]), str(exc))
                else:
                    mid = len(chunk) // 2
                    work.appendleft(chunk[mid:])
                    work.appendleft(chunk[:mid])
                backoff.reset()
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                retry = exc if isinstance(exc, WriteRetry) else WriteRetry("error", repr(exc))
                if not isinstance(exc, WriteRetry):
                    log.exception("unexpected error writing %d points; retrying", len(chunk))
                self.metrics.write_errors.labels(kind=retry.kind).inc()
                delay = backoff.next_delay(retry.retry_after)
                self._last_error = f"{retry.kind}: {str(retry)[:200]}"
                if self._failing_since is None:
                    self._failing_since = loop.time()
                log.warning(
                    "write of %d points failed (%s: %s); retry %d in %.2fs",
                    len(chunk),
                    retry.kind,
                    str(retry)[:200],
                    backoff.attempts,
                    delay,
                )
                await backoff.sleep(delay)
                continue
            self.metrics.write_latency.observe(loop.time() - t0)
            self.metrics.batch_size.observe(len(chunk))
            self.metrics.points_written.inc(len(chunk))
            self._written_total += len(chunk)
            self._failing_since = None
            work.popleft()
            backoff.reset()


class LineProtocolSink(BufferedSink[str]):
    """A :class:`BufferedSink` whose points are line-protocol lines (InfluxDB v1/v2).

    A field type conflict the store names (:class:`FieldTypeConflict`) splits the points:
    each point carrying the field with the refused type loses that field, the field alone
    goes to ``on_rejected`` with the types, the point's other fields are written.
    """

    def _split_refused(self, chunk: list[str], exc: WriteRefused) -> list[str] | None:
        if not isinstance(exc, FieldTypeConflict):
            return None
        out: list[str] = []
        hit = False
        reason = exc.reason()
        for line in chunk:
            split = strip_field(line, exc)
            if split is None:
                out.append(line)
                continue
            hit = True
            rest, removed = split
            self._reject(removed, reason)
            if rest is not None:
                out.append(rest)
        return out if hit else None

    _encode_clean = staticmethod(telemetry_line)

    def _encode(self, msg: Telemetry | Event, refused: list[tuple[str, str]]) -> list[str]:
        n = len(refused)
        try:
            return [encode(msg, refused)]
        except LineProtocolError as exc:
            # one refusal for the whole message, naming why each field was dropped
            names = [d.split(" ", 1)[-1].split("=", 1)[0] for d, _ in refused[n:]]
            fields = "; ".join(f"{k}: {r}" for k, (_, r) in zip(names, refused[n:], strict=True))
            del refused[n:]
            refused.append((describe(msg), f"{exc} ({fields})" if fields else str(exc)))
            return []
