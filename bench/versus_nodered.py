"""sitewatch against the Node-RED flow a user would build instead (issue 16).

    python -m bench.versus_nodered [--messages 100000] [--devices 100] [--runs 2]
                                   [--memory-devices 100,10000,100000] [--no-memory]

The Node-RED flow (bench/nodered/): ``mqtt in`` (QoS 1, MQTT 5, JSON) -> a function
node with the default pack's HVAC rules (bench/nodered/rules.js) -> ``join`` 1,000 ->
``influxdb batch`` (node-red-contrib-influxdb) into InfluxDB 1.6; alarms -> ``mqtt out``.
``node-red`` and ``node-red-contrib-influxdb`` are installed with Debian's ``npm`` into
bench/nodered/node_modules the first time (never committed).

One private InfluxDB 1.6 for the whole run (the ``sitewatch`` database dropped and made
anew before each run), a fresh private Mosquitto per run (no session of one run lingers
into the next). The same ``--messages`` QoS 1 messages from ``--devices`` devices
(``mosquitto_pub -l``, bench.throughput's streams) go to each system in turn, Node-RED
and sitewatch alternating, ``--runs`` times each; a run is timed from the first publish
until InfluxDB counts every point (``lost`` = points missing at the timeout). Per run:
msg/s, lost, the process's peak RSS (VmHWM), its CPU per message, and the machine's load
average. Prints the medians and their ratio.

Memory by devices known (sitewatch only): ``--memory-devices`` runs, each with
``max(--messages, 2 x devices)`` messages spread over that many devices by a paho
publisher, reporting VmHWM; the growth per 10,000 devices is the slope between the
first and the last. Only 127.0.0.1 is used; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from bench.services import Broker, InfluxServer, start_influxd, start_mosquitto
from bench.throughput import (
    SITE,
    cpu_seconds,
    influx_count,
    make_streams,
    peak_rss_mb,
    publish_all,
    run_sitewatch,
)
from tests.fixtures.mqtt import free_port

NODERED = Path(__file__).with_name("nodered")
#: issue 16: at least this many times Node-RED's rate, at most this share of its peak RSS,
#: at most this many MB more for every 10,000 devices known
GOAL_RATE = 1.5
GOAL_MEMORY = 0.5
GOAL_MB_PER_10K = 15.0

# many devices, few messages each: one paho publisher (mosquitto_pub -l has one topic)
MANY = r"""
import json, sys, time, paho.mqtt.client as mqtt
port, site, n, devices = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-many", protocol=mqtt.MQTTv5)
c.max_inflight_messages_set(1000)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
while not c.is_connected():
    time.sleep(0.01)
