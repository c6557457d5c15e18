"""One clock for everything that depends on time.

Production code never calls ``time.time()`` directly: it asks a :class:`Clock`. Tests
pass a :class:`ManualClock` and move time forward explicitly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Wall-clock time, epoch seconds."""

    def now_ms(self) -> int:
        """Wall-clock time, epoch milliseconds."""

    def monotonic(self) -> float:
        """A clock that never goes backwards (for timeouts and rates)."""


class SystemClock:
    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to. ``start`` is epoch seconds."""

    __slots__ = ("_t", "_mono")

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._t = float(start)
        self._mono = 0.0

    def now(self) -> float:
        return self._t

    def now_ms(self) -> int:
        return int(round(self._t * 1000))

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._t += seconds
        self._mono += seconds

    def set(self, epoch_s: float) -> None:
        self.advance(max(0.0, epoch_s - self._t))


def iso_ms(epoch_ms: int | float | None) -> str | None:
    """RFC 3339 UTC with milliseconds and ``Z``, as the contract's JSON wants."""
    if epoch_ms is None:
        return None
    dt = datetime.fromtimestamp(int(epoch_ms) / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch_ms) % 1000:03d}Z"


def parse_iso_ms(text: str | None) -> int | None:
    """The inverse of :func:`iso_ms` (any RFC 3339 time with an offset)."""
    if not text:
        return None
    t = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    return round(datetime.fromisoformat(t).timestamp() * 1000)
