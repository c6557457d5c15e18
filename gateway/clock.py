"""One clock for everything that depends on time.

Production code never calls ``time.time()`` directly: it asks a :class:`Clock`. Tests
pass a :class:`ManualClock` and move time forward explicitly.

Times cross the wire as RFC 3339 text: :func:`iso_ms` writes them (UTC, milliseconds,
``Z``) and :func:`parse_rfc3339_ms` is the one parser that reads them back, for the
decoder's ``ts``, the API's query times and the stores (:func:`parse_iso_ms`, lenient).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
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


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?",
    re.ASCII,
)
_EPOCH_DAY = date(1970, 1, 1).toordinal()


def parse_rfc3339_ms(text: str) -> int:
    """An RFC 3339 date-time (``2026-01-01T08:00:00.5+08:00``, ``...Z``) -> epoch ms.

    The offset (``Z`` or ``±hh:mm``) is required; fractional seconds may have any number of
    digits and are rounded to the millisecond (half up); a leap second (``:60``) counts as
    the first second of the next minute. Every refusal is a :class:`ValueError` whose
    message says what is wrong (never an ``OverflowError``): the arithmetic is on integers,
    so any year 0001-9999 gives an exact result.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(text).__name__}")
    m = _RFC3339.fullmatch(text.strip())
    shown = text[:40]
    if m is None:
        raise ValueError(f"{shown!r} is not an RFC 3339 time (e.g. 2026-01-01T08:00:00Z)")
    y, mo, d, h, mi, s, frac, zulu, sign, oh, om = m.groups()
    if zulu is None and sign is None:
        raise ValueError(f"{shown!r} has no time zone offset (add Z or ±hh:mm)")
    try:
        day = date(int(y), int(mo), int(d)).toordinal() - _EPOCH_DAY
    except ValueError as exc:
        raise ValueError(f"{shown!r}: {exc}") from None
    if int(h) > 23 or int(mi) > 59 or int(s) > 60:
        raise ValueError(f"{shown!r}: time of day out of range")
    offset_s = 0
    if sign is not None:
        if int(oh) > 23 or int(om) > 59:
            raise ValueError(f"{shown!r}: offset out of range")
        offset_s = (int(oh) * 3600 + int(om) * 60) * (-1 if sign == "-" else 1)
    seconds = day * 86_400 + int(h) * 3600 + int(mi) * 60 + int(s) - offset_s
    ms = 0
    if frac:
        # half-up rounding to the millisecond needs only the first four digits
        digits = (frac[:4] + "000")[:4]
        ms = (int(digits) + 5) // 10
    return seconds * 1000 + ms


def parse_iso_ms(text: str | None) -> int | None:
    """Lenient :func:`parse_rfc3339_ms`: ``None`` for ``None``, empty or invalid text.

    For values this gateway wrote itself (:func:`iso_ms`) and read back from its stores.
    """
    if not text:
        return None
    try:
        return parse_rfc3339_ms(text)
    except ValueError:
        return None
