"""How long the maintenance service's poll takes when many devices appear at once.

    python -m bench.maintenance_poll [--devices 10000]

The poll runs on the event loop once a second (gateway.maintenance.service), in slices of
one loop turn each, so a slice's time is loop lag. Prints the first poll over N new
devices and a poll with nothing new: the whole time, the slices and the longest.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.runtime import _tune_gc as tune_gc
from gateway.services import build_site
from gateway.settings import Settings
from gateway.site import load_site
from rules.model import Telemetry


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    n = ap.parse_args().devices
    tmp = tempfile.mkdtemp()
    clock = ManualClock()
    sv = build_site(
        Settings(db_url=f"sqlite:///{tmp}/s.db"),
        load_site(),
        clock,
        Metrics(),
        mqtt=None,
        publish=lambda *a: None,
    )
    now = clock.now_ms()
    for i in range(n):
        sv.engine.on_telemetry(
            Telemetry("sc01", "hvac", f"fcu-{i}", now, {"fan": True, "zone_temp": 22.0}, now)
        )
    tune_gc()  # the gateway's collector settings (the default ones collect far more often)
    for what in (f"{n:,} new devices", "nothing new"):
        slices: list[float] = []
        done = False
        while not done:  # the slices the event loop runs one a turn
            t0 = time.perf_counter()
            done = sv.maintenance._poll_slice()
            slices.append(time.perf_counter() - t0)
        print(
            f"poll over {what}: {sum(slices):.3f} s in {len(slices)} slices, "
            f"the longest (one loop turn) {max(slices) * 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
