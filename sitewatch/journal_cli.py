"""``sitewatch journal verify``: check the journal's hash chain.

Opens the state store named by the settings (``SITEWATCH_DB_URL``, or ``--db URL``; the
migrations run first, so an older database gets its chain built), walks every journal
entry in order (:func:`gateway.store.journal.verify`) and exits:

- 0, printing ``N entries, chain intact``;
- 1, printing the first broken link (the entry whose hash does not follow from the one
  before it, or a head that does not match the last entry) on standard error;
- 2 on a bad setting or a database that cannot be opened.
"""

from __future__ import annotations

import argparse
import sys

from gateway.settings import SettingsError, load_settings


def cmd_journal(args: argparse.Namespace) -> int:
    from gateway.store import journal as jr
    from gateway.store import open_store
    from gateway.store.db import reader

    try:
        url = args.db or load_settings(args.config).db_url
        engine = open_store(url)
    except (SettingsError, ValueError) as exc:
        print(f"sitewatch journal: {exc}", file=sys.stderr)
        return 2
    try:
        with reader(engine).connect() as conn:
            check = jr.verify(conn)
    finally:
        engine.dispose()
    if check.intact:
        print(check)
        return 0
    print(f"sitewatch journal verify: {check}", file=sys.stderr)
    return 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    j = sub.add_parser("journal", help="the tamper-evident journal")
    j.set_defaults(fn=cmd_journal)
    jsub = j.add_subparsers(dest="journal_command", required=True)
    v = jsub.add_parser(
        "verify", help="walk the hash chain: 'N entries, chain intact' or the first broken link"
    )
    v.add_argument("--config", help="YAML settings file")
    v.add_argument("--db", help="database URL (default: the settings' SITEWATCH_DB_URL)")
