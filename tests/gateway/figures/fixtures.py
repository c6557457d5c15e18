"""Fixtures of the figures tests: a small site, power profiles with a known integral, a
power source that answers like a sink, and a 90-day state store."""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from rules.site import Site

H = 3_600_000
MIN = 60_000
#: 2026-08-03 00:00 Asia/Shanghai (a Monday), in epoch ms
T0 = 1_785_686_400_000


def small_site(scorecard: dict[str, Any] | None = None) -> Site:
    data: dict[str, Any] = {
        "site": "t1",
        "name": "Test site",
        "timezone": "Asia/Shanghai",
        "zones": [
            {"id": "lobby", "name": "Lobby"},
            {"id": "flat", "name": "Show flat"},
            {"id": "plant", "name": "Plant room"},
        ],
        "devices": [
            {
                "id": "lt-1",
                "system": "lighting",
                "type": "lighting_circuit",
                "zone": "lobby",
                "interval_s": 60,
            },
            {
                "id": "lt-2",
                "system": "lighting",
                "type": "lighting_circuit",
                "zone": "flat",
                "interval_s": 60,
            },
            {"id": "fcu-1", "system": "hvac", "type": "fcu", "zone": "flat", "interval_s": 300},
            {
                "id": "door-1",
                "system": "access",
                "type": "door",
                "zone": "lobby",
                "interval_s": 300,
            },
        ],
        "crews": [
            {"id": "hvac", "name": "HVAC", "members": [{"id": "h1", "name": "H One"}]},
            {"id": "electrical", "name": "Electrical", "members": [{"id": "e1", "name": "E One"}]},
            {"id": "cleaning", "name": "Cleaning", "members": [{"id": "c1", "name": "C One"}]},
        ],
    }
    if scorecard is not None:
        data["scorecard"] = scorecard
    return Site.model_validate(data)


Profile = Callable[[float], float]  # epoch ms -> kW


def office_lights(rated_kw: float) -> Profile:
    """On 08:30-18:30 site time (UTC+8) with a slow swell; off otherwise."""

    def p(t: float) -> float:
        hour = ((t / H) + 8) % 24
        if not 8.5 <= hour < 18.5:
            return 0.0
        return rated_kw * (0.9 + 0.1 * math.sin(2 * math.pi * t / (3 * H)))

    return p


def fan_coil(t: float) -> float:
    """A fan-coil's compressor cycling smoothly between 0.3 and 1.1 kW."""
    return 0.7 + 0.4 * math.sin(2 * math.pi * t / (2 * H))


def exact(profile: Profile, a: float, b: float, dt_ms: float = 1000.0) -> float:
    """kWh of ``profile`` over [a, b] by the midpoint rule at 1 s (the ground truth)."""
    n = max(1, int((b - a) / dt_ms))
    h = (b - a) / n
    return math.fsum(profile(a + (i + 0.5) * h) for i in range(n)) * h / H


def sample(
    profile: Profile,
    start: int,
    end: int,
    every_ms: int,
    *,
    jitter_ms: int = 0,
    gap: tuple[int, int] | None = None,
    seed: int = 1,
) -> list[tuple[int, float]]:
    """Readings every ``every_ms`` (± jitter), none inside ``gap``."""
    rng = random.Random(seed)
    out = []
    t = start
    while t <= end:
        ts = t + (rng.randint(-jitter_ms, jitter_ms) if jitter_ms else 0)
        if gap is None or not gap[0] <= ts < gap[1]:
            out.append((ts, profile(ts)))
        t += every_ms
    return out


def covered_truth(profile: Profile, points: list[tuple[int, float]], max_step: int) -> float:
    """The ground truth over the time the readings cover: every stretch between two
    readings not further apart than ``max_step`` (what a meter that saw the readings
    can vouch for); a gap's energy is not known and not counted."""
    total = 0.0
    for (a, _), (b, _) in zip(points, points[1:], strict=False):
        if 0 < b - a <= max_step:
            total += exact(profile, a, b, dt_ms=5000.0)
    return total


class FakeSink:
    """Answers ``query`` like a sink: ``start <= ts <= end``, the latest ``limit``."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.calls = 0

    def add(self, device: str, field: str, points: list[tuple[int, float]], factor: float = 1.0):
        rows = self.rows.setdefault((device, field), [])
        rows.extend((ts, v * factor) for ts, v in points)
        rows.sort()

    async def query(self, device, field, start_ms, end_ms, limit=10000) -> list[dict]:
        self.calls += 1
        stored = self.rows.get((device, field), [])
        lo = 0 if start_ms is None else bisect_left(stored, (start_ms, -math.inf))
        hi = len(stored) if end_ms is None else bisect_right(stored, (end_ms, math.inf))
        rows = [{"ts": ts, "field": field, "value": v} for ts, v in stored[lo:hi]]
        return rows[-limit:]
