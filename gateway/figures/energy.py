"""Energy from the power the sensors report: kWh by zone, system or device per site-local
hour, day or month, and the energy an alarm wasted while it was active.

**The rule** (:func:`integrate`): readings of one device, in time order, are joined by
straight lines (the trapezoid rule). A step between two readings longer than the
device's usual reporting interval times :data:`GAP_FACTOR` is a *gap*: nothing is
credited for it (a device silent for two hours is not credited two hours of anything,
and a gap is never filled with invented energy). The factor absorbs jitter and one
late reading; two missed readings in a row make a gap. A step that crosses a bucket
boundary is cut there, the power at the cut read off the line. Power fields are the
contract's: ``power_w`` (lighting circuits) and ``power_kw`` (HVAC units).

**Where it is computed: here, in the gateway**, from the readings the sink's ``query``
returns (the same call for InfluxDB 1.x, 2.x and the embedded store). The stores'
own integrals do not follow the rule: InfluxQL's ``INTEGRAL()`` and Flux's
``integral()`` join the readings on both sides of a gap (inventing its energy) and,
under ``GROUP BY time()``, drop the piece of every step that crosses a bucket edge. The
rule can be written as an SQL window (``LAG``) on the embedded store, but it is slower.
Measured at 10,000 devices, one reading a minute, one hour (600,000 readings;
``bench/energy_10k.py``, 2 shared cores): this loop 0.6-0.8 s; the same sum as an SQL
window in SQLite 6.5-7 s; reading the points out of SQLite 3 s in one range scan, 8 s
as one query per device (what :class:`EnergyReader` does through ``Sink.query``). So
the arithmetic fits in a second at 10,000 devices and reading raw points does not: the
runtime keeps an hourly roll-up as readings arrive (``gateway.figures.rollup``, the same
rule step by step), and :meth:`EnergyReader.series` / :meth:`~EnergyReader.total` answer
from it (``gateway.figures.rollup_query``) whenever it covers the period; the raw readings
stay the reference and answer the rest. Totals of settled months are cached. A month
per hour or day at 10,000 devices, by zone or system, reads the roll-up's zone and
system rows (14,880 at most); by device, one row per item (310,000 for a month per
day): 0.01-0.6 s through the API (``bench/energy_10k.py``).

Lifecycle: :class:`EnergyReader` is built per site with its sink and clock; every call
reads the store afresh, except totals of periods that ended more than
:data:`SETTLED_MS` ago, which are kept (bounded) for the scorecard's 12-month trends.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.clock import Clock, iso_ms
from gateway.figures.periods import buckets
from rules.site import Device, Site
from rules.vocab import System

if TYPE_CHECKING:
    from gateway.figures.rollup import EnergyRollup

#: a step up to this many reporting intervals is credited; a longer one is a gap
GAP_FACTOR = 1.5
#: per system: the power field and its factor to kW
POWER_FIELDS: dict[str, tuple[str, float]] = {
    System.LIGHTING: ("power_w", 0.001),
    System.HVAC: ("power_kw", 1.0),
}
GROUPS: tuple[str, ...] = ("zone", "system", "device")
MS_PER_HOUR = 3_600_000
#: a period that ended this long ago is settled (late backfill is rare): cache its total
SETTLED_MS = 2 * 86_400_000
#: readings asked of the store per call; a window that returns this many is halved
QUERY_LIMIT = 200_000
CHUNK_MS = 7 * 86_400_000
PARALLEL_QUERIES = 8

Point = tuple[int, float]  # (epoch ms, kW)


class PowerSource(Protocol):
    """What the reader needs of a sink (``gateway.sinks.base.Sink.query``)."""

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]: ...


@dataclass(frozen=True, slots=True)
class Integral:
    """kWh per bucket and how long each bucket was covered by credited steps (ms)."""

    kwh: list[float]
    covered_ms: list[int]

    @property
    def total_kwh(self) -> float:
        return math.fsum(self.kwh)


def max_step_ms(device: Device) -> int:
    return int(device.interval_s * GAP_FACTOR * 1000)


def integrate(points: Sequence[Point], max_step: int, edges: Sequence[tuple[int, int]]) -> Integral:
    """kWh of ``points`` (time-ordered ``(ms, kW)``, one per time) in each ``[b0, b1)``
    of ``edges`` (contiguous, in order), by the rule of the module doc.

    Per bucket, the steps wholly inside it are summed in one tight loop; only the two
    steps that cross its edges are cut (the hot path of 10,000 devices)."""
    n = len(edges)
    kwh = [0.0] * n
    covered = [0] * n
    if n == 0 or len(points) < 2:
        return Integral(kwh, covered)
    ts = [p[0] for p in points]
    ps = [p[1] for p in points]
    last = len(ts) - 1
    for j, (b0, b1) in enumerate(edges):
        i0 = bisect_right(ts, b0)  # first reading after b0
        i1 = bisect_left(ts, b1)  # first reading at or after b1
        s = 0.0
        cov = 0
        if i1 - i0 >= 2:
            a = ts[i0:i1]
            q = ps[i0:i1]
            for t0, t1, p0, p1 in zip(a, a[1:], q, q[1:]):  # noqa: B905 (same length)
                dt = t1 - t0
                if 0 < dt <= max_step:
                    s += (p0 + p1) * dt
                    cov += dt
        e = s * 0.5
        # the step into the bucket (from before b0) and the step out of it (past b1);
        # when no reading falls inside, one step spans the bucket: cut it once
        if 1 <= i0 <= last:
            stop = i0 if i0 < i1 else i0
            k0, k1 = i0 - 1, stop
            piece, c = _piece(ts[k0], ps[k0], ts[k1], ps[k1], b0, b1, max_step)
            e += piece
            cov += c
        if i1 > i0 and 1 <= i1 <= last:
            piece, c = _piece(ts[i1 - 1], ps[i1 - 1], ts[i1], ps[i1], b0, b1, max_step)
            e += piece
            cov += c
        kwh[j] = e / MS_PER_HOUR
        covered[j] = cov
    return Integral(kwh, covered)


def _piece(
    t0: int, p0: float, t1: int, p1: float, b0: int, b1: int, max_step: int
) -> tuple[float, int]:
    """The part of the step ``(t0, p0) -> (t1, p1)`` inside ``[b0, b1)``: (kW·ms, ms)."""
    dt = t1 - t0
    if not 0 < dt <= max_step:
        return 0.0, 0
    a = max(t0, b0)
    b = min(t1, b1)
    if b <= a:
        return 0.0, 0
    slope = (p1 - p0) / dt
    return (2 * p0 + slope * (a - t0 + b - t0)) * 0.5 * (b - a), b - a


def power_points(rows: Iterable[dict], factor: float) -> list[Point]:
    """Sink rows (``{"ts", "field", "value"}``) -> ``(ms, kW)``; non-numbers dropped,
    one point per time (the last row wins)."""
    by_ts: dict[int, float] = {}
    for r in rows:
        v = r.get("value")
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            continue
        by_ts[int(r["ts"])] = float(v) * factor
    return sorted(by_ts.items())


def shape(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as the API answers them, in place: ``start`` as RFC 3339 (few distinct
    starts: each formatted once), ``kwh`` rounded to 4 decimals."""
    starts: dict[int, str | None] = {}
    for r in rows:
        t = r["start"]
        at = starts.get(t)
        if at is None:
            at = starts[t] = iso_ms(t)
        r["start"] = at
        r["kwh"] = round(r["kwh"], 4)
    return rows


