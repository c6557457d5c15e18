"""Floods: many rule hits written in batches, the event loop served between them.

When the ticker judges thousands of devices silent in one tick (a switch fails, a
building loses power), the rule stage hands all their ``device.offline`` hits over at once.
Written one transaction per hit, on the event loop, 30,000 of them held the loop for
tens of seconds: fire alarms and the fire link waited behind them (EEMUA 191: a flood
must not hide the alarms that matter). Here:

- :func:`split` cuts the hits into batches of at most ``size`` with **distinct keys**
  (a hit on a key already in the batch starts the next one, so every step of a batch
  reads the state its own key had before the batch); a hit that must go alone (a
  ``critical`` one, or one of a rule that suppresses others) is a batch of its own, in
  its place in the order.
- :func:`build` makes one :class:`~gateway.alarms.changes.AlarmChanges` of a batch from
  the lifecycle's steps; the alarm service writes it in **one transaction** (multi-row
  insert, one sequence number update, one journal insert, one ``alarm_changes`` insert:
  ``gateway.alarms.store``). The partial unique index still refuses a second open alarm
  per (rule, device, point): the whole batch is rolled back, re-read and retried.
- :class:`Backlog` holds hits handed over for later and drains them with one task, a
  batch at a time, awaiting after each batch and the callers' callbacks that fit in
  ``budget_s`` (10 ms), so the fire link's messages and the HTTP streams run between
  batches. The callbacks trail the writes (a ticket costs more than its alarm). Batches
  are sized by time: as many hits as the last batches wrote in ``target_s`` (15 ms; at
  least ``MIN_BATCH``, at most ``size``), so a fire alarm waits for one short batch at
  most, on a quiet machine as on a loaded one; after each turn the drain rests as long
  as it worked (``share``: half the loop's time at most), so on a saturated gateway the
  fire link still gets the other half. Order per key is kept: a hit on a key that still
  waits in the backlog first writes (and calls back) what waits for it.

Lifecycle of a :class:`Backlog`: made by the alarm service; :meth:`Backlog.submit` queues
hits (and starts the drain task if none runs; with no running loop it drains at once);
:meth:`Backlog.flush` writes what waits now (shutdown). Runs on the event loop only.
Bounded by what the rule engine hands over (each hit is one device's state change).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence

from gateway.alarms.cache import AlarmCache
from gateway.alarms.changes import AlarmChanges
from gateway.alarms.lifecycle import Lifecycle
from gateway.alarms.model import Alarm, Key
from rules.model import RuleHit, RuleSpec
from rules.vocab import AlarmState

log = logging.getLogger(__name__)

#: hits written per transaction (a setting of the service: ``write_batch``)
WRITE_BATCH = 250
#: time the backlog's callbacks may take before the drain lets the loop run
BUDGET_S = 0.01
#: time one batch of the backlog should hold the loop, and its smallest size
TARGET_S = 0.015
MIN_BATCH = 16
#: the share of the loop's time a flood may take while other work waits
SHARE = 0.5

Then = Callable[[RuleHit, "Alarm | None"], None]
Result = tuple["Alarm | None", bool]  # the alarm (or None) and whether it was an activation


def key_of(hit: RuleHit) -> Key:
    return (hit.rule, hit.device, hit.point or "")


def split(
    hits: Iterable[RuleHit], alone: Callable[[RuleHit], bool], size: int
) -> Iterator[list[RuleHit]]:
    """``hits`` in order, in batches of at most ``size`` with distinct keys; a hit for
    which ``alone(hit)`` holds is a batch of its own."""
    batch: list[RuleHit] = []
    keys: set[Key] = set()
    for h in hits:
        k = key_of(h)
        if alone(h):
            if batch:
                yield batch
                batch, keys = [], set()
            yield [h]
            continue
        if k in keys or len(batch) >= size:
            yield batch
            batch, keys = [], set()
        batch.append(h)
        keys.add(k)
    if batch:
        yield batch


def build(
    hits: Sequence[RuleHit],
    now: int,
    life: Lifecycle,
    cache: AlarmCache,
    spec_of: Callable[[RuleHit], RuleSpec],
) -> tuple[AlarmChanges, list[Result]]:
    """The changes of a batch (distinct keys, see :func:`split`) at ``now`` and, per hit,
    what :meth:`AlarmService.apply` would return and whether it was an activation."""
    work = AlarmChanges(now)
    out: list[Result] = []
    for h in hits:
        spec = spec_of(h)
        key = key_of(h)
        if spec.raises == "ticket":
            out.append((None, False))
            continue
        if h.active:
            part, (alarm, activation) = life.raise_(h, spec, key, now)
            work.absorb(part)
            out.append((alarm, activation))
            continue
        cur = cache.open.get(key)
        if cur is None or cur.state == AlarmState.CLEARED_UNACKED:
            out.append((cur, False))
            continue
        part, cleared = life.clear(h, key, now)
        work.absorb(part)
        out.append((cleared, False))
    return work, out


class Backlog:
    """Hits waiting to be written by ``write`` (the service's ``apply_many``) in batches
    of ``size``; ``then(hit, alarm)`` of each is called once its batch is committed."""

    def __init__(
        self,
        write: Callable[[Sequence[RuleHit]], list[Alarm | None]],
        size: int = WRITE_BATCH,
        budget_s: float = BUDGET_S,
        target_s: float = TARGET_S,
        share: float = SHARE,
    ) -> None:
        self._write = write
        self.size = max(1, size)
        self.budget_s = budget_s
        self.target_s = target_s
        self.share = min(1.0, max(0.05, share))
        self._per_hit_s = target_s / self.size  # learned from the batches written
        self._queue: deque[tuple[RuleHit, Then | None]] = deque()
        self._calling: deque[tuple[RuleHit, Then | None, Alarm | None]] = deque()
        self._keys: Counter[Key] = Counter()
        self._task: asyncio.Task[None] | None = None
        self.errors = 0
        self.written = 0

    def __len__(self) -> int:
        return len(self._queue) + len(self._calling)

    def has(self, key: Key) -> bool:
        return self._keys[key] > 0

    def submit(self, hits: Iterable[RuleHit], then: Then | None = None) -> None:
        """Queue ``hits`` (in order) for the drain task."""
        for h in hits:
            self._queue.append((h, then))
            self._keys[key_of(h)] += 1
        if not self._queue:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain(), name="alarm backlog")

    def run_key(self, key: Key) -> None:
        """Write and call back now whatever waits for ``key`` (before a newer hit on it)."""
        if not self.has(key):
            return
        for entry in [e for e in self._calling if key_of(e[0]) == key]:
            self._calling.remove(entry)
            self._call(*entry)
        mine = [e for e in self._queue if key_of(e[0]) == key]
        if mine:
            self._queue = deque(e for e in self._queue if key_of(e[0]) != key)
            for (hit, then), alarm in zip(mine, self._apply([h for h, _ in mine]), strict=True):
                self._call(hit, then, alarm)

    def flush(self) -> None:
        """Write and call back everything that waits, now."""
        while self._calling:  # (what was written before what waits)
            self._call(*self._calling.popleft())
        while self._queue:  # every alarm first, then the callbacks
            self._step()
        while self._calling:
            self._call(*self._calling.popleft())

    async def _drain(self) -> None:
        """One turn: write the next batch (if any waits), then callbacks for at most
        ``budget_s`` (at least one), then let the loop run. The writes run ahead of the
        callbacks (the tickets of each hit, slower than its alarm), so the control room
        has every alarm long before the last hit reached its tickets."""
        while self._queue or self._calling:
            started = time.perf_counter()
            if self._queue:
                self._step()
            calls = time.perf_counter()
            while self._calling:
                self._call(*self._calling.popleft())
                if time.perf_counter() - calls > self.budget_s:
                    break
            busy = time.perf_counter() - started
            # at most `share` of the loop's time: the rest is the fire link's, the streams'
            await asyncio.sleep(busy * (1 - self.share) / self.share)

    def next_size(self) -> int:
        """Hits of the next batch: what the last ones wrote in ``target_s``."""
        fit = int(self.target_s / self._per_hit_s) if self._per_hit_s > 0 else self.size
        return max(min(MIN_BATCH, self.size), min(self.size, fit))

    def _step(self) -> None:
        """Write the next batch; its callbacks wait in ``_calling``."""
        n = min(self.next_size(), len(self._queue))
        chunk = [self._queue.popleft() for _ in range(n)]
        started = time.perf_counter()
        written = self._apply([h for h, _ in chunk])
        per_hit = (time.perf_counter() - started) / max(1, n)
        self._per_hit_s = 0.5 * self._per_hit_s + 0.5 * per_hit
        for (hit, then), alarm in zip(chunk, written, strict=True):
            self._calling.append((hit, then, alarm))

    def _apply(self, hits: list[RuleHit]) -> list[Alarm | None]:
        """``write(hits)``; when the batch fails, hit by hit (one failure stops nothing)."""
        try:
            out = self._write(hits)
        except Exception:  # noqa: BLE001 - retried one by one below
            log.exception("a batch of %d alarm hits failed; writing them one by one", len(hits))
            out = []
            for h in hits:
                try:
                    out.extend(self._write([h]))
                except Exception:  # noqa: BLE001
                    self.errors += 1
                    log.exception("cannot apply %s %s/%s", h.rule, h.device, h.point)
                    out.append(None)
        self.written += len(hits)
        return out

    def _call(self, hit: RuleHit, then: Then | None, alarm: Alarm | None) -> None:
        k = key_of(hit)
        self._keys[k] -= 1
        if self._keys[k] <= 0:
            del self._keys[k]
        if then is None:
            return
        try:
            then(hit, alarm)
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("after writing %s %s: the callback failed", hit.rule, hit.device)
