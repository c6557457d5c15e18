"""``sitewatch report --month YYYY-MM --format html|csv|pdf --out FILE``: the monthly
report from the stores the settings name, without a running gateway.

It opens the state store (``SITEWATCH_DB_URL``; the migrations run first) and the
time-series store (``SITEWATCH_INFLUX_URL``, or the embedded file), gathers the month's
figures in the site's language and time zone (``gateway.figures``), writes the file and
exits. ``--out -`` writes to standard output. Exit 0 on success; 2 for a bad setting, a
bad month (the message names the accepted form) or PDF without WeasyPrint installed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from gateway.errors import DomainError
from gateway.settings import SettingsError, load_settings


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="the monthly report (HTML, CSV or PDF)")
    p.add_argument("--config", help="YAML settings file")
    p.add_argument("--month", required=True, help="YYYY-MM, site time")
    p.add_argument("--format", choices=["html", "csv", "pdf"], default="html")
    p.add_argument("--out", required=True, help="file to write, or - for standard output")
    p.set_defaults(fn=cmd_report)


async def _build(args: argparse.Namespace) -> bytes:
    from gateway.clock import SystemClock
    from gateway.figures import Figures
    from gateway.figures.report import render
    from gateway.metrics import Metrics
    from gateway.sinks import make_sink
    from gateway.site import load_site
    from gateway.store import open_store

    settings = load_settings(args.config)
    site = load_site(settings.site_file or None)
    clock = SystemClock()
    db = open_store(settings.db_url)
    sink = make_sink(settings, Metrics(), clock)
    await sink.start()
    try:
        data = await Figures(site, db, sink, clock).monthly(args.month)
    finally:
        await sink.stop()
        db.dispose()
    return render(data, args.format)


def cmd_report(args: argparse.Namespace) -> int:
    try:
        body = asyncio.run(_build(args))
    except (SettingsError, DomainError) as exc:
        print(f"sitewatch report: {exc}", file=sys.stderr)
        return 2
    except ImportError:
        print(
            "sitewatch report: PDF needs WeasyPrint (pip install weasyprint);"
            " use --format html and print it",
            file=sys.stderr,
        )
        return 2
    if args.out == "-":
        sys.stdout.buffer.write(body)
    else:
        Path(args.out).write_bytes(body)
    return 0
