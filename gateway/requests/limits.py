"""Submission limits of the request page: at most ``limit`` in ``window_s`` per key.

One :class:`SlidingWindow` per kind of key (the client's address, the zone token). Each
key keeps the times of its last ``limit`` submissions; :meth:`SlidingWindow.hit` refuses
the next one until the oldest leaves the window and says how long that is (the 429's
``Retry-After``). **Bounded memory**: at most ``max_keys`` keys are held; when full, keys
whose window has passed are dropped first, then the least recently used, so a flood of
addresses cannot grow the table (a dropped key starts afresh, never blocks a stranger).
Time comes from the gateway clock (monotonic seconds).
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque


class SlidingWindow:
    def __init__(self, limit: int = 5, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        if limit < 1 or window_s <= 0 or max_keys < 1:
            raise ValueError("limit >= 1, window_s > 0, max_keys >= 1")
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._hits)

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until ``key`` may submit again (0: now)."""
        q = self._hits.get(key)
        if q is None:
            return 0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if len(q) < self.limit:
            return 0
        return max(1, math.ceil(q[0] + self.window_s - now))

    def hit(self, key: str, now: float) -> None:
        """Count one submission of ``key`` at ``now``."""
        q = self._hits.get(key)
        if q is None:
            self._make_room(now)
            q = self._hits[key] = deque(maxlen=self.limit)
        self._hits.move_to_end(key)
        q.append(now)

    def _make_room(self, now: float) -> None:
        if len(self._hits) < self.max_keys:
            return
        for k in [k for k, q in self._hits.items() if not q or q[-1] <= now - self.window_s]:
            del self._hits[k]
        while len(self._hits) >= self.max_keys:
            self._hits.popitem(last=False)
