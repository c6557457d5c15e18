"""``sitewatch requests qr``: a printable page with one QR code per zone.

Each code opens the zone's request page, ``<public_url>/r/<zone_token>`` (the token is
the HMAC of the zone under the first key of ``portal_secret``, or the key the gateway
made and keeps in the state store: the command opens the same store, so its codes are
the ones the gateway accepts). The page is one self-contained HTML file (the codes are
inline SVG made with ``segno``; no script, no outside asset), A4, six codes a sheet,
each with the zone's name and floor, the link in plain text, and a bilingual caption.

``sitewatch requests qr [--config FILE] [--base-url URL] [--out FILE]`` (``--out -``:
standard output; default ``request-codes.html``). Without a base URL (``--base-url`` or
``SITEWATCH_PUBLIC_URL``) it exits with 2: a code must carry the address people reach.
"""

from __future__ import annotations

import argparse
import sys

from gateway.settings import SettingsError, load_settings
from sitewatch import qr_sheet

CAPTION = ("扫码报事报修", "Scan to report a problem")


def render(site_name: str, links: list[dict[str, str | None]], base_url: str) -> str:
    cards = [
        qr_sheet.Card(str(z["name"]), z["floor"] or "", f"{base_url}/r/{z['token']}") for z in links
    ]
    return qr_sheet.render(f"{site_name}: {CAPTION[1]}", cards, CAPTION)


def cmd_qr(args: argparse.Namespace) -> int:
    from gateway.clock import SystemClock
    from gateway.requests.service import portal_keys
    from gateway.requests.tokens import ZoneTokens
    from gateway.site import load_site
    from gateway.store import open_store

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    base = qr_sheet.base_url(args, settings)
    if base is None:
        return 2
    site = load_site(settings.site_file or None)
    keys = portal_keys(open_store(settings.db_url), SystemClock(), settings.portal_secret)
    tokens = ZoneTokens(keys, settings.site, [z.id for z in site.zones])
    links: list[dict[str, str | None]] = [
        {"zone": z.id, "name": z.name, "floor": z.floor, "token": tokens.sign(z.id)}
        for z in site.zones
    ]
    page = render(site.name, links, base)
    qr_sheet.write(args.out, page, len(links))
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("requests", help="the request page of each zone")
    rsub = r.add_subparsers(dest="requests_command", required=True)
    q = rsub.add_parser("qr", help="a printable page of QR codes, one per zone")
    q.add_argument("--config", help="YAML settings file")
    q.add_argument("--base-url", help="the address people reach the pages at")
    q.add_argument("--out", default="request-codes.html", help="the HTML file (- for stdout)")
    q.set_defaults(fn=cmd_qr)
