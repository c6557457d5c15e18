"""InfluxDB outage at scale (issue 10): a steady stream, the store away for minutes, then back.

    python -m bench.outage [--rate 5000] [--down-s 300] [--devices 50]
                           [--warmup-s 30] [--after-s 60] [--timeout 1800]

Lifecycle of one run (everything on 127.0.0.1, private services, all stopped at the end):

1. Start a Mosquitto of its own on a free port with a config for a long backlog
   (``max_queued_messages`` / ``max_queued_bytes`` twice what the run can publish, where
   Debian's default would drop past 1,000 queued messages; ``sys_interval 1`` for $SYS
   figures; persistence off: this run is about the store going away, not the broker, and
   Mosquitto's persistence is a periodic snapshot that would not change the message path)
   and a private InfluxDB 1.6 (``tests.fixtures.influx.InfluxServer``).
2. Start ``sitewatch run`` (a subprocess, as users run it: MQTT 5, QoS 1, persistent
   session, acknowledgement only once InfluxDB has the point) against both.
3. Publish ``--rate`` QoS 1 messages/s, round-robin over ``--devices`` devices, for
   ``warmup + down + after`` seconds: one paced feeder process writes JSON lines into one
   ``mosquitto_pub -l`` per device (C does the MQTT, so the publishers take little of the
   CPU the gateway needs). Each payload carries the device's sequence number ``seq`` and a
   ``ts`` that rises strictly per device.
4. After ``--warmup-s``: stop InfluxDB (SIGTERM); after ``--down-s``: start it again on the
   same data directory and port. Publishing goes on through the outage and for
   ``--after-s`` after it (devices do not stop because the store did).
5. Wait until InfluxDB holds every published message (``--timeout`` after publishing ends).
6. Check, per device, that the stored ``seq`` in time order are exactly 0..n-1 (nothing lost,
   nothing twice, order kept), and print the figures: achieved publish rate, peak broker
   queue ($SYS ``store/messages/count``), gateway RSS over time and VmHWM, broker RSS,
   catch-up time and rate after InfluxDB returns.

Exit status 0 only when nothing was lost, nothing duplicated and every device in order.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.services import start_influxd
from tests.fixtures.influx import InfluxServer
from tests.fixtures.mqtt import free_port, wait_port
from tests.integration.gateway_proc import GatewayProc, metric

SITE = "outage"
PAYLOAD_BYTES_MAX = 200  # a feeder line is ~150 bytes; the broker's byte bound uses this

BROKER_CONF = """\
user {user}
listener {port} 127.0.0.1
allow_anonymous true
# the store's outage is under test, not the broker's: see the module docstring
persistence false
# a bound, but far above the run's backlog (Debian's default drops past 1,000 per client)
max_queued_messages {max_msgs}
max_queued_bytes {max_bytes}
max_inflight_messages 0
sys_interval 1
log_dest file {dir}/mosquitto.log
"""

# One paced feeder: rate messages/s for duration s, round-robin over n devices, one
# mosquitto_pub -l per device. Prints "ready", then one JSON progress line a second, then
# a JSON summary (lines handed to each publisher, how far the schedule fell behind).
FEEDER = r"""
import json, subprocess, sys, time
port, site, rate, duration, n = (int(sys.argv[1]), sys.argv[2], float(sys.argv[3]),
                                 float(sys.argv[4]), int(sys.argv[5]))
pubs = []
for d in range(n):
    topic = f"sitewatch/{site}/hvac/fcu-{d:04d}/telemetry"
    pubs.append(subprocess.Popen(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-V", "mqttv5",
         "-i", f"outage-pub-{d}", "-M", "200", "-t", topic, "-l"],
        stdin=subprocess.PIPE))
time.sleep(1.0)
print("ready", flush=True)
TICK = 0.02
seq = [0] * n
last_ts = [0] * n
sent = 0
max_lag = 0.0
t0 = time.monotonic()
next_report = t0 + 1.0
while True:
    now = time.monotonic()
    el = now - t0
    if el >= duration:
        break
    due = int(rate * el)
    if due > sent:
        now_ms = int(time.time() * 1000)
        lines = [[] for _ in range(n)]
        for k in range(sent, due):
            d = k % n
            i = seq[d]
            seq[d] = i + 1
            ts = now_ms if now_ms > last_ts[d] else last_ts[d] + 1
            last_ts[d] = ts
            lines[d].append(
                '{"ts":%d,"values":{"seq":%d,"zone_temp":%.2f,"setpoint":22,"fan":true,'
                '"filter_dp":%d,"fault_code":0,"power_kw":1.2}}\n'
                % (ts, i, 22.0 + (i % 20) * 0.05, 120 + i % 50))
        for d in range(n):
            if lines[d]:
                pubs[d].stdin.write("".join(lines[d]).encode())
                pubs[d].stdin.flush()
        sent = due
    after = time.monotonic()
    max_lag = max(max_lag, after - t0 - sent / rate)
    if after >= next_report:
        print(json.dumps({"t": after, "sent": sent}), flush=True)
        next_report += 1.0
    time.sleep(max(0.0, TICK - (time.monotonic() - now)))
