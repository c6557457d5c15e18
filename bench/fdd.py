"""Fault detection on the simulated sales centre: confusion matrix, energy, cost per message.

python -m bench.fdd [--days 7]

Lifecycle: each run builds the simulation of the sales centre with AHU-1's points on
(``simulators.ahu``), injects one fault (or none) into AHU-1 at a fixed time of a chosen
season, and replays AHU-1's readings through a rule engine running ``default,fdd`` on the
readings' own timestamps (the engine's delays complete at ``tick`` on the same injected
clock), so a week of operation takes seconds and no test waits on the wall clock.
:func:`run_case` is what the tests call; :func:`main` prints the confusion matrix (rows:
injected fault, columns: fault conditions raised), each fault's detection time and the
``waste_kw`` its alarms carried, and the engine's cost per AHU message with and without the
fdd pack.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.clock import ManualClock
from gateway.site import load_site
from rules import RuleEngine
from rules.model import RuleHit, Telemetry
from rules.pack import load_packs
from rules.site import Site
from simulators import Simulation

TZ = ZoneInfo("Asia/Shanghai")
AHU = "ahu-01"


def local(y: int, mo: int, d: int, h: int = 0) -> float:
    return datetime(y, mo, d, h, tzinfo=TZ).timestamp()


#: fault -> (injected at, the fault conditions expected to detect it). The season is the
#: one where the fault shows in the points we have (see the README's table).
CASES: dict[str, tuple[float, tuple[str, ...]]] = {
    "heat_valve_stuck": (local(2026, 1, 14, 8), ("fdd.ahu.fc07",)),
    "cool_valve_stuck": (local(2026, 7, 22, 10), ("fdd.ahu.fc13",)),
    "heat_valve_leak": (local(2026, 7, 22, 10), ("fdd.ahu.fc13",)),
    "damper_stuck": (local(2026, 4, 15, 10), ("fdd.ahu.fc10",)),
    "mat_bias": (local(2026, 4, 15, 10), ("fdd.ahu.fc10",)),
    "sat_drift": (local(2026, 1, 14, 9), ("fdd.ahu.fc08",)),
    "fan_failed": (local(2026, 7, 22, 10), ("fdd.ahu.fc01",)),
    "hunting": (local(2026, 1, 14, 10), ("fdd.ahu.fc04",)),
    "heat_cool": (local(2026, 7, 22, 10), ("fdd.ahu.apar22",)),
}
#: the fault-free weeks: one per season
CLEAN_STARTS = (
    local(2026, 1, 12),
    local(2026, 4, 13),
    local(2026, 7, 20),
    local(2026, 10, 19),
)


@dataclass
class Result:
    fault: str | None
    injected_at: float
    hits: list[RuleHit] = field(default_factory=list)
    messages: int = 0

    @property
    def raised(self) -> dict[str, RuleHit]:
        """The first raise of each fdd rule."""
        out: dict[str, RuleHit] = {}
        for h in self.hits:
            if h.active and h.rule.startswith("fdd.") and h.rule not in out:
                out[h.rule] = h
        return out


def ahu_readings(
    site: Site,
    start: float,
    hours: float,
    fault: str | None,
    at: float,
    every_device: bool = False,
) -> list[Telemetry]:
    """AHU-1's readings (or, ``every_device``, the whole site's) from ``start`` for
    ``hours``, ``fault`` injected at ``at``."""
    sim = Simulation(site, clock=ManualClock(start), start=start, ahu_points=True)
    out: list[Telemetry] = []
    end = start + hours * 3600

    def take(until: float) -> None:
        for topic, payload, _, _ in sim.generate(until):
            parts = topic.split("/")
            if parts[4] != "telemetry" or (parts[3] != AHU and not every_device):
                continue
            body = json.loads(payload)
            values = body.get("values", body)
            values = {k: v for k, v in values.items() if k != "ts"}
            ts = int(body["ts"])
            out.append(Telemetry("sc01", parts[2], parts[3], ts, values, ts))

    if fault is not None and start <= at < end:
        take(at)
        sim.inject(f"ahu_{fault}", AHU)
    take(end)
    return out


def replay(site: Site, packs: str, readings: list[Telemetry]) -> list[RuleHit]:
    """The readings through an engine running ``packs``, ticking on their timestamps."""
    engine = RuleEngine(site, load_packs(packs))
    hits: list[RuleHit] = []
    for t in readings:
        hits.extend(engine.on_telemetry(t))
        hits.extend(engine.tick(t.ts_ms))
    return hits


def run_case(fault: str | None, start: float | None = None, hours: float = 14.0) -> Result:
    """One fault injected at its season's time (or ``start``), or a fault-free run."""
    site = load_site()
    if fault is None:
        at = start if start is not None else CLEAN_STARTS[0]
        readings = ahu_readings(site, at, hours, None, at)
    else:
        at = CASES[fault][0] if start is None else start
        readings = ahu_readings(site, at - 3600, hours, fault, at)
    return Result(fault, at, replay(site, "default,fdd", readings), len(readings))


