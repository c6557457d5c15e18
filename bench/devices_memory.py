"""Memory per known device in the rule engine (the gateway's one device store).

Lifecycle: for each size (100, 10k, 100k devices) a fresh :class:`rules.RuleEngine` is
built, then under ``tracemalloc`` every device sends three readings 60 s apart (three
fields: ``zone_temp``, ``setpoint``, ``fan``), which is what makes an unknown device
*known* (its interval is learned from the median gap); the bytes still allocated after a
``gc.collect()`` divided by the number of devices is printed. Two more rows: the same
devices named in the site file (known from the start; the site model is not counted),
and a flood of ids that sent one message each (registered, never judged offline).

Then the goal of issue 16 (at most 15 MB more for every 10,000 devices known): the
growth between the smallest and the largest size, per 10,000 devices, of each row. The
whole gateway process's peak RSS by devices known is ``python -m bench.versus_nodered
--runs 0`` (this counts the rule engine's device store alone).

Run: ``python -m bench.devices_memory`` (``--sizes 100,10000`` for a quicker run).
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from typing import Any

from rules import RuleEngine, load_default_pack
from rules.model import Telemetry, Value
from rules.pack import RulePack
from rules.site import Site

T0 = 1_767_225_600_000
SITE = {
    "site": "sc01",
    "name": "Bench",
    "timezone": "UTC",
    "zones": [{"id": "L1", "name": "Floor 1"}],
    "crews": [],
}


def _site(n_site_devices: int) -> Site:
    devices = [
        {"id": f"fcu-{i}", "system": "hvac", "type": "fcu", "zone": "L1", "interval_s": 60}
        for i in range(n_site_devices)
    ]
    return Site.model_validate({**SITE, "devices": devices})


#: issue 16: at most this many MB more for every 10,000 devices known
GOAL_MB_PER_10K = 15.0


def _measure(n: int, pack: RulePack, *, in_site: bool, readings: int) -> float:
    """Bytes still allocated after ``n`` devices sent ``readings`` readings (total)."""
    site = _site(n if in_site else 0)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine = RuleEngine(site, pack)
    for k in range(readings):
        ts = T0 + k * 60_000
        for i in range(n):
            values: dict[str, Value] = {
                "zone_temp": 21.0 + (i % 7) / 10,
                "setpoint": 22.0,
                "fan": True,
            }
            engine.on_telemetry(Telemetry("sc01", "hvac", f"fcu-{i}", ts, values, ts, zone="L1"))
    engine.tick(T0 + readings * 60_000)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    if not in_site and readings >= 3:
        assert engine.interval_known("fcu-0")
    del engine
    return float(used)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="100,10000,100000")
    args = ap.parse_args()
    pack = load_default_pack()
    kinds = ("learned", "site file", "1 message")
    rows: list[tuple[int, dict[str, Any]]] = []
    print("bytes per device (tracemalloc, after gc); total MB in brackets")
    print(f"{'devices':>8}  " + "  ".join(f"{k:>20}" for k in kinds))
    for n in (int(x) for x in args.sizes.split(",")):
        used = {
            "learned": _measure(n, pack, in_site=False, readings=3),
            "site file": _measure(n, pack, in_site=True, readings=3),
            "1 message": _measure(n, pack, in_site=False, readings=1),
        }
        rows.append((n, used))
        cells = "  ".join(f"{used[k] / n:>9,.0f} ({used[k] / 2**20:>7.1f})" for k in kinds)
        print(f"{n:>8}  {cells}", flush=True)
    if len(rows) > 1:
        (a, ua), (b, ub) = rows[0], rows[-1]
        print(f"\ngrowth per 10,000 devices ({a:,} -> {b:,}; goal <= {GOAL_MB_PER_10K:.0f} MB):")
        for k in kinds:
            slope = (ub[k] - ua[k]) / (b - a) * 10_000 / 2**20
            verdict = "meets" if slope <= GOAL_MB_PER_10K else "MISSES"
            print(f"  {k:>10}: {slope:5.1f} MB ({verdict} the goal)")


if __name__ == "__main__":
    main()
