"""A printable A4 sheet of QR codes, shared by ``sitewatch requests qr`` and ``sitewatch
rounds qr``.

One self-contained HTML file: the codes are inline SVG made with ``segno`` (no script, no
outside asset), six a sheet, each card with a heading, a line under it, the code, a
bilingual caption and the link in plain text. Text is escaped, never markup.
"""

from __future__ import annotations

import argparse
import html
import sys
from dataclasses import dataclass
from pathlib import Path

import segno

from gateway.settings import Settings

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

NO_BASE_URL = (
    "a QR code carries the address people reach the gateway at: set "
    "SITEWATCH_PUBLIC_URL or pass --base-url https://…"
)


@dataclass(frozen=True, slots=True)
class Card:
    heading: str
    where: str  # the line under the heading ("" for none)
    url: str


def render(title: str, cards: list[Card], caption: tuple[str, str], heading: str = "") -> str:
    """The sheet: ``caption`` is (Chinese, English); ``heading`` an optional ``h1``."""
    zh, en = (html.escape(c) for c in caption)
    parts = []
    for c in cards:
        svg = segno.make(c.url, error="m").svg_inline(scale=4, title=c.heading)
        where = f'<p class="where">{html.escape(c.where)}</p>' if c.where else ""
        parts.append(
            f'<section class="code"><h2>{html.escape(c.heading)}</h2>{where}{svg}'
            f'<p class="cap">{zh}<br>{en}</p>'
            f'<p class="url">{html.escape(c.url)}</p></section>'
        )
    h1 = f"<h1>{html.escape(heading)}</h1>" if heading else ""
    return (
        '<!doctype html>\n<html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>"
        f'<body>{h1}<main class="sheet">{"".join(parts)}</main></body></html>\n'
    )


def base_url(args: argparse.Namespace, settings: Settings) -> str | None:
    """``--base-url`` or the public URL without a trailing slash; None (said on stderr)
    when neither is an http(s) address."""
    base = (args.base_url or settings.public_url or "").rstrip("/")
    if not base.startswith(("http://", "https://")):
        print(NO_BASE_URL, file=sys.stderr)
        return None
    return base


def write(out: str, page: str, count: int) -> None:
    """The page to ``out`` (``-``: standard output)."""
    if out == "-":
        sys.stdout.write(page)
    else:
        Path(out).write_text(page, encoding="utf-8")
        print(f"{count} codes written to {out}")