last = None
for i in range(n):
    if i % 500 == 499:
        last.wait_for_publish(600)  # a bounded backlog in this publisher
    d = i % devices
    body = {"ts": 1767225600000 + (i // devices) * 1000,
            "values": {"zone_temp": 22.0 + d % 7 / 10, "setpoint": 22, "fan": True,
                       "filter_dp": 120, "fault_code": 0, "power_kw": 1.2}}
    last = c.publish(f"sitewatch/{site}/hvac/fcu-{d:06d}/telemetry", json.dumps(body), qos=1)
last.wait_for_publish(600)
c.disconnect(); c.loop_stop()
"""


def ensure_nodered() -> Path:
    red = NODERED / "node_modules" / "node-red" / "red.js"
    if not red.exists():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund"], cwd=NODERED, check=True, timeout=900
        )
    return red


def influx_query(influx: InfluxServer, q: str) -> None:
    data = urllib.parse.urlencode({"q": q}).encode()
    with urllib.request.urlopen(f"{influx.url}/query", data=data, timeout=10) as r:
        r.read()


def fresh_database(influx: InfluxServer) -> None:
    influx_query(influx, "DROP DATABASE sitewatch")
    influx_query(influx, "CREATE DATABASE sitewatch")


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_stored(influx: InfluxServer, n: int, timeout: float) -> int:
    stored = 0
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            stored = influx_count(influx)
        except TimeoutError:  # InfluxDB counting 100,000 series on a loaded machine
            continue
        if stored >= n:
            break
        time.sleep(0.05)
    return stored


def run_nodered(
    red: Path,
    broker: Broker,
    influx: InfluxServer,
    streams: list[Any],
    n: int,
    tmp: Path,
    timeout: float,
) -> dict[str, Any]:
    user = tmp / "nodered"
    user.mkdir()
    (user / "node_modules").symlink_to(NODERED / "node_modules")
    subprocess.run(["node", str(NODERED / "make_flow.js"), str(user / "flows.json")], check=True)
    env = dict(os.environ)
    env.update(
        MQTT_PORT=str(broker.port),
        INFLUX_PORT=str(urllib.parse.urlsplit(influx.url).port),
        NODE_RED_PORT=str(free_port()),
    )
    log = (tmp / "nodered.log").open("wb")
    proc = subprocess.Popen(
        ["node", str(red), "--userDir", str(user), "--settings", str(NODERED / "settings.js")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=user,
    )
    try:
        deadline = time.monotonic() + 60
        while b"Connected to broker" not in (tmp / "nodered.log").read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"Node-RED did not start, see {tmp}/nodered.log")
            time.sleep(0.1)
        time.sleep(0.5)  # its subscription
        cpu0 = cpu_seconds(proc.pid)
        t0 = publish_all(broker, streams)
        stored = wait_stored(influx, n, timeout)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid) - cpu0
        return {"elapsed": elapsed, "stored": stored, "rss_mb": peak_rss_mb(proc.pid), "cpu": cpu}
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()


def one_run(
    system: str,
    red: Path,
    influx: InfluxServer,
    streams: list[Any],
    n: int,
    root: Path,
    i: int,
    timeout: float,
) -> dict[str, Any]:
    tmp = root / f"{system}-{i}"
    tmp.mkdir()
    fresh_database(influx)
    broker = start_mosquitto(tmp)
    load = loadavg()
    try:
        if system == "nodered":
            r = run_nodered(red, broker, influx, streams, n, tmp, timeout)
        else:
            sw = run_sitewatch(broker, influx, streams, n, tmp, timeout)
            r = {
                "elapsed": sw["elapsed"],
                "stored": sw["stored"],
                "rss_mb": sw["rss_mb"],
                "cpu": sw["cpu"]["gateway"],
            }
    finally:
        broker.stop()
    r["rate"] = n / r["elapsed"]
    r["lost"] = n - r["stored"]
    r["us_per_msg"] = 1e6 * r["cpu"] / n
    r["load"] = load
    print(
        f"  {system:9s} run {i}: {r['rate']:8,.0f} msg/s, lost {r['lost']}, peak RSS "
        f"{r['rss_mb']:.0f} MB, CPU {r['us_per_msg']:.0f} us/msg, load {load:.1f}",
        flush=True,
    )
    return r


def memory_run(
    influx: InfluxServer, devices: int, messages: int, root: Path, timeout: float
) -> dict[str, Any]:
    """sitewatch fed ``messages`` over ``devices`` devices: its peak RSS once all are stored."""
    tmp = root / f"memory-{devices}"
    tmp.mkdir()
    fresh_database(influx)
    broker = start_mosquitto(tmp)
    port = free_port()
    env = dict(os.environ)
    env.update(
        SITEWATCH_MQTT_URL=broker.url,
        SITEWATCH_MQTT_CLIENT_ID="bench-mem",
        SITEWATCH_INFLUX_URL=influx.url,
        SITEWATCH_INFLUX_API="v1",
        SITEWATCH_SITE=SITE,
        SITEWATCH_API_TOKENS="admin=bench-admin-token",
        SITEWATCH_HTTP_BIND=f"127.0.0.1:{port}",
        SITEWATCH_DB_URL=f"sqlite:///{tmp}/state.db",
        SITEWATCH_MAX_DEVICES=str(max(2 * devices, 1000)),
    )
    log = (tmp / "gateway.log").open("wb")
    gw = subprocess.Popen([sys.executable, "-m", "sitewatch", "run"], env=env, cwd=tmp, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                url = f"http://127.0.0.1:{port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if json.load(r)["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or gw.poll() is not None:
                raise RuntimeError(f"gateway did not start, see {tmp}/gateway.log")
            time.sleep(0.1)
        idle = peak_rss_mb(gw.pid)
        subprocess.run(
            [sys.executable, "-c", MANY, str(broker.port), SITE, str(messages), str(devices)],
            check=True,
            timeout=timeout,
        )
        stored = wait_stored(influx, messages, timeout)
        rss = peak_rss_mb(gw.pid)
    finally:
        gw.terminate()
        try:
            gw.wait(60)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait(10)
        log.close()
        broker.stop()
    lost = messages - stored
    print(
        f"  sitewatch, {devices:,} devices ({messages:,} messages): peak RSS {rss:.0f} MB "
        f"(started: {idle:.0f} MB), lost {lost}",
        flush=True,
    )
    return {"devices": devices, "messages": messages, "rss_mb": rss, "idle_mb": idle, "lost": lost}


def med(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def spread(runs: list[dict[str, Any]], key: str, fmt: str = ",.0f") -> str:
    vals = [r[key] for r in runs]
    return f"{min(vals):{fmt}}-{max(vals):{fmt}}"


def report(runs: dict[str, list[dict[str, Any]]], n: int, args: argparse.Namespace) -> None:
    nr, sw = runs["nodered"], runs["sitewatch"]
    ratio = med(sw, "rate") / med(nr, "rate")
    ratios = [s["rate"] / r["rate"] for s, r in zip(sw, nr, strict=True)]
    mem_ratio = med(sw, "rss_mb") / med(nr, "rss_mb")
    print()
    print(
        "| workload | Node-RED msg/s | sitewatch msg/s | ratio | lost (NR / sw) | peak RSS NR | "
        "peak RSS sw | CPU/msg NR | CPU/msg sw | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {n:,} QoS 1 msgs, {args.devices} devices, median of {args.runs} "
        f"| {med(nr, 'rate'):,.0f} ({spread(nr, 'rate')}) "
        f"| {med(sw, 'rate'):,.0f} ({spread(sw, 'rate')}) "
        f"| **{ratio:.2f}x** (per pair {min(ratios):.2f}-{max(ratios):.2f}) "
        f"| {sum(r['lost'] for r in nr)} / {sum(r['lost'] for r in sw)} "
        f"| {med(nr, 'rss_mb'):.0f} MB | {med(sw, 'rss_mb'):.0f} MB ({mem_ratio:.2f}x) "
        f"| {med(nr, 'us_per_msg'):.0f} us | {med(sw, 'us_per_msg'):.0f} us "
        f"| {spread(nr + sw, 'load', '.1f')} |"
    )
    print(
        f"\ngoals (issue 16): rate >= {GOAL_RATE}x Node-RED's: {ratio:.2f}x "
        f"({'met' if ratio >= GOAL_RATE else 'NOT met'}); peak RSS <= {GOAL_MEMORY}x: "
        f"{mem_ratio:.2f}x ({'met' if mem_ratio <= GOAL_MEMORY else 'NOT met'})"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--runs", type=int, default=2, help="runs of each system (alternating)")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--memory-devices", default="100,10000,100000")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args(argv)
    red = ensure_nodered()
    n = args.messages // args.devices * args.devices
    runs: dict[str, list[dict[str, Any]]] = {"nodered": [], "sitewatch": []}
    mem: list[dict[str, Any]] = []
    load0 = loadavg()
    with tempfile.TemporaryDirectory(prefix="sw-vs-nr-") as d:
        root = Path(d)
        (root / "influx").mkdir()
        influx = start_influxd(root / "influx")
        try:
            streams = make_streams(root, n, args.devices)
            print(
                f"{n:,} QoS 1 messages from {args.devices} devices, {args.runs} runs each, "
                f"alternating; load average at the start {load0:.1f} on {os.cpu_count()} CPUs"
            )
            for i in range(args.runs):
                order = ("nodered", "sitewatch") if i % 2 == 0 else ("sitewatch", "nodered")
                for system in order:
                    runs[system].append(
                        one_run(system, red, influx, streams, n, root, i, args.timeout)
                    )
            if args.runs:
                report(runs, n, args)
            if not args.no_memory:
                for dev in (int(x) for x in args.memory_devices.split(",")):
                    mem.append(
                        memory_run(influx, dev, max(args.messages, 2 * dev), root, args.timeout)
                    )
        finally:
            influx.stop()
    nr, sw = runs["nodered"], runs["sitewatch"]
    if mem:
        print()
        print("| devices known | messages | sitewatch peak RSS | after start | lost |")
        print("|---|---|---|---|---|")
        for m in mem:
            print(
                f"| {m['devices']:,} | {m['messages']:,} | {m['rss_mb']:.0f} MB "
                f"| {m['idle_mb']:.0f} MB | {m['lost']} |"
            )
        print()
        for a, b in zip(mem, mem[1:], strict=False):
            slope = (b["rss_mb"] - a["rss_mb"]) / (b["devices"] - a["devices"]) * 10_000
            print(
                f"growth: {slope:.1f} MB per 10,000 devices ({a['devices']:,} -> "
                f"{b['devices']:,}; goal <= {GOAL_MB_PER_10K:.0f} MB: "
                f"{'met' if slope <= GOAL_MB_PER_10K else 'NOT met'})"
            )
    print(json.dumps({"nodered": nr, "sitewatch": sw, "memory": mem}, default=str), file=sys.stderr)
    lost = sum(r["lost"] for r in nr + sw) + sum(m["lost"] for m in mem)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    shutil.which("node") or sys.exit("node (Debian's nodejs) is needed")
    sys.exit(main())
