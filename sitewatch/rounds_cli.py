"""``sitewatch rounds qr ROUND``: a printable page of QR codes, one per checkpoint of a round.

Each code opens the phone page at the checkpoint, ``<public_url>/#/rounds/scan/<round
template>/<checkpoint>``: scanned during the round with the phone's camera, it opens
that checkpoint's checklist in the member's round in progress, recorded as ``scanned``
(the member stood there). The template is the site
file's or one made through the API (read from the state store). One self-contained HTML
file (inline SVG codes made with ``segno``; no script, no outside asset), A4, six codes a
sheet, each with the checkpoint's name, zone and floor, and a bilingual caption.

``sitewatch rounds qr ROUND [--config FILE] [--base-url URL] [--out FILE]`` (``--out -``:
standard output; default ``round-<ROUND>-codes.html``). Exits 2 without a base URL
(``--base-url`` or ``SITEWATCH_PUBLIC_URL``) and 1 for a round template that is not there.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import quote

from gateway.settings import SettingsError, load_settings
from rules.site import RoundTemplate
from sitewatch import qr_sheet

CAPTION = ("巡检点 请扫码确认", "Inspection point: scan to confirm")


def checkpoint_url(base: str, template: str, checkpoint: str) -> str:
    return f"{base}/#/rounds/scan/{quote(template)}/{quote(checkpoint)}"


def render(t: RoundTemplate, zones: dict[str, tuple[str, str | None]], base: str) -> str:
    cards = []
    for n, cp in enumerate(t.checkpoints, 1):
        zname, floor = zones.get(cp.zone, (cp.zone, None))
        where = " · ".join(x for x in (zname, floor) if x)
        url = checkpoint_url(base, t.id, cp.id)
        cards.append(qr_sheet.Card(f"{n}. {cp.name or zname}", where, url))
    return qr_sheet.render(t.name, cards, CAPTION, heading=t.name)


def cmd_qr(args: argparse.Namespace) -> int:
    from gateway.site import load_site

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    base = qr_sheet.base_url(args, settings)
    if base is None:
        return 2
    site = load_site(settings.site_file or None)
    found = next((t for t in site.rounds if t.id == args.round), None)
    if found is None:
        from gateway.rounds.store import RoundStore
        from gateway.store import open_store

        rec = RoundStore(open_store(settings.db_url)).templates().get(args.round)
        found = rec.template if rec else None
    if found is None:
        known = ", ".join(t.id for t in site.rounds) or "none in the site file"
        print(f"no round template {args.round!r} (templates: {known})", file=sys.stderr)
        return 1
    zones = {z.id: (z.name, z.floor) for z in site.zones}
    page = render(found, zones, base)
    out = args.out or f"round-{found.id}-codes.html"
    qr_sheet.write(out, page, len(found.checkpoints))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("rounds", help="inspection rounds")
    rsub = r.add_subparsers(dest="rounds_command", required=True)
    q = rsub.add_parser("qr", help="a printable page of QR codes, one per checkpoint")
    q.add_argument("round", metavar="ROUND", help="the round template's id")
    q.add_argument("--config", help="YAML settings file")
    q.add_argument("--base-url", help="the address people reach the pages at")
    q.add_argument("--out", help="the HTML file (- for stdout)")
    q.set_defaults(fn=cmd_qr)
