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
import html
import sys
from pathlib import Path
from urllib.parse import quote

import segno

from gateway.settings import SettingsError, load_settings
from rules.site import RoundTemplate

CAPTION_ZH = "巡检点 请扫码确认"
CAPTION_EN = "Inspection point: scan to confirm"
CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       margin: 0; color: #000; }
h1 { font-size: 14pt; margin: 0 0 6mm; }
.sheet { display: grid; grid-template-columns: 1fr 1fr; gap: 8mm; }
.code { border: 1px dashed #888; padding: 6mm; text-align: center; break-inside: avoid; }
.code h2 { margin: 0 0 2mm; font-size: 15pt; }
.code .where { margin: 0; color: #444; }
.code .cap { font-size: 13pt; font-weight: 700; margin: 2mm 0 0; }
.code .url { font-family: monospace; font-size: 7pt; overflow-wrap: anywhere; margin: 2mm 0 0; }
.code svg { width: 55mm; height: 55mm; }
"""


def checkpoint_url(base: str, template: str, checkpoint: str) -> str:
    return f"{base}/#/rounds/scan/{quote(template)}/{quote(checkpoint)}"


def render(t: RoundTemplate, zones: dict[str, tuple[str, str | None]], base: str) -> str:
    cards = []
    for n, cp in enumerate(t.checkpoints, 1):
        url = checkpoint_url(base, t.id, cp.id)
        zname, floor = zones.get(cp.zone, (cp.zone, None))
        title = cp.name or zname
        svg = segno.make(url, error="m").svg_inline(scale=4, title=title)
        where = " · ".join(x for x in (zname, floor) if x)
        cards.append(
            f'<section class="code"><h2>{n}. {html.escape(title)}</h2>'
            f'<p class="where">{html.escape(where)}</p>{svg}'
            f'<p class="cap">{CAPTION_ZH}<br>{CAPTION_EN}</p>'
            f'<p class="url">{html.escape(url)}</p></section>'
        )
    name = html.escape(t.name)
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{name}</title><style>{CSS}</style></head>"
        f'<body><h1>{name}</h1><main class="sheet">{"".join(cards)}</main></body></html>\n'
    )


def cmd_qr(args: argparse.Namespace) -> int:
    from gateway.site import load_site

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    base = (args.base_url or settings.public_url or "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        print(
            "a QR code carries the address people reach the gateway at: set "
            "SITEWATCH_PUBLIC_URL or pass --base-url https://…",
            file=sys.stderr,
        )
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
    if out == "-":
        sys.stdout.write(page)
    else:
        Path(out).write_text(page, encoding="utf-8")
        print(f"{len(found.checkpoints)} codes written to {out}")
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
