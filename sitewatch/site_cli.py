"""``sitewatch site export --format brick --out site.ttl``: the site file as a Brick model.

Lifecycle: :func:`add_parser` is called once by ``sitewatch.cli.build_parser``; the
command reads the site file (``--site-file``, else the configured one), writes the model
(``gateway.brick``) and exits.
"""

from __future__ import annotations

import argparse
import sys


def cmd_site_export(args: argparse.Namespace) -> int:
    from gateway.brick import export_site
    from gateway.site import load_site

    try:
        site = load_site(args.site_file) if args.site_file else load_site()
    except Exception as exc:  # noqa: BLE001 - a bad site file is reported, not raised
        print(f"sitewatch site export: {exc}", file=sys.stderr)
        return 2
    n = export_site(site, args.out)
    print(f"wrote {args.out}: {n} triples (Brick) for site {site.site}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("site", help="the site file")
    ssub = s.add_subparsers(dest="site_command", required=True)
    e = ssub.add_parser("export", help="write the site as a model (Brick, Turtle)")
    e.add_argument("--format", choices=["brick"], default="brick")
    e.add_argument("--out", required=True, help="file to write, e.g. site.ttl")
    e.add_argument("--site-file", help="site YAML (default: the shipped demo site sc01)")
    e.set_defaults(fn=cmd_site_export)
