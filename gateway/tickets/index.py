"""The open tickets in memory: by (rule, device) for the rule hits, by due time for the tick.

A flood of 30,000 ``device.offline`` hits whose crews come only after 30 minutes has
nothing to write in the tickets: without this index each hit still ran a transaction to
find that out (~15 ms on a loaded gateway), and the tick read every open ticket from the
database each second to find the few whose clock is due. :class:`OpenTickets` answers
both from memory:

- :meth:`OpenTickets.of`: the open tickets of (rule, device), as last committed;
- :meth:`OpenTickets.due`: the open tickets whose clock is to be breached or escalated by
  ``now`` (a heap of next due times, :meth:`Sla.next_due`), and the unassigned ones of
  crews with someone on duty (offered again at each tick, as before).

Lifecycle: made empty by the ticket service; loaded from the state store on first use
(``load``: every open ticket); then kept by :meth:`OpenTickets.apply` with each ticket a
transaction of the service changed, after its commit (``TicketService._after``: every
ticket write goes through ``TicketTx.insert``/``save`` in a transaction of the service, and
every write records the ticket in ``TicketTx.changes``). Only this service writes the
tickets of its site (one gateway owns a site at a time: ``gateway.cluster``'s fence), so
the index cannot drift from the table; a new owner loads it afresh. Bounded by the open
tickets (a closed or cancelled ticket leaves it); the heap is rebuilt when stale entries
outnumber the live ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence

from gateway.tickets.model import OPEN_STATUSES, Ticket
from rules.vocab import TicketStatus

_OPEN = frozenset(OPEN_STATUSES)


class OpenTickets:
    """The open tickets (see the module doc); ``load()`` reads them all from the store,
    ``due_at(t)`` is the time ``t``'s next clock is due (``None``: none runs)."""

    def __init__(
        self, load: Callable[[], Sequence[Ticket]], due_at: Callable[[Ticket], int | None]
    ) -> None:
        self._load = load
        self._due_at = due_at
        self._by_id: dict[int, Ticket] | None = None
        self._by_key: dict[tuple[str, str], dict[int, Ticket]] = {}
        self._waiting: dict[str, set[int]] = {}  # crew -> open and unassigned
        self._heap: list[tuple[int, int, int]] = []  # (due ms, ticket id, version)

    # ---------------------------------------------------------------- reading
    def _ready(self) -> dict[int, Ticket]:
        if self._by_id is None:
            self._by_id = {}
            for t in self._load():
                self._put(t)
        return self._by_id

    def __len__(self) -> int:
        return len(self._ready())

    def of(self, rule: str, device: str) -> list[Ticket]:
        """The open tickets of (rule, device), every crew."""
        self._ready()
        got = self._by_key.get((rule, device))
        return list(got.values()) if got else []

    def get(self, tid: int) -> Ticket | None:
        return self._ready().get(tid)

    def tickets(self) -> list[Ticket]:
        return list(self._ready().values())

    # ---------------------------------------------------------------- the tick
    def due(self, now: int, on_duty: Callable[[str], bool], limit: int) -> list[int]:
        """Ids of at most ``limit`` open tickets due at ``now`` (a clock due, or unassigned
        with someone of the crew ``on_duty``), oldest due first. Taken off the heap: the
        caller gives back with :meth:`requeue` those it did not change."""
        by_id = self._ready()
        out: dict[int, None] = {}
        for crew, ids in self._waiting.items():
            if ids and on_duty(crew):
                for tid in sorted(ids):
                    if len(out) >= limit:
                        break
                    out[tid] = None
        heap = self._heap
        while heap and heap[0][0] <= now and len(out) < limit:
            _, tid, version = heapq.heappop(heap)
            t = by_id.get(tid)
            if t is not None and t.version == version:
                out[tid] = None
        return list(out)

    def requeue(self, ids: Iterable[int]) -> None:
        """Put back on the heap the tickets :meth:`due` took (a changed one is there
        already: a duplicate entry is harmless, it is dropped when popped)."""
        by_id = self._ready()
        for tid in ids:
            t = by_id.get(tid)
            if t is not None:
                self._push(t)

    # ---------------------------------------------------------------- keeping
    def apply(self, tickets: Iterable[Ticket]) -> None:
        """Tickets as a transaction of the service committed them."""
        if self._by_id is None:
            return  # not loaded yet: the load reads what was committed
        for t in tickets:
            self._drop(t.tid)
            if t.status in _OPEN:
                self._put(t)
        if len(self._heap) > 2 * len(self._by_id) + 1000:
            self._heap = []
            for t in self._by_id.values():
                self._push(t, heapify=False)
            heapq.heapify(self._heap)

    def reload(self) -> None:
        """Forget everything; the next use reads the store again."""
        self._by_id = None
        self._by_key = {}
        self._waiting = {}
        self._heap = []

    def _put(self, t: Ticket) -> None:
        assert self._by_id is not None
        self._by_id[t.tid] = t
        if t.rule is not None and t.device is not None:
            self._by_key.setdefault((t.rule, t.device), {})[t.tid] = t
        if t.status == TicketStatus.OPEN and t.assignee is None:
            self._waiting.setdefault(t.crew, set()).add(t.tid)
        self._push(t)

    def _push(self, t: Ticket, *, heapify: bool = True) -> None:
        at = self._due_at(t)
        if at is None:
            return
        entry = (at, t.tid, t.version)
        if heapify:
            heapq.heappush(self._heap, entry)
        else:
            self._heap.append(entry)

    def _drop(self, tid: int) -> None:
        assert self._by_id is not None
        old = self._by_id.pop(tid, None)
        if old is None:
            return
        if old.rule is not None and old.device is not None:
            key = (old.rule, old.device)
            got = self._by_key.get(key)
            if got is not None:
                got.pop(tid, None)
                if not got:
                    del self._by_key[key]
        ids = self._waiting.get(old.crew)
        if ids is not None:
            ids.discard(tid)
            if not ids:
                del self._waiting[old.crew]
