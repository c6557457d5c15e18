"""Fail-over figures: takeover time and messages kept for an orphaned site (issue 17).

    python -m bench.failover [--sites 12] [--procs 3] [--ttl 9] [--influx URL] [--no-write]

Runs the scenario of ``tests/integration/test_failover.py`` (``tests.integration.
failover_rig``): ``--procs`` ``sitewatch run`` processes on the local PostgreSQL
(127.0.0.1:5432, database ``test``, a schema of its own dropped at the end) and a private
Mosquitto with persistence, ``--sites`` sites publishing two readings every 0.5 s each,
scripted faults; one process SIGKILLed in the middle, another SIGSTOPped past its lease and
resumed. Printed (and appended to ``bench/RESULTS.md`` unless ``--no-write``):

- takeover: from the SIGKILL until every site of the dead process has a live lease again,
  and until each is served (its runtime up, its MQTT session resumed);
- backlog: readings published to the dead process's sites while nobody served them,
  delivered to the new owners from the persistent sessions ``sitewatch-<site>``;
- stored / published / duplicates / missing readings (counted in InfluxDB 1.x at
  ``--influx``, a database of the run's own; else in each site's embedded telemetry file);
  alarms and tickets per site;
- the paused process: how long until its sites were taken over, writes refused once it
  resumed (the fence).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
from pathlib import Path

from tests.integration.failover_rig import Cluster, Figures, Publisher, run_failover

RESULTS = Path(__file__).with_name("RESULTS.md")


def report(fig: Figures, args: argparse.Namespace) -> str:
    ok_alarms = all(v == ["fire.alarm", "hvac.fault"] for v in fig.alarms.values())
    ok_tickets = all(v == ["fire-safety", "hvac", "security"] for v in fig.tickets.values())
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            f"## Fail-over (`python -m bench.failover`), {when}",
            "",
            f"{args.procs} processes, {args.sites} sites, lease {args.ttl:g} s, "
            f"{platform.machine()} Python {platform.python_version()}.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| killed process | {fig.victim} ({len(fig.victim_sites)} sites) |",
            f"| SIGKILL -> its sites owned again | {fig.takeover_s:.1f} s |",
            f"| SIGKILL -> its sites served again | {fig.serving_again_s:.1f} s |",
            f"| readings kept by the broker meanwhile, delivered to the new owners | "
            f"{fig.backlog} |",
            f"| readings published / stored | {fig.published} / {fig.stored} |",
            f"| counted in | {fig.store} |",
            f"| duplicates / stored under no published reading / missing | "
            f"{fig.duplicates} / {fig.unexpected} / {fig.missing} |",
            f"| publisher stopped -> every reading stored | {fig.settle_s:.1f} s |",
            f"| one alarm per fault, one ticket per crew, every site | "
            f"{'yes' if ok_alarms and ok_tickets else 'NO'} |",
            f"| paused process | {fig.paused} ({len(fig.paused_sites)} sites) |",
            f"| SIGSTOP -> its sites taken over | {fig.paused_takeover_s:.1f} s |",
            f"| writes refused after SIGCONT (fence) | {fig.fenced} |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.failover", description=__doc__)
    p.add_argument("--sites", type=int, default=12)
    p.add_argument("--procs", type=int, default=3)
    p.add_argument("--ttl", type=float, default=9.0)
    p.add_argument("--influx", default="", help="InfluxDB 1.x URL (default: embedded store)")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    if args.procs < 3:
        p.error("the scenario kills one process and pauses another: --procs 3 or more")
    with tempfile.TemporaryDirectory(prefix="sw-failover-") as tmp:
        cluster = Cluster(
            Path(tmp),
            n_sites=args.sites,
            n_procs=args.procs,
            ttl_s=args.ttl,
            influx_url=args.influx,
        )
        try:
            cluster.start()
            cluster.wait_spread(120)
            fig = run_failover(cluster, Publisher(cluster.broker.port, cluster.sites))
        finally:
            cluster.close()
    text = report(fig, args)
    print(text)
    if not args.no_write:
        with RESULTS.open("a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
