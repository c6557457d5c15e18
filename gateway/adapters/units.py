"""Units, value maps and timestamps of foreign payloads, converted to the contract's.

A leaf of the adapters package: pure functions, no state. Lifecycle: an adapter's config
names a conversion (``"degF->degC"``) and a timestamp unit once; :func:`converter` and
:func:`ts_reader` turn them into callables when the config is loaded (so a typo is a
config error, not a dead letter per message), and the adapter calls those per message.

The contract's units (``contract.md`` section 2): °C, Pa, %, kW for HVAC power, W for
lighting power. A conversion or timestamp that cannot be made raises :class:`Unmappable`
with a short ``why`` (it becomes the ``adapter:<name>:<why>`` reason).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.clock import parse_rfc3339_ms
from gateway.decode import FUTURE_LIMIT_MS, MAX_TS_MS


class Unmappable(Exception):
    """A message (or one of its values) the adapter cannot map: ``why`` is a short slug."""

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(why)
        self.why = why
        self.detail = detail or why


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise Unmappable("bad_value", f"{str(v)[:40]!r} is not a number")
    f = float(v)
    if not math.isfinite(f):
        raise Unmappable("bad_value", "not a finite number")
    return f


#: "from->to": factor/offset conversions of a number
CONVERSIONS: dict[str, Callable[[float], float]] = {
    "degF->degC": lambda v: (v - 32.0) * 5.0 / 9.0,
    "degC->degF": lambda v: v * 9.0 / 5.0 + 32.0,
    "K->degC": lambda v: v - 273.15,
    "W->kW": lambda v: v / 1000.0,
    "kW->W": lambda v: v * 1000.0,
    "Wh->kWh": lambda v: v / 1000.0,
    "kWh->Wh": lambda v: v * 1000.0,
    "Pa->kPa": lambda v: v / 1000.0,
    "kPa->Pa": lambda v: v * 1000.0,
    "hPa->Pa": lambda v: v * 100.0,
    "Pa->hPa": lambda v: v / 100.0,
    "inH2O->Pa": lambda v: v * 249.08891,
    "fraction->percent": lambda v: v * 100.0,
    "percent->fraction": lambda v: v / 100.0,
    "permille->percent": lambda v: v / 10.0,
}


def converter(name: str) -> Callable[[Any], float]:
    """The conversion called ``name`` (a key of :data:`CONVERSIONS`), taking any number."""
    try:
        fn = CONVERSIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown conversion {name!r} (known: {', '.join(sorted(CONVERSIONS))})"
        ) from None

    def convert(v: Any) -> float:
        if v.__class__ is float and v - v == 0.0:  # a finite float: what _num lets through
            return round(fn(v), 6)
        return round(fn(_num(v)), 6)

    return convert


def f_to_c(v: Any) -> float:
    return round((_num(v) - 32.0) * 5.0 / 9.0, 6)


def check_ts(ts: int, now_ms: int) -> int:
    """The decoder's limits: 1970 to 9999, at most 5 minutes ahead of the gateway."""
    if ts < 0 or ts > MAX_TS_MS:
        raise Unmappable("bad_ts", f"ts {str(ts)[:40]} out of range (1970 to 9999)")
    if ts > now_ms + FUTURE_LIMIT_MS:
        raise Unmappable("ts_future", f"ts is {(ts - now_ms) / 1000:.0f} s ahead of the gateway")
    return ts


def ts_ms(raw: Any, unit: str, now_ms: int, tz: ZoneInfo | None = None) -> int:
    """A timestamp in ``unit`` (``s``, ``ms``, ``iso`` or ``auto``) -> checked epoch ms.

    ``auto``: numbers below 1e11 are seconds (1e11 s is the year 5138), larger ones ms;
    text is RFC 3339, or, with ``tz``, a local time without offset in that zone.
    """
    try:
        if isinstance(raw, str):
            if unit in ("s", "ms"):
                raise Unmappable("bad_ts", f"ts {raw[:40]!r} is text, expected epoch {unit}")
            return check_ts(_iso(raw, tz), now_ms)
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise Unmappable("bad_ts", f"ts is a {type(raw).__name__}")
        if unit == "iso":
            raise Unmappable("bad_ts", "ts is a number, expected ISO text")
        seconds = unit == "s" or (unit == "auto" and abs(raw) < 1e11)
        if isinstance(raw, int):
            return check_ts(raw * 1000 if seconds else raw, now_ms)
        f = _num(raw)
        return check_ts(int(round(f * 1000.0 if seconds else f)), now_ms)
    except OverflowError:
        raise Unmappable("bad_ts", "ts out of range") from None


def _iso(text: str, tz: ZoneInfo | None) -> int:
    try:
        return parse_rfc3339_ms(text)
    except ValueError as exc:
        if tz is None:
            raise Unmappable("bad_ts", f"ts {exc}") from None
    try:
        local = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Unmappable("bad_ts", f"ts {text[:40]!r} is not an ISO time") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    return int(round(local.timestamp() * 1000))


def on_off(v: Any) -> bool:
    """``"ON"``/``"OFF"`` (any case), ``true``/``false``, 1/0 -> bool."""
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        t = v.strip().lower()
        if t in ("on", "true", "1", "open", "online"):
            return True
        if t in ("off", "false", "0", "closed", "offline"):
            return False
    elif isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    raise Unmappable("bad_value", f"{str(v)[:40]!r} is not on/off")
