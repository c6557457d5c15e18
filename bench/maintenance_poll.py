"""How long the maintenance service's poll takes when many devices appear at once.

    python -m bench.maintenance_poll [--devices 10000]

The poll runs on the event loop once a second (gateway.maintenance.service), so its time is
loop lag. Prints the first poll over N new devices and a poll with nothing new.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from gateway.clock import ManualClock
from gateway.metrics import Metrics
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
    t0 = time.perf_counter()
    sv.maintenance.poll()
    t1 = time.perf_counter()
    sv.maintenance.poll()
    t2 = time.perf_counter()
    print(
        f"first poll over {n:,} new devices: {t1 - t0:.3f} s; "
        f"next poll with nothing new: {(t2 - t1) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
