"""The monthly report as HTML (with a print stylesheet), CSV or PDF.

``render(data, fmt)`` takes what :meth:`gateway.figures.service.Figures.monthly` gathered
and returns bytes. The output depends on the data alone: no time of generation, no
random ids, rows in stable order, numbers with fixed decimals, so the same data gives
the same bytes (HTML and CSV; the PDF too, as WeasyPrint writes no creation date: two
runs are compared in the tests). Words come from ``gateway.figures.report_text`` in the site's
language (``scorecard.language`` of the site file). The HTML needs nothing from outside:
styles inline, the trends drawn as inline SVG.
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Any

from gateway.figures.report_text import PRIORITY_ZH, SYSTEM_ZH, TEXT, note
from gateway.figures.scorecard import DIMENSIONS

FORMATS = ("html", "csv", "pdf")

CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","Microsoft YaHei",
"PingFang SC",sans-serif;color:#1a1a1a;margin:2em;font-size:14px;line-height:1.45}
h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .5em;
border-bottom:2px solid #2c5d8a;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;margin:.4em 0}
th,td{border:1px solid #c8ced6;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eef2f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#6b6b6b;font-size:.9em}.meta td{border:none;padding:.1em .6em .1em 0}
svg{vertical-align:middle}
@media print{body{margin:0;font-size:10pt}h2{break-after:avoid}
tr{break-inside:avoid}@page{size:A4;margin:15mm}a{color:inherit;text-decoration:none}}
"""


