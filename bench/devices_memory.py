"""Memory per known device in the rule engine (the gateway's one device store).

Lifecycle: for each size (1k, 10k, 100k devices) a fresh :class:`rules.RuleEngine` is
built, then under ``tracemalloc`` every device sends three readings 60 s apart (three
fields: ``zone_temp``, ``setpoint``, ``fan``), which is what makes an unknown device
*known* (its interval is learned from the median gap); the bytes still allocated after a
``gc.collect()`` divided by the number of devices is printed. Two more rows: the same
devices named in the site file (known from the start; the site model is not counted),
and a flood of ids that sent one message each (registered, never judged offline).

Run: ``python -m bench.devices_memory`` (``--sizes 1000,10000`` for a quicker run).
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

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


def _measure(n: int, pack: RulePack, *, in_site: bool, readings: int) -> float:
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
    return used / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    args = ap.parse_args()
    pack = load_default_pack()
    print("bytes per device (tracemalloc, after gc)")
    print(f"{'devices':>8}  {'learned':>10}  {'site file':>10}  {'1 message':>10}")
    for n in (int(x) for x in args.sizes.split(",")):
        learned = _measure(n, pack, in_site=False, readings=3)
        listed = _measure(n, pack, in_site=True, readings=3)
        once = _measure(n, pack, in_site=False, readings=1)
        print(f"{n:>8}  {learned:>10,.0f}  {listed:>10,.0f}  {once:>10,.0f}")


if __name__ == "__main__":
    main()