def metered_devices(site: Site, system: str | None = None) -> list[Device]:
    """The site's devices whose system reports power, in file order."""
    return [
        d
        for d in site.devices
        if d.system in POWER_FIELDS and (system is None or d.system == system)
    ]


def group_key(device: Device, by: str) -> str:
    if by == "zone":
        return device.zone
    if by == "system":
        return str(device.system)
    return device.id


class EnergyReader:
    """Reads power readings from the sink and integrates them (see the module doc)."""

    def __init__(
        self,
        site: Site,
        source: PowerSource,
        clock: Clock,
        *,
        cache_size: int = 256,
        rollup: EnergyRollup | None = None,
    ):
        self.site = site
        self.source = source
        self.clock = clock
        self.rollup = rollup
        self._cache: dict[tuple[Any, ...], tuple[float, int]] = {}
        self._cache_size = cache_size
        self._gate = asyncio.Semaphore(PARALLEL_QUERIES)

    async def points(self, device: Device, start_ms: int, end_ms: int) -> list[Point]:
        """The device's power readings from one step before ``start`` to one after
        ``end`` (so steps across the edges are cut, not lost)."""
        field, factor = POWER_FIELDS[device.system]
        margin = max_step_ms(device)
        rows: list[dict] = []
        lo, hi = start_ms - margin, end_ms + margin
        t = lo
        while t < hi:
            t1 = min(hi, t + CHUNK_MS)
            rows.extend(await self._window(device.id, field, t, t1))
            t = t1
        return power_points(rows, factor)

    async def _window(self, device: str, field: str, t0: int, t1: int) -> list[dict]:
        """Readings with ``t0 <= ts < t1``, halving the window while the store's limit
        would cut it."""
        async with self._gate:
            rows = await self.source.query(device, field, t0, t1 - 1, QUERY_LIMIT)
        if len(rows) >= QUERY_LIMIT and t1 - t0 > 1:
            mid = (t0 + t1) // 2
            return [
                *await self._window(device, field, t0, mid),
                *await self._window(device, field, mid, t1),
            ]
        return rows

    async def device_integral(self, device: Device, edges: Sequence[tuple[int, int]]) -> Integral:
        if not edges:
            return Integral([], [])
        pts = await self.points(device, edges[0][0], edges[-1][1])
        return integrate(pts, max_step_ms(device), edges)

    async def series(
        self, start_ms: int, end_ms: int, by: str, step: str, *, shaped: bool = False
    ) -> list[dict[str, Any]]:
        """``[{"key", "start" (ms), "kwh"}]`` for every group and bucket some credited
        step covered, sorted by key then start; ``shaped``: as the API answers them
        (:func:`shape`)."""
        if by not in GROUPS:
            raise ValueError(f"by must be one of {', '.join(GROUPS)}")
        from gateway.figures import rollup_query  # (it imports this module)

        if self.rollup is not None and rollup_query.answers(self.rollup, start_ms, end_ms):
            return await rollup_query.series(self.rollup, start_ms, end_ms, by, step, shaped)
        edges = buckets(start_ms, end_ms, step, self.site.tz)
        devices = metered_devices(self.site)
        results = await asyncio.gather(*(self.device_integral(d, edges) for d in devices))
        sums: dict[tuple[str, int], list[float]] = {}
        for d, res in zip(devices, results, strict=True):
            key = group_key(d, by)
            for i, (b0, _) in enumerate(edges):
                if res.covered_ms[i]:
                    sums.setdefault((key, b0), []).append(res.kwh[i])
        out = [
            {"key": key, "start": b0, "kwh": math.fsum(parts)}
            for (key, b0), parts in sorted(sums.items())
        ]
        return shape(out) if shaped else out

    async def total(
        self, start_ms: int, end_ms: int, system: str | None = None
    ) -> tuple[float, int]:
        """(kWh, devices with credited steps) of ``system``'s devices in ``[start, end)``;
        cached once the period is settled."""
        key = ("total", system, start_ms, end_ms)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        from gateway.figures import rollup_query  # (it imports this module)

        if self.rollup is not None and rollup_query.answers(self.rollup, start_ms, end_ms):
            value = await rollup_query.total(self.rollup, start_ms, end_ms, system)
        else:
            edges = [(start_ms, end_ms)] if end_ms > start_ms else []
            devices = metered_devices(self.site, system)
            results = await asyncio.gather(*(self.device_integral(d, edges) for d in devices))
            parts = [r.kwh[0] for r in results if r.covered_ms and r.covered_ms[0]]
            value = (math.fsum(parts), len(parts))
        if end_ms <= self.clock.now_ms() - SETTLED_MS:
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = value
        return value

    async def window_kwh(self, device: Device, start_ms: int, end_ms: int) -> tuple[float, int]:
        """(kWh, covered ms) of one device in ``[start, end)``."""
        if end_ms <= start_ms:
            return 0.0, 0
        res = await self.device_integral(device, [(start_ms, end_ms)])
        return res.kwh[0], res.covered_ms[0]


__all__ = [
    "GAP_FACTOR",
    "POWER_FIELDS",
    "EnergyReader",
    "Integral",
    "integrate",
    "power_points",
]