def cost_per_message(readings: list[Telemetry], packs: str) -> float:
    """Microseconds of ``on_telemetry`` per AHU reading (best of three)."""
    site = load_site()
    best = float("inf")
    for _ in range(3):
        engine = RuleEngine(site, load_packs(packs))
        t0 = time.perf_counter()
        for t in readings:
            engine.on_telemetry(t)
        best = min(best, time.perf_counter() - t0)
    return best / len(readings) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=7.0)
    days = ap.parse_args().days
    rules = sorted({r for _, exp in CASES.values() for r in exp} | {"other"})
    print(f"fault-free: {days:g} simulated days from each season's Monday")
    false_alarms = 0
    for s in CLEAN_STARTS:
        r = run_case(None, s, hours=24 * days)
        false_alarms += len(r.raised)
        day = datetime.fromtimestamp(s, TZ).date()
        print(f"  {day}: {r.messages} AHU readings, FDD alarms: {sorted(r.raised) or 'none'}")
    print()
    head = (
        "| injected fault | "
        + " | ".join(x.removeprefix("fdd.ahu.") for x in rules)
        + " | detected after | waste_kw |"
    )
    print(head)
    print("|" + "---|" * (len(rules) + 3))
    for fault, (_, expected) in CASES.items():
        r = run_case(fault)
        raised = r.raised
        cells = []
        for rid in rules:
            if rid == "other":
                n = len([x for x in raised if x not in rules])
                cells.append(str(n) if n else "")
            else:
                mark = "1" if rid in raised else ""
                cells.append(f"**{mark or 0}**" if rid in expected else mark)
        first = raised.get(expected[0])
        after = f"{(first.ts_ms / 1000 - r.injected_at) / 60:.0f} min" if first else "missed"
        waste = first.context.get("waste_kw") if first else None
        print(f"| {fault} | " + " | ".join(cells) + f" | {after} | {waste} |")
    print(
        f"| none ({len(CLEAN_STARTS)} × {days:g} days) | "
        + " | ".join("" for _ in rules)
        + f" | {false_alarms} alarms | |"
    )
    print()
    site = load_site()
    readings = ahu_readings(site, CLEAN_STARTS[1], 48.0, None, CLEAN_STARTS[1])
    base = cost_per_message(readings, "default")
    fdd = cost_per_message(readings, "default,fdd")
    print(
        f"engine cost per AHU reading: default {base:.1f} µs, "
        f"default+fdd {fdd:.1f} µs ({fdd / base:.2f}×)"
    )
    every = ahu_readings(site, CLEAN_STARTS[1], 24.0, None, CLEAN_STARTS[1], every_device=True)
    base = cost_per_message(every, "default")
    fdd = cost_per_message(every, "default,fdd")
    print(
        f"engine cost per message of the whole site ({len(every)} readings in a day): "
        f"default {base:.1f} µs, default+fdd {fdd:.1f} µs ({fdd / base:.2f}×)"
    )


if __name__ == "__main__":
    main()
