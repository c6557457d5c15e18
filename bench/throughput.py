"""Throughput benchmark: N telemetry messages from M devices, end to end.

    python -m bench.throughput [--messages 100000] [--devices 100]

Starts a private Mosquitto (no queue limit) and a private InfluxDB 1.6, then in one run:

1. baseline: a bare paho-mqtt subscriber (QoS 1, MQTT 5) that only receives and parses
   (``json.loads``) the stream, timed from the first publish to the last message;
2. sitewatch: ``sitewatch run`` (a subprocess, as users run it) against the same broker
   and InfluxDB, timed from the first publish until every point is stored in InfluxDB.

Publishing is done by M ``mosquitto_pub -l -q 1`` processes in parallel (C, not the
bottleneck). Prints messages/s of both, their ratio, points lost, the gateway's peak
memory (VmHWM) and its CPU per message (user and system).

    python -m bench.throughput --in-process [--repeats 5]

The ingest hot path alone, in this process, no services: the same readings as MQTT 5
QoS 1 PUBLISH bytes cut in 64 KiB reads -> :class:`gateway.mqtt_codec.PacketReader` ->
:class:`gateway.pipeline.Pipeline` (the contract decoder behind the device limits, the
rules stage with the default pack, a line-protocol sink whose write goes nowhere) ->
ordered acks. Prints the CPU per message of each repeat (``time.process_time``); every
message must be encoded and acknowledged.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.services import Broker, InfluxServer, start_influxd, start_mosquitto
from tests.fixtures.mqtt import free_port

SITE = "bench"
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def readings(messages: int, devices: int) -> list[tuple[str, list[bytes]]]:
    """Per device: its topic and its readings (JSON), the same for every run."""
    per = messages // devices
    rnd = random.Random(7)
    out = []
    for d in range(devices):
        dev = f"fcu-{d:04d}"
        temp = 22.0 + rnd.random()
        lines = []
        for i in range(per):
            temp += rnd.uniform(-0.05, 0.05)
            values = {
                "zone_temp": round(temp, 2),
                "setpoint": 22,
                "fan": True,
                "filter_dp": 120 + i % 50,
                "fault_code": 0,
                "power_kw": 1.2,
            }
            lines.append(json.dumps({"ts": T0_MS + i * 1000, "values": values}).encode())
        out.append((f"sitewatch/{SITE}/hvac/{dev}/telemetry", lines))
    return out


def make_streams(tmp: Path, messages: int, devices: int) -> list[tuple[str, Path, int]]:
    out = []
    for topic, lines in readings(messages, devices):
        path = tmp / f"{topic.split('/')[3]}.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        out.append((topic, path, len(lines)))
    return out


def pub_lines_argv(port: int, topic: str) -> list[str]:
    """``mosquitto_pub`` publishing each line of its stdin to ``topic`` (QoS 1, MQTT 5)."""
    return [
        "mosquitto_pub",
        *("-h", "127.0.0.1", "-p", str(port)),
        *("-q", "1", "-V", "mqttv5", "-t", topic, "-l"),
    ]


def publish_all(broker: Broker, streams: list[tuple[str, Path, int]]) -> float:
    t0 = time.perf_counter()
    procs = []
    for topic, path, _ in streams:
        f = path.open("rb")
        procs.append(subprocess.Popen(pub_lines_argv(broker.port, topic), stdin=f))
    for p in procs:
        p.wait()
    return t0


BASELINE = r"""
import json, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, n = int(sys.argv[1]), int(sys.argv[2])
got = 0
def on_message(c, u, m):
    global got
    json.loads(m.payload)
    got += 1
    if got == n:
        print(time.perf_counter(), flush=True)
        c.disconnect()
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=mqtt.MQTTv5)
c.on_message = on_message
p = Properties(PacketTypes.CONNECT); p.ReceiveMaximum = 65535
c.connect("127.0.0.1", port, properties=p)
c.subscribe("sitewatch/bench/#", qos=1)
c.loop_start(); time.sleep(0.5); print("ready", flush=True)
c._thread.join()
"""


def run_baseline(broker: Broker, streams: list[tuple[str, Path, int]], n: int) -> float:
    p = subprocess.Popen(
        [sys.executable, "-c", BASELINE, str(broker.port), str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    t0 = publish_all(broker, streams)
    end = float(p.stdout.readline())
    p.wait(30)
    return end - t0


def influx_count(influx: InfluxServer) -> int:
    q = urllib.parse.urlencode(
        {"db": "sitewatch", "q": f"SELECT count(zone_temp) FROM hvac WHERE site='{SITE}'"}
    )
    with urllib.request.urlopen(f"{influx.url}/query?{q}", timeout=30) as r:
        data = json.load(r)
    series = data["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (its reaped children included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ticks = [int(x) for x in fields[11:15]]  # utime, stime, cutime, cstime
    hz = os.sysconf("SC_CLK_TCK")
    return (ticks[0] + ticks[2]) / hz, (ticks[1] + ticks[3]) / hz


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summarize_profile(raw: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks -> the functions where the gateway spent its time."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        total += c
        frames = stack.split(";")
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].rsplit(":", 1)[0] + ")" if " (" in f else f
            for f in frames
        ]
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + c
        for f in set(frames):
            incl[f] = incl.get(f, 0) + c
    out = [f"{total} samples; self time:"]
    for f, c in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * c / total:5.1f}%  {f}")
    out.append("inclusive:")
    for f, c in sorted(incl.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * c / total:5.1f}%  {f}")
    return "\n".join(out)


def run_sitewatch(
    broker: Broker,
    influx: InfluxServer,
    streams: list[tuple[str, Path, int]],
    n: int,
    tmp: Path,
    timeout: float,
    profile: bool = False,
    profile_top: int = 25,
) -> dict:
    port = free_port()
    env = dict(os.environ)
    env.update(
        SITEWATCH_MQTT_URL=broker.url,
        SITEWATCH_MQTT_CLIENT_ID="bench-gw",
        SITEWATCH_INFLUX_URL=influx.url,
        SITEWATCH_INFLUX_API="v1",
        SITEWATCH_SITE=SITE,
        SITEWATCH_API_TOKENS="admin=bench-admin-token",
        SITEWATCH_HTTP_BIND=f"127.0.0.1:{port}",
        SITEWATCH_DB_URL=f"sqlite:///{tmp}/state.db",
    )
    gw = subprocess.Popen(
        [sys.executable, "-m", "sitewatch", "run"],
        env=env,
        cwd=tmp,
        stderr=open(tmp / "gateway.log", "wb"),
    )  # noqa: SIM115
    try:
        deadline = time.monotonic() + 90  # a loaded machine starts it slowly
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if json.load(r)["status"] == "ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or gw.poll() is not None:
                raise RuntimeError(f"gateway did not start, see {tmp}/gateway.log")
            time.sleep(0.1)
        spy = None
        if profile:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    str(tmp / "profile.txt"),
                    "-p",
                    str(gw.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        assert broker.proc is not None and influx.proc is not None
        split0 = cpu_split(gw.pid)
        cpu0 = {
            "gateway": cpu_seconds(gw.pid),
            "mosquitto": cpu_seconds(broker.proc.pid),
            "influxd": cpu_seconds(influx.proc.pid),
        }
        t0 = publish_all(broker, streams)
        stored = 0
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            stored = influx_count(influx)
            if stored >= n:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        split1 = cpu_split(gw.pid)
        cpu = {
            "gateway": cpu_seconds(gw.pid) - cpu0["gateway"],
            "gateway_user": split1[0] - split0[0],
            "gateway_system": split1[1] - split0[1],
            "mosquitto": cpu_seconds(broker.proc.pid) - cpu0["mosquitto"],
            "influxd": cpu_seconds(influx.proc.pid) - cpu0["influxd"],
        }
        prof = ""
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
            prof = summarize_profile(tmp / "profile.txt", profile_top)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        return {
            "elapsed": elapsed,
            "stored": stored,
            "rss_mb": peak_rss_mb(gw.pid),
            "metrics": metrics,
            "profile": prof,
            "cpu": cpu,
        }
    finally:
        gw.terminate()
        gw.wait(20)


def _sample(metrics: str, name: str) -> float:
    """One unlabelled sample of a Prometheus text exposition (0 when absent)."""
    for line in metrics.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def in_process(messages: int, devices: int, repeats: int) -> list[float]:
    """CPU µs per message of the hot path, once per repeat (see the module docstring)."""
    import asyncio
    import gc

    from bench.fuzz_pipeline import Alarms, State
    from gateway.clock import SystemClock
    from gateway.decode import ContractDecoder
    from gateway.limits import BoundedDecoder
    from gateway.metrics import Metrics
    from gateway.mqtt_codec import PacketReader, encode_remaining_length
    from gateway.pipeline import Pipeline
    from gateway.rules_stage import RulesStage
    from gateway.sinks.buffered import LineProtocolSink
    from gateway.site import load_site
    from rules import RuleEngine, load_default_pack

    class Nowhere(LineProtocolSink):
        written = 0

        async def _write(self, points: list[str]) -> None:
            self.written += len(points)

    class Link:
        name, generation, acked = "main", 0, 0

        def ack_many(self, mids: list[int]) -> None:
            self.acked += len(mids)

    packets: list[bytes] = []
    per_device = readings(messages, devices)
    for i in range(len(per_device[0][1])):  # devices interleaved, as a broker sends them
        for topic, lines in per_device:
            t, mid = topic.encode(), len(packets) % 65535 + 1
            body = len(t).to_bytes(2, "big") + t + mid.to_bytes(2, "big") + b"\0" + lines[i]
            packets.append(b"\x32" + encode_remaining_length(len(body)) + body)
    data, n = b"".join(packets), len(packets)

    async def once() -> float:
        site = load_site().model_copy(update={"site": SITE})
        clock, metrics = SystemClock(), Metrics()
        engine = RuleEngine(site, load_default_pack())
        rules = RulesStage(engine, Alarms(), None, State(), clock, SITE)  # type: ignore[arg-type]
        rules.restore()
        sink = Nowhere(metrics)
        await sink.start()
        decoder = BoundedDecoder(ContractDecoder(SITE), engine.devices)
        pipe = Pipeline(SITE, decoder, sink, metrics, clock, processors=[rules], ack_gate=rules)
        rules.release = pipe.ack_held
        link = Link()
        pipe.add_link(link)  # type: ignore[arg-type]
        reader = PacketReader(v5=True)
        gc.collect()
        t0 = time.process_time()
        for off in range(0, len(data), 65536):  # the link's reads
            reader.feed(data[off : off + 65536])
            while (pkt := reader.next()) is not None:
                pipe.on_message(link, pkt)  # type: ignore[arg-type]
            await asyncio.sleep(0)
        cpu = time.process_time() - t0
        await sink.flush()
        for _ in range(500):  # the rules stage's save releases the last acks
            if link.acked == n:
                break
            await asyncio.sleep(0.01)
        await sink.stop()
        if sink.written != n or link.acked != n:
            raise RuntimeError(f"{sink.written} stored, {link.acked} acknowledged of {n}")
        return 1e6 * cpu / n

    return [asyncio.run(once()) for _ in range(repeats)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--profile", action="store_true", help="sample the gateway with py-spy")
    ap.add_argument("--profile-top", type=int, default=25, help="functions listed per table")
    ap.add_argument("--in-process", action="store_true", help="the hot path alone, no services")
    ap.add_argument("--repeats", type=int, default=5, help="runs of --in-process")
    args = ap.parse_args(argv)
    n = args.messages // args.devices * args.devices
    if args.in_process:
        runs = in_process(n, args.devices, args.repeats)
        each = " ".join(f"{r:.2f}" for r in runs)
        print(f"hot path in process, {n} messages from {args.devices} devices: CPU us/msg {each}")
        print(f"best {min(runs):.2f}, median {sorted(runs)[len(runs) // 2]:.2f} us per message")
        return 0
    with tempfile.TemporaryDirectory(prefix="sw-bench-") as d:
        tmp = Path(d)
        broker = start_mosquitto(tmp)
        (tmp / "influx").mkdir()
        influx = start_influxd(tmp / "influx")
        try:
            streams = make_streams(tmp, n, args.devices)
            base_s = run_baseline(broker, streams, n)
            sw = run_sitewatch(
                broker, influx, streams, n, tmp, args.timeout, args.profile, args.profile_top
            )
        finally:
            broker.stop()
            influx.stop()
    base_rate = n / base_s
    sw_rate = n / sw["elapsed"]
    print(f"messages: {n} from {args.devices} devices (QoS 1, private Mosquitto, InfluxDB 1.6)")
    el = sw["elapsed"]
    print(
        f"baseline, bare paho subscriber (receive + parse): {base_rate:,.0f} msg/s ({base_s:.2f} s)"
    )  # noqa: E501
    print(f"sitewatch run -> InfluxDB (every point stored):   {sw_rate:,.0f} msg/s ({el:.2f} s)")
    print(f"ratio sitewatch / baseline: {sw_rate / base_rate:.2f}")
    print(f"points lost: {n - sw['stored']}")
    print(f"gateway peak RSS: {sw['rss_mb']:.0f} MB")
    cpu = sw["cpu"]
    busy = ", ".join(
        f"{k} {cpu[k]:.1f} s ({100 * cpu[k] / el:.0f}% of a core)"
        for k in ("gateway", "mosquitto", "influxd")
    )
    print(f"CPU during the sitewatch run: {busy}")
    print(
        f"gateway CPU per message: {1e6 * cpu['gateway'] / n:.1f} us (user "
        f"{1e6 * cpu['gateway_user'] / n:.1f}, system {1e6 * cpu['gateway_system'] / n:.1f})"
    )
    writes = _sample(sw["metrics"], "sitewatch_sink_batch_size_count")
    points = _sample(sw["metrics"], "sitewatch_sink_batch_size_sum")
    if writes:
        print(f"InfluxDB writes: {writes:.0f} (mean {points / writes:,.0f} points)")
    if sw["profile"]:
        print(sw["profile"])
    return 0 if sw["stored"] == n else 1


if __name__ == "__main__":
    sys.exit(main())
