"""The integrator's commands: ``devices import``, ``record``, ``replay``, ``rules backtest``.

Lifecycle: :func:`add_parsers` is called once by ``sitewatch.cli.build_parser`` with the
top-level subparsers and those of ``rules``; each command loads the settings
(``--config`` and ``SITEWATCH_*``) and runs to completion (``record`` until Ctrl-C,
``--count`` or ``--duration``). Exit codes: 0 done, 1 the input was bad (every problem
printed, one a line), 2 the configuration or a service was.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from gateway.settings import Settings, SettingsError, load_settings


def _settings(args: argparse.Namespace) -> Settings | None:
    try:
        return load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return None


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: stop.set())
    return stop


# -- devices import -------------------------------------------------------------------------
def cmd_devices_import(args: argparse.Namespace) -> int:
    from gateway.onboarding import parse_csv, write_site_file
    from gateway.site import load_site

    s = _settings(args)
    if s is None:
        return 2
    site_file = args.site_file or s.site_file
    try:
        site = load_site(site_file or None)
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"sitewatch devices import: {exc}", file=sys.stderr)
        return 2
    devices, errors = parse_csv(text, site)
    for e in errors:
        print(f"{args.file}: {e}")
    if errors:
        print(f"{args.file}: {len(errors)} bad row(s), nothing imported", file=sys.stderr)
        return 1
    if args.dry_run or not devices:
        print(f"{args.file}: OK: {len(devices)} new device(s)")
        return 0
    if not site_file:
        print(
            "sitewatch devices import: no site file to add them to (the shipped demo site is"
            " read-only); set SITEWATCH_SITE_FILE or give --site-file",
            file=sys.stderr,
        )
        return 2
    write_site_file(site_file, devices)
    print(f"{len(devices)} device(s) added to {site_file} (the old file is {site_file}.bak)")
    return 0


# -- record / replay ------------------------------------------------------------------------
def cmd_record(args: argparse.Namespace) -> int:
    from gateway.recorder import record

    s = _settings(args)
    if s is None:
        return 2
    stop = _stop_on_signal()
    try:
        n = record(
            s.mqtt_url,
            args.topic,
            args.out,
            stop,
            limit=args.count,
            duration_s=args.duration,
            on_ready=lambda: print(
                f"recording {', '.join(args.topic)} to {args.out}; Ctrl-C stops", file=sys.stderr
            ),
        )
    except (OSError, ConnectionError) as exc:
        print(f"sitewatch record: {exc}", file=sys.stderr)
        return 2
    print(f"{n} message(s) written to {args.out}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from gateway.recorder import RecordingError, replay

    s = _settings(args)
    if s is None:
        return 2
    stop = _stop_on_signal()
    try:
        n = replay(s.mqtt_url, args.file, speed=args.speed, site=args.site, stop=stop)
    except RecordingError as exc:
        print(exc, file=sys.stderr)
        return 1
    except (OSError, ConnectionError) as exc:
        print(f"sitewatch replay: {exc}", file=sys.stderr)
        return 2
    print(f"{n} message(s) published", file=sys.stderr)
    return 0


# -- rules backtest -------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on ``out`` (stderr), redrawn at most 10 times a second."""

    def __init__(self, total: int, out: TextIO | None = None, enabled: bool | None = None):
        self.total = max(1, total)
        self.out = out if out is not None else sys.stderr
        self._t = 0.0
        self.enabled = self.out.isatty() if enabled is None else enabled

    def show(self, done: int, extra: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._t < 0.1:
            return
        self._t = now
        frac = min(1.0, max(0.0, done / self.total))
        bar = "#" * int(frac * 30)
        self.out.write(f"\r[{bar:<30}] {frac * 100:5.1f}% {extra}")
        self.out.flush()

    def end(self) -> None:
        if self.enabled:
            self.out.write("\n")
            self.out.flush()


def _time_ms(text: str | None, what: str) -> int | None:
    from gateway.clock import parse_rfc3339_ms

    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return parse_rfc3339_ms(text)
    except ValueError as exc:
        raise ValueError(f"--{what}: {exc}") from None


def cmd_backtest(args: argparse.Namespace) -> int:
    from gateway.history import Counts, decoder_for, file_messages, influx_messages
    from gateway.recorder import RecordingError, RecordingReader
    from gateway.site import load_site
    from rules.backtest import Backtest
    from rules.lang import RuleError
    from rules.pack import load_pack

    s = _settings(args)
    if s is None:
        return 2
    try:
        pack = load_pack(args.pack)
    except RuleError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        site = load_site(s.site_file or None)
        site = site.model_copy(update={"site": s.site})
        start, end = _time_ms(args.start, "start"), _time_ms(args.end, "end")
    except (OSError, ValueError) as exc:
        print(f"sitewatch rules backtest: {exc}", file=sys.stderr)
        return 2
    bt = Backtest(site, pack)
    counts = Counts()
    t0 = time.perf_counter()
    msgs: Iterator[Any]
    try:
        if args.source == "influx":
            if not s.influx_url or s.influx_api != "v1":
                print(
                    "--from influx reads InfluxDB 1.x: set SITEWATCH_INFLUX_URL (api v1)",
                    file=sys.stderr,
                )
                return 2
            if start is None or end is None:
                print("--from influx needs --start and --end", file=sys.stderr)
                return 2
            bar = Progress(end - start)
            msgs = influx_messages(
                s.influx_url,
                s.influx_db,
                s.site,
                start,
                end,
                progress=lambda t: bar.show(t - start, force=True),
            )
        else:
            reader = RecordingReader(args.source)
            bar = Progress(reader.size)
            msgs = file_messages(reader, decoder_for(s), counts)
        n = 0
        for m in msgs:
            if start is not None and m.received_ms < start:
                continue
            if end is not None and m.received_ms >= end:
                continue
            bt.feed(m)
            n += 1
            if not n & 1023 and args.source != "influx":
                bar.show(reader.position, f"{n:,} messages")
        report = bt.finish(end if end is not None and args.source == "influx" else None)
    except (RecordingError, ConnectionError, OSError, ValueError) as exc:
        print(f"\nsitewatch rules backtest: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    bar.show(bar.total, f"{n:,} messages", force=True)
    bar.end()
    print(
        f"{n:,} messages in {elapsed:.2f} s ({n / max(elapsed, 1e-9):,.0f}/s)"
        + (f", {counts.rejected} rejected" if counts.rejected else ""),
        file=sys.stderr,
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    return 0


def _print_report(report: Any) -> None:
    print(
        f"{'rule':28} {'alarms':>6} {'active':>6} {'mean s':>9} {'chatter':>7} {'floods':>6}"
        "  priorities"
    )
    for r in report.rules:
        mean = "-" if r.mean_duration_s is None else f"{r.mean_duration_s:.1f}"
        mix = ", ".join(f"{p} {n}" for p, n in sorted(r.priorities.items())) or "-"
        print(
            f"{r.rule:28} {r.alarms:6} {r.still_active:6} {mean:>9} {r.chattering:7}"
            f" {r.floods:6}  {mix}"
        )
    total = sum(r.alarms for r in report.rules)
    mix = report.priority_mix()
    print(
        f"\n{total} alarm(s); priority mix: "
        + (", ".join(f"{p} {n} ({n / total:.0%})" for p, n in sorted(mix.items())) or "-")
    )
    for f in report.floods:
        print(
            f"flood: {f.alarms} alarms from {f.start_ms} to {f.end_ms} ms: "
            + ", ".join(f"{r} {n}" for r, n in sorted(f.rules.items()))
        )


# -- wiring ---------------------------------------------------------------------------------
def add_parsers(sub: Any, rules_sub: Any) -> None:
    """Add ``devices``, ``record`` and ``replay`` to ``sub`` and ``backtest`` to the
    subparsers of ``rules``."""
    dv = sub.add_parser("devices", help="onboarding: devices from a CSV file")
    dsub = dv.add_subparsers(dest="devices_command", required=True)
    di = dsub.add_parser("import", help="validate FILE.csv and add its devices to the site file")
    di.add_argument("file", metavar="FILE.csv", help="columns id,system,type,zone,name,interval")
    di.add_argument("--config", help="YAML settings file")
    di.add_argument("--site-file", help="the site file (default: SITEWATCH_SITE_FILE)")
    di.add_argument("--dry-run", action="store_true", help="validate only")
    di.set_defaults(fn=cmd_devices_import)

    rec = sub.add_parser("record", help="write the broker's traffic to a compressed file")
    rec.add_argument(
        "--topic",
        action="append",
        required=True,
        metavar="FILTER",
        help="MQTT topic filter (repeatable)",
    )
    rec.add_argument("--out", required=True, metavar="FILE", help="gzip JSON lines")
    rec.add_argument("--count", type=int, help="stop after this many messages")
    rec.add_argument("--duration", type=float, help="stop after this many seconds")
    rec.add_argument("--config", help="YAML settings file")
    rec.set_defaults(fn=cmd_record)

    rp = sub.add_parser("replay", help="publish a recording back to the broker")
    rp.add_argument("file", metavar="FILE")
    rp.add_argument("--speed", type=float, default=1.0, help="2 = twice as fast, 0 = at once")
    rp.add_argument("--site", help="rewrite sitewatch/<site>/... topics to this site")
    rp.add_argument("--config", help="YAML settings file")
    rp.set_defaults(fn=cmd_replay)

    bt = rules_sub.add_parser("backtest", help="run a rule pack over recorded data")
    bt.add_argument("pack", metavar="PACK", help="rule pack (YAML)")
    bt.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="influx|FILE",
        help="InfluxDB (with --start and --end) or a recording",
    )
    bt.add_argument("--start", help="RFC 3339 time or epoch ms")
    bt.add_argument("--end", help="RFC 3339 time or epoch ms (exclusive)")
    bt.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    bt.add_argument("--config", help="YAML settings file")
    bt.set_defaults(fn=cmd_backtest)
