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
import html
import sys
from pathlib import Path

import segno

from gateway.settings import SettingsError, load_settings

CAPTION_ZH = "扫码报事报修"
CAPTION_EN = "Scan to report a problem"
CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 0; color: #000; }
.sheet { display: grid; grid-template-columns: 1fr 1fr; gap: 8mm; }
.code { border: 1px dashed #888; padding: 6mm; text-align: center; break-inside: avoid; }
.code h2 { margin: 0 0 2mm; font-size: 16pt; }
.code .floor { margin: 0; color: #444; }
.code .cap { font-size: 14pt; font-weight: 700; margin: 2mm 0 0; }
.code .url { font-family: monospace; font-size: 7pt; overflow-wrap: anywhere; margin: 2mm 0 0; }
.code svg { width: 55mm; height: 55mm; }
"""


def render(site_name: str, links: list[dict[str, str | None]], base_url: str) -> str:
    cards = []
    for z in links:
        url = f"{base_url}/r/{z['token']}"
        svg = segno.make(url, error="m").svg_inline(scale=4, title=f"{z['name']}")
        floor = f'<p class="floor">{html.escape(z["floor"] or "")}</p>' if z["floor"] else ""
        cards.append(
            f'<section class="code"><h2>{html.escape(str(z["name"]))}</h2>{floor}{svg}'
            f'<p class="cap">{CAPTION_ZH}<br>{CAPTION_EN}</p>'
            f'<p class="url">{html.escape(url)}</p></section>'
        )
    title = html.escape(f"{site_name}: {CAPTION_EN}")
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}</style></head>"
        f'<body><main class="sheet">{"".join(cards)}</main></body></html>\n'
    )


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
    base = (args.base_url or settings.public_url).rstrip("/")
    if not base.startswith(("http://", "https://")):
        print(
            "a QR code carries the address people reach the gateway at: set "
            "SITEWATCH_PUBLIC_URL or pass --base-url https://…",
            file=sys.stderr,
        )
        return 2
    site = load_site(settings.site_file or None)
    keys = portal_keys(open_store(settings.db_url), SystemClock(), settings.portal_secret)
    tokens = ZoneTokens(keys, settings.site, [z.id for z in site.zones])
    links: list[dict[str, str | None]] = [
        {"zone": z.id, "name": z.name, "floor": z.floor, "token": tokens.sign(z.id)}
        for z in site.zones
    ]
    page = render(site.name, links, base)
    if args.out == "-":
        sys.stdout.write(page)
    else:
        Path(args.out).write_text(page, encoding="utf-8")
        print(f"{len(links)} codes written to {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("requests", help="the request page of each zone")
    rsub = r.add_subparsers(dest="requests_command", required=True)
    q = rsub.add_parser("qr", help="a printable page of QR codes, one per zone")
    q.add_argument("--config", help="YAML settings file")
    q.add_argument("--base-url", help="the address people reach the pages at")
    q.add_argument("--out", default="request-codes.html", help="the HTML file (- for stdout)")
    q.set_defaults(fn=cmd_qr)
