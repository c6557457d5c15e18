"""What a caller's ids and filter strings become in a query of the state store."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.errors import NotFound


def parse_id(value: int | str, what: str = "alarm") -> int:
    """An id from a URL or a caller: an integer, else :class:`NotFound`."""
    if isinstance(value, bool):
        raise NotFound(f"no {what} {value}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise NotFound(f"no {what} {value}") from None


def split_values(v: str | Sequence[str] | None) -> list[str]:
    """A filter's values: ``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]``."""
    if v is None:
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    return [s for s in v if s]
