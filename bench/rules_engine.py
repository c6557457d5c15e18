"""Rule engine hot path: µs per message for ``on_telemetry`` with the default pack.

python -m bench.rules_engine [--messages 200000]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import Telemetry, Value

NOON_SH = 1_767_240_000_000  # 2026-01-01T12:00:00+08:00 is 04:00Z; any fixed time will do


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200_000)
    n = ap.parse_args().messages
    site = load_site()
    engine = RuleEngine(site, load_default_pack())
    rnd = random.Random(7)
    by_system: dict[str, list[str]] = {}
    for d in site.devices:
        by_system.setdefault(d.system, []).append(d.id)
    makers: dict[str, Callable[[], dict[str, Value]]] = {
        "hvac": lambda: {
            "zone_temp": 22 + rnd.random() * 5,
            "setpoint": 22.0,
            "supply_temp": 14.0,
            "fan": True,
            "filter_dp": 200 + rnd.random() * 80,
            "fault_code": 0.0,
            "power_kw": 3.2,
        },
        "lighting": lambda: {
            "on": True,
            "level": 80.0,
            "power_w": 120.0,
            "lamp_fault": False,
            "occupancy": rnd.random() < 0.5,
            "lamp_hours": 1000.0,
        },
        "access": lambda: {"door_open": rnd.random() < 0.3, "locked": True, "secure": True},
        "fire": lambda: {"smoke": rnd.random() * 5, "heat": 21.0},
    }
    systems = [s for s in ("hvac", "lighting", "access", "fire") if s in by_system]
    msgs = []
    for i in range(n):
        system = systems[i % len(systems)]
        devs = by_system[system]
        ts = NOON_SH + i * 250
        msgs.append(Telemetry("sc01", system, devs[i % len(devs)], ts, makers[system](), ts))
    t0 = time.perf_counter()
    hits = sum(len(engine.on_telemetry(m)) for m in msgs)
    dt = time.perf_counter() - t0
    print(
        f"on_telemetry: {dt / n * 1e6:.2f} µs/message over {n} messages ({hits} hits), "
        f"{n / dt:,.0f} messages/s on one core"
    )


if __name__ == "__main__":
    main()
