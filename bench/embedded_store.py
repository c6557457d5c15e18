"""The embedded telemetry store's write rate, CPU and disk, by the number of devices.

    python -m bench.embedded_store [--messages 200000] [--devices 4,100,1000]

Drives :class:`gateway.sinks.embedded.EmbeddedSink` as the pipeline does (``submit`` on
the event loop, batches written on its own thread, ``synchronous=FULL``) with readings of
four values (``zone_temp``, ``setpoint``, ``fan``, ``power_kw``) spread over the devices in
turn, 10 ms apart, into a new file. Prints, per device count: messages stored a second,
CPU a message (the process: encoding on the loop and SQLite on the writer thread, which
contend for the GIL with everything else the gateway does), and bytes on disk a message
(database and WAL, after a checkpoint).

The device count matters: a batch's inserts land on one B-tree page a device (and field,
in a layout of one row a value), so more devices mean more pages written a batch.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.sinks.embedded import EmbeddedSink
from rules.model import Telemetry, Value

BATCH = 5000  # the default influx_batch_size, as make_sink passes it


async def run(devices: int, messages: int, path: Path) -> dict[str, float]:
    sink = EmbeddedSink(path, Metrics(), SystemClock(), batch_size=BATCH, flush_interval=1.0)
    stored = asyncio.Event()
    sink.on_durable = lambda _seq: stored.set()
    await sink.start()
    ts0 = int(time.time() * 1000) - messages * 10
    names = [f"ahu-{d:04d}" for d in range(devices)]
    c0, t0 = time.process_time(), time.perf_counter()
    for m in range(messages):
        dev = names[m % devices]
        ts = ts0 + (m // devices) * 10
        values: dict[str, Value] = {
            "zone_temp": 22.0 + (m % 10) / 10,
            "setpoint": 22.0,
            "fan": True,
            "power_kw": 1.1,
        }
        sink.submit(Telemetry("bench", "hvac", dev, ts, values, ts), m + 1)
        if m % BATCH == BATCH - 1:
            # as the receive window does: at most a few batches ahead of the store
            while m + 1 - sink.durable_seq > 4 * BATCH:
                stored.clear()
                await stored.wait()
    await sink.flush()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await sink.stop()  # checkpoints the WAL into the file
    return {"rate": messages / wall, "cpu_us": cpu / messages * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--devices", default="4,100,1000")
    args = ap.parse_args()
    print(f"{args.messages:,} readings of 4 values, batches of {BATCH}, synchronous=FULL")
    for devices in (int(x) for x in args.devices.split(",")):
        with tempfile.TemporaryDirectory(prefix="sitewatch-emb-") as d:
            path = Path(d) / "t.db"
            r = asyncio.run(run(devices, args.messages, path))
            size = sum(os.path.getsize(p) for p in path.parent.glob(path.name + "*"))
        print(
            f"  {devices:>5} devices: {r['rate']:>9,.0f} msg/s stored, "
            f"{r['cpu_us']:5.1f} µs CPU/msg, {size / args.messages:5.0f} B/msg on disk",
            flush=True,
        )


if __name__ == "__main__":
    main()