def fmt(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _t(lang: str) -> dict[str, str]:
    return TEXT["zh" if lang == "zh" else "en"]


def _system(name: str, lang: str) -> str:
    return SYSTEM_ZH.get(name, name) if lang == "zh" else name


def sparkline(values: list[float | None], width: int = 120, height: int = 24) -> str:
    """An inline SVG of the trend (missing months leave a break in the line)."""
    nums = [v for v in values if v is not None]
    if not nums:
        return ""
    lo, hi = min(nums), max(nums)
    span = (hi - lo) or 1.0
    step = width / max(1, len(values) - 1)
    segments: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            segments.append([])
            continue
        x = i * step
        y = height - 2 - (v - lo) / span * (height - 4)
        segments[-1].append(f"{x:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline fill="none" stroke="#2c5d8a" stroke-width="1.5" points="{" ".join(s)}"/>'
        for s in segments
        if len(s) > 1
    )
    dots = "".join(
        f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="1.5" fill="#2c5d8a"/>'
        for s in segments
        if len(s) == 1
        for p in s
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-hidden="true">{lines}{dots}</svg>'
    )


def render_html(data: dict[str, Any]) -> str:
    lang = data["language"]
    t = _t(lang)
    e = escape
    out: list[str] = [
        "<!DOCTYPE html>",
        f'<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">',
        f"<title>{e(data['site']['name'])} {e(t['title'])} {e(data['month'])}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{e(data['site']['name'])} · {e(t['title'])} {e(data['month'])}</h1>",
        '<table class="meta">',
        f"<tr><td>{e(t['site'])}</td><td>{e(data['site']['id'])}</td></tr>",
        f"<tr><td>{e(t['span'])}</td><td>{e(data['span'][0])} – {e(data['span'][1])} "
        f"({e(data['site']['timezone'])})</td></tr></table>",
        f"<h2>{e(t['scorecard'])}</h2>",
        f"<table><thead><tr><th>{e(t['figure'])}</th><th>{e(t['dimension'])}</th>"
        f"<th>{e(t['baseline'])}</th><th>{e(t['now'])}</th><th>{e(t['target'])}</th>"
        f"<th>{e(t['unit'])}</th><th>{e(t['trend'])}</th></tr></thead><tbody>",
    ]
    for f in data["figures"]:
        dim = DIMENSIONS[f["dimension"]]
        dim_name = dim[1] if lang == "zh" else dim[0]
        weight = f" ({dim[2]}%)" if dim[2] else ""
        value = fmt(f["value"]) or f'<span class="note">{e(t["no_value"])}</span>'
        why = f'<div class="note">{e(note(f["note"], lang))}</div>' if f["note"] else ""
        out.append(
            f"<tr><td><strong>{e(f['name'])}</strong>"
            f'<div class="note">{e(f["definition"])}</div></td>'
            f"<td>{e(dim_name)}{e(weight)}</td>"
            f'<td class="n">{fmt(f["baseline"])}</td><td class="n">{value}{why}</td>'
            f'<td class="n">{fmt(f["target"])}</td><td>{e(f["unit"])}</td>'
            f"<td>{sparkline([p['value'] for p in f['trend']])}</td></tr>"
        )
    out.append("</tbody></table>")
    out.extend(_energy_html(data, t, lang))
    out.extend(_worst_html(data, t))
    out.extend(_breaches_html(data, t, lang))
    out.append(f'<p class="note">{e(t["footer"])}</p></body></html>')
    return "\n".join(out) + "\n"


def _energy_html(data: dict[str, Any], t: dict[str, str], lang: str) -> list[str]:
    en = data["energy"]
    out = [f"<h2>{escape(t['energy'])}</h2>"]
    if en.get("note"):
        out.append(f'<p class="note">{escape(note(en["note"], lang))}</p>')
    zones = {z: n for z, n in data.get("zone_names", [])}
    for by, title in (("zone", t["by_zone"]), ("system", t["by_system"])):
        rows = en.get(by) or []
        if not rows:
            continue
        out.append(
            f"<h3>{escape(title)}</h3><table><thead><tr><th>{escape(t['key'])}</th>"
            f"<th>{escape(t['kwh'])}</th></tr></thead><tbody>"
        )
        for key, kwh in rows:
            label = _system(key, lang) if by == "system" else zones.get(key, key)
            out.append(f'<tr><td>{escape(label)}</td><td class="n">{fmt(kwh, 1)}</td></tr>')
        total = sum(kwh for _, kwh in rows)
        out.append(
            f'<tr><th>{escape(t["total"])}</th><th class="n">{fmt(total, 1)}</th></tr>'
            "</tbody></table>"
        )
    return out


def _worst_html(data: dict[str, Any], t: dict[str, str]) -> list[str]:
    out: list[str] = []
    for key, col in (("worst_devices", "device"), ("worst_zones", "zone")):
        out.append(f"<h2>{escape(t[key])}</h2>")
        rows = data[key]
        if not rows:
            out.append(f"<p>{escape(t['none'])}</p>")
            continue
        out.append(
            f"<table><thead><tr><th>{escape(t[col])}</th><th>{escape(t['alarms'])}</th>"
            f"<th>{escape(t['tickets'])}</th></tr></thead><tbody>"
        )
        for r in rows:
            out.append(
                f'<tr><td>{escape(r["name"])} <span class="note">{escape(r[col])}</span></td>'
                f'<td class="n">{r["alarms"]}</td><td class="n">{r["tickets"]}</td></tr>'
            )
        out.append("</tbody></table>")
    return out


def _causes(r: dict[str, Any], t: dict[str, str]) -> str:
    parts = ([t["unassigned"]] if r["unassigned"] else []) + list(r["notes"])
    return "; ".join(parts) if parts else t["no_cause"]


def _breaches_html(data: dict[str, Any], t: dict[str, str], lang: str) -> list[str]:
    out = [f"<h2>{escape(t['breaches'])}</h2>"]
    rows = data["breaches"]
    if not rows:
        return [*out, f"<p>{escape(t['none'])}</p>"]
    heads = ("ticket", "crew", "priority", "created", "clocks", "cause")
    out.append(
        "<table><thead><tr>"
        + "".join(f"<th>{escape(t[h])}</th>" for h in heads)
        + "</tr></thead><tbody>"
    )
    for r in rows:
        prio = PRIORITY_ZH.get(r["priority"], r["priority"]) if lang == "zh" else r["priority"]
        clocks = ", ".join(t.get(f"clock.{c}", c) for c in r["clocks"])
        out.append(
            f"<tr><td>#{r['id']} {escape(r['title'])}</td><td>{escape(r['crew'])}</td>"
            f"<td>{escape(prio)}</td><td>{escape(r['created'])}</td>"
            f"<td>{escape(clocks)}</td><td>{escape(_causes(r, t))}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def render_csv(data: dict[str, Any]) -> str:
    """One table: ``section, key, name, unit, baseline, value, target, note``; the
    scorecard, each figure's trend, energy by zone and system, the worst devices and
    zones (value = alarms, target column = tickets) and the missed service levels."""
    lang = data["language"]
    t = _t(lang)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "key", "name", "unit", "baseline", "value", "target", "note"])
    for f in data["figures"]:
        w.writerow(
            [
                "scorecard",
                f["id"],
                f["name"],
                f["unit"],
                fmt(f["baseline"]),
                fmt(f["value"]),
                fmt(f["target"]),
                note(f["note"], lang),
            ]
        )
    for f in data["figures"]:
        for p in f["trend"]:
            w.writerow(
                [
                    "trend",
                    f["id"],
                    p["period"],
                    f["unit"],
                    "",
                    fmt(p["value"]),
                    "",
                    note(p["note"], lang),
                ]
            )
    zones = dict(data.get("zone_names", []))
    for by in ("zone", "system"):
        for key, kwh in data["energy"].get(by) or []:
            label = _system(key, lang) if by == "system" else zones.get(key, key)
            w.writerow([f"energy_{by}", key, label, "kWh", "", fmt(kwh, 3), "", ""])
    for key, col in (("worst_devices", "device"), ("worst_zones", "zone")):
        for r in data[key]:
            w.writerow([key, r[col], r["name"], "", "", r["alarms"], r["tickets"], ""])
    for r in data["breaches"]:
        w.writerow(
            ["breach", r["id"], r["title"], r["crew"], "", ",".join(r["clocks"]), "", _causes(r, t)]
        )
    return buf.getvalue()


def render_pdf(html_text: str) -> bytes:
    """PDF through WeasyPrint (optional dependency): ImportError when not installed."""
    import weasyprint  # type: ignore[import-not-found, unused-ignore]

    pdf: bytes = weasyprint.HTML(string=html_text).write_pdf()
    return pdf


def render(data: dict[str, Any], fmt_name: str) -> bytes:
    if fmt_name not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if fmt_name == "csv":
        return render_csv(data).encode("utf-8-sig" if data["language"] == "zh" else "utf-8")
    html_text = render_html(data)
    if fmt_name == "pdf":
        return render_pdf(html_text)
    return html_text.encode("utf-8")