t_end = time.monotonic()
for p in pubs:
    p.stdin.close()
rcs = [p.wait() for p in pubs]
print(json.dumps({"done": True, "t0": t0, "t_end": t_end, "t_flushed": time.monotonic(),
                  "sent": sent, "per_device": seq, "max_lag_s": max_lag, "rcs": rcs}),
      flush=True)
"""


@dataclass
class Sample:
    t: float
    phase: str
    sent: int
    broker_received: int
    broker_queue: int
    gw_rss_mb: float
    broker_rss_mb: float
    written: int = -1
    unacked: int = -1
    load: float = field(default_factory=lambda: os.getloadavg()[0])


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    sent: int = 0
    feeder_summary: dict[str, Any] = field(default_factory=dict)
    phase: str = "warm-up"
    sys: dict[str, int] = field(default_factory=dict)
    peak_queue: int = 0
    peak_queue_t: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def start_broker(tmp: Path, max_msgs: int) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        BROKER_CONF.format(
            user=getpass.getuser(),
            port=port,
            max_msgs=max_msgs,
            max_bytes=max_msgs * PAYLOAD_BYTES_MAX,
            dir=tmp,
        )
    )
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)])
    wait_port(port)
    return proc, port


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def watch_sys(port: int, run: Run) -> mqtt.Client:
    """$SYS figures of the broker: messages in its store (the queue), PUBLISHes received."""

    def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        try:
            v = int(float(m.payload))
        except ValueError:
            return
        with run.lock:
            run.sys[m.topic] = v
            if m.topic.endswith("store/messages/count") and v > run.peak_queue:
                run.peak_queue = v
                run.peak_queue_t = time.monotonic()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="outage-sys")
    c.on_message = on_message
    c.connect("127.0.0.1", port)
    c.subscribe(
        [
            ("$SYS/broker/store/messages/count", 0),
            ("$SYS/broker/store/messages/bytes", 0),
            ("$SYS/broker/publish/messages/received", 0),
        ]
    )
    c.loop_start()
    return c


def read_feeder(feeder: subprocess.Popen[str], run: Run) -> None:
    assert feeder.stdout is not None
    for line in feeder.stdout:
        msg = json.loads(line)
        with run.lock:
            if msg.get("done"):
                run.feeder_summary = msg
                run.sent = msg["sent"]
            else:
                run.sent = msg["sent"]


def sampler(run: Run, gw: GatewayProc, broker_pid: int, stop: threading.Event) -> None:
    assert gw.proc is not None
    i = 0
    while not stop.is_set():
        with run.lock:
            s = Sample(
                time.monotonic(),
                run.phase,
                run.sent,
                run.sys.get("$SYS/broker/publish/messages/received", -1),
                run.sys.get("$SYS/broker/store/messages/count", -1),
                status_kb(gw.proc.pid, "VmRSS") / 1024,
                status_kb(broker_pid, "VmRSS") / 1024,
            )
        if i % 2 == 0:
            try:
                text = gw.get("/metrics", auth=False)
                s.written = int(metric(text, "sitewatch_points_written_total"))
                s.unacked = int(metric(text, "sitewatch_mqtt_unacked"))
            except OSError:
                pass
        run.samples.append(s)
        i += 1
        stop.wait(1.0)


def influx_get(url: str, q: str, chunked: bool = False) -> list[dict[str, Any]]:
    params = {"db": "sitewatch", "q": q, "epoch": "ms"}
    if chunked:
        params.update(chunked="true", chunk_size="20000")
    qs = urllib.parse.urlencode(params)
    out: list[dict[str, Any]] = []
    with urllib.request.urlopen(f"{url}/query?{qs}", timeout=120) as r:
        for raw in r.read().splitlines() if chunked else [r.read()]:
            if not raw.strip():
                continue
            res = json.loads(raw)["results"][0]
            if "error" in res:
                raise RuntimeError(res["error"])
            out.extend(res.get("series") or [])
    return out


def influx_count(url: str) -> int:
    try:
        series = influx_get(url, f"SELECT count(seq) FROM hvac WHERE site='{SITE}'")
    except (OSError, RuntimeError):
        return -1
    return int(series[0]["values"][0][1]) if series else 0


def check_device(url: str, device: str, published: int) -> tuple[int, int, int, bool]:
    """(stored rows, distinct seq, missing, in order) of one device."""
    series = influx_get(
        url, f"SELECT seq FROM hvac WHERE site='{SITE}' AND device='{device}'", chunked=True
    )
    seqs = [int(v[1]) for s in series for v in s["values"]]
    distinct = len(set(seqs))
    missing = len(set(range(published)) - set(seqs))
    return len(seqs), distinct, missing, seqs == list(range(published))


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fmt_s(x: float) -> str:
    return f"{x:,.1f} s"


def report_timeline(run: Run, t_pub0: float, every: float) -> None:
    print(
        f"{'t s':>6} {'phase':<9} {'published':>10} {'broker queue':>12} "
        f"{'stored (gw)':>11} {'unacked':>7} {'gw RSS MB':>9} {'broker RSS MB':>13}"
    )
    next_t = t_pub0
    last_written, last_unacked = -1, -1
    for s in run.samples:
        if s.written >= 0:
            last_written, last_unacked = s.written, s.unacked
        if s.t + 0.5 < next_t and s is not run.samples[-1]:
            continue
        next_t = max(next_t, s.t) + every
        print(
            f"{s.t - t_pub0:6.0f} {s.phase:<9} {s.sent:>10,} {s.broker_queue:>12,} "
            f"{last_written:>11,} {last_unacked:>7,} {s.gw_rss_mb:>9.0f} {s.broker_rss_mb:>13.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=5000, help="messages/s published")
    ap.add_argument("--down-s", type=float, default=300, help="InfluxDB down this long")
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--warmup-s", type=float, default=30)
    ap.add_argument("--after-s", type=float, default=60, help="publishing goes on after")
    ap.add_argument("--timeout", type=float, default=1800, help="catch-up limit, s")
    ap.add_argument("--report-s", type=float, default=15, help="timeline row every")
    args = ap.parse_args(argv)
    duration = args.warmup_s + args.down_s + args.after_s
    expected = int(args.rate * duration)
    max_msgs = 2 * expected + 10_000

    run = Run()
    with tempfile.TemporaryDirectory(prefix="sw-outage-") as d:
        tmp = Path(d)
        broker, port = start_broker(tmp, max_msgs)
        (tmp / "influx").mkdir()
        influx: InfluxServer = start_influxd(tmp / "influx")
        gw = GatewayProc(
            tmp,
            SITEWATCH_MQTT_URL=f"mqtt://127.0.0.1:{port}",
            SITEWATCH_MQTT_CLIENT_ID="outage-gw",
            SITEWATCH_INFLUX_URL=influx.url,
            SITEWATCH_INFLUX_API="v1",
            SITEWATCH_SITE=SITE,
        )
        sysc = None
        feeder = None
        stop = threading.Event()
        try:
            gw.start(timeout=60)
            assert gw.proc is not None
            sysc = watch_sys(port, run)
            feeder = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    FEEDER,
                    str(port),
                    SITE,
                    str(args.rate),
                    str(duration),
                    str(args.devices),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert feeder.stdout is not None
            if feeder.stdout.readline().strip() != "ready":
                raise RuntimeError("feeder did not start")
            t_pub0 = time.monotonic()
            threading.Thread(target=read_feeder, args=(feeder, run), daemon=True).start()
            samp = threading.Thread(target=sampler, args=(run, gw, broker.pid, stop), daemon=True)
            samp.start()

            time.sleep(args.warmup_s)
            with run.lock:
                run.phase = "down"
            t_down = time.monotonic()
            influx.stop()
            t_stopped = time.monotonic()
            time.sleep(max(0.0, t_down + args.down_s - time.monotonic()))
            influx.start()
            t_back = time.monotonic()
            cpu_back = cpu_s(gw.proc.pid)
            with run.lock:
                run.phase = "back"
                queue_at_back = run.sys.get("$SYS/broker/store/messages/count", -1)
                sent_at_back = run.sent
            stored_at_back = influx_count(influx.url)
            rss_end_down = status_kb(gw.proc.pid, "VmRSS") / 1024

            feeder.wait(duration + 600)
            time.sleep(0.5)  # the reader thread takes the summary line
            with run.lock:
                run.phase = "catch-up"
                summary = dict(run.feeder_summary)
                queue_at_pub_end = run.sys.get("$SYS/broker/store/messages/count", -1)
            if not summary:
                raise RuntimeError("feeder gave no summary")
            published = int(summary["sent"])
            t_pub_end = summary["t_end"]

            # caught up: the gateway reports as many points written, then InfluxDB agrees
            t_done = None
            cpu_done = float("nan")
            t_first_write = None
            stored = -1
            limit = time.monotonic() + args.timeout
            while time.monotonic() < limit:
                text = gw.get("/metrics", auth=False)
                if metric(text, "sitewatch_points_written_total") >= published:
                    stored = influx_count(influx.url)
                    if stored >= published:
                        t_done = time.monotonic()
                        cpu_done = cpu_s(gw.proc.pid)
                        break
                time.sleep(1.0)
            stop.set()
            samp.join(5)
            for s in run.samples:
                if s.t > t_back and s.written > stored_at_back >= 0:
                    t_first_write = s.t
                    break
            if stored < published:
                stored = influx_count(influx.url)

            # every device: stored seq in time order == 0..n-1
            rows = distinct = missing = 0
            out_of_order = []
            for dev, n in enumerate(summary["per_device"]):
                r_, dist, miss, ordered = check_device(influx.url, f"fcu-{dev:04d}", n)
                rows += r_
                distinct += dist
                missing += miss
                if not ordered:
                    out_of_order.append(dev)
            text = gw.get("/metrics", auth=False)
            gw_in = int(metric(text, "sitewatch_messages_in_total"))
            gw_written = int(metric(text, "sitewatch_points_written_total"))
            gw_rejected = int(metric(text, "sitewatch_messages_rejected_total"))
            write_errors = int(metric(text, "sitewatch_sink_write_errors_total"))
            hwm_gw = status_kb(gw.proc.pid, "VmHWM") / 1024
            hwm_broker = status_kb(broker.pid, "VmHWM") / 1024
            with run.lock:
                broker_received = run.sys.get("$SYS/broker/publish/messages/received", -1)
                peak_queue, peak_queue_t = run.peak_queue, run.peak_queue_t
        finally:
            stop.set()
            if feeder is not None and feeder.poll() is None:
                feeder.kill()
                feeder.wait(10)
            if sysc is not None:
                sysc.loop_stop()
                sysc.disconnect()
            gw.stop()
            influx.stop()
            broker.terminate()
            broker.wait(30)

    pub_s = summary["t_end"] - summary["t0"]
    # achieved rate over 10 s windows (1 s windows only show the two clocks' jitter)
    pub = [x for x in run.samples if x.t <= t_pub_end]
    per_s = [
        (b.sent - a.sent) / (b.t - a.t)
        for a, b in zip(pub, pub[10:], strict=False)
        if b.t - a.t > 5
    ] or [float("nan")]
    peak_unacked = max((x.unacked for x in run.samples), default=-1)
    rss = [s.gw_rss_mb for s in run.samples]
    warm = [s.gw_rss_mb for s in run.samples if s.phase == "warm-up"]
    down = [s for s in run.samples if s.phase == "down"]
    half = down[len(down) // 2].gw_rss_mb if down else float("nan")
    lost = published - distinct
    dups = rows - distinct

    print(
        f"\n== InfluxDB outage: {args.rate:,.0f} msg/s target, InfluxDB down {args.down_s:.0f} s,"
        f" {args.devices} devices, warm-up {args.warmup_s:.0f} s, {args.after_s:.0f} s after =="
    )
    report_timeline(run, t_pub0, args.report_s)
    print()
    print(
        f"published: {published:,} messages in {pub_s:.1f} s = {published / pub_s:,.0f} msg/s "
        f"achieved (10 s windows: min {min(per_s):,.0f}, median {statistics.median(per_s):,.0f},"
        f" max {max(per_s):,.0f}; feeder max lag behind schedule "
        f"{summary['max_lag_s']:.2f} s; broker counted {broker_received:,} PUBLISH received)"
    )
    print(
        f"stored in InfluxDB: {distinct:,} distinct (rows {rows:,}); lost: {lost:,}; "
        f"duplicates stored: {dups:,}"
    )
    print(
        f"in order (per device, stored seq in time order == 0..n-1): "
        f"{'yes, all ' + str(args.devices) if not out_of_order else 'NO: ' + str(out_of_order)}"
    )
    print(
        f"gateway: {gw_in:,} messages received ({gw_in - published:+,} redeliveries), "
        f"{gw_written:,} points written ({gw_written - published:+,} rewritten, idempotent), "
        f"{gw_rejected} rejected, {write_errors} failed writes retried"
    )
    print(
        f"peak broker queue ($SYS store/messages/count): {peak_queue:,} messages at "
        f"t={peak_queue_t - t_pub0:.0f} s; at InfluxDB's return {queue_at_back:,}; "
        f"when publishing ended {queue_at_pub_end:,}"
    )
    print(
        f"peak unacknowledged in the gateway (sampled each 2 s): {peak_unacked:,} "
        "(the gateway asks the broker for at most SITEWATCH_MQTT_RECEIVE_MAXIMUM, 10,000)"
    )
    print(f"broker peak RSS (VmHWM): {hwm_broker:,.0f} MB")
    print(
        f"gateway peak RSS (VmHWM): {hwm_gw:,.0f} MB; RSS sampled each second: "
        f"warm-up max {max(warm):.0f} MB, mid-outage {half:.0f} MB, end of outage "
        f"{rss_end_down:.0f} MB, whole run max {max(rss):.0f} MB"
    )
    ws = [x for x in run.samples if x.phase == "warm-up" and x.written >= 0]
    if len(ws) >= 2 and ws[-1].t > ws[0].t:
        a, b = ws[0], ws[-1]
        dt = b.t - a.t
        print(
            f"warm-up (InfluxDB up): the gateway stored {(b.written - a.written) / dt:,.0f}"
            f" msg/s while {(b.sent - a.sent) / dt:,.0f} msg/s were published; "
            f"broker queue {a.broker_queue:,} -> {b.broker_queue:,}"
        )
    print(
        f"InfluxDB stop took {t_stopped - t_down:.1f} s; restart took "
        f"{t_back - t_down - args.down_s:.1f} s"
    )
    if t_first_write is not None:
        print(
            f"first point stored after InfluxDB's return: within {t_first_write - t_back:.1f} s"
            " (gateway retry backoff, 1 s sampling)"
        )
    if t_done is None:
        print(
            f"NOT caught up within {args.timeout:.0f} s after publishing ended: "
            f"{stored:,} of {published:,} stored"
        )
    else:
        backlog = published - stored_at_back
        catch = t_done - t_back
        print(
            f"catch-up: {fmt_s(catch)} from InfluxDB's return until every message was stored "
            f"({fmt_s(t_done - t_pub_end)} after publishing ended); "
            f"{backlog:,} messages stored in that time = {backlog / catch:,.0f} msg/s "
            f"(of which {published - sent_at_back:,} were published after the return)"
        )
        print(
            f"gateway CPU during catch-up: {cpu_done - cpu_back:,.1f} s of "
            f"{catch:,.1f} s ({100 * (cpu_done - cpu_back) / catch:.0f}% of a core, "
            f"{1e6 * (cpu_done - cpu_back) / max(1, backlog):.0f} us per message)"
        )
        if queue_at_back > 0 and queue_at_pub_end >= 0:
            drain = (queue_at_back - queue_at_pub_end) / (t_pub_end - t_back)
            print(
                f"broker queue while live traffic went on after the return: "
                f"{drain:+,.0f} msg/s net drain ({queue_at_back:,} -> {queue_at_pub_end:,})"
            )
        # back to the warm-up's queue level with live traffic still coming in: caught up
        level = max((x.broker_queue for x in run.samples[5:] if x.phase == "warm-up"), default=0)
        caught = next(
            (x for x in run.samples if x.t > t_back + 2 and 0 <= x.broker_queue <= level), None
        )
        if caught is not None and caught.t < t_pub_end:
            took = caught.t - t_back
            done_n = caught.sent - caught.broker_queue - stored_at_back
            print(
                f"caught up with live traffic (broker queue back to its warm-up level, "
                f"<= {level:,}) {took:,.1f} s after InfluxDB's return: ~{done_n:,} messages "
                f"stored in that time = {done_n / took:,.0f} msg/s"
            )
        else:
            print("not caught up with live traffic before publishing ended")
    loads = [s.load for s in run.samples]
    print(
        f"machine load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}, "
        f"median {statistics.median(loads):.1f} ({os.cpu_count()} cores)"
    )
    ok = lost == 0 and dups == 0 and not out_of_order and t_done is not None
    print("RESULT:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
