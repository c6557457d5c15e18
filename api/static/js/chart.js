// Small hand-rolled SVG charts: time series (line or step), bars over time, grouped bars.
// Labels go in as text nodes (s() never parses markup).

import { s, clock, dateTime } from "./dom.js";
import { number, t } from "./i18n.js";

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function ticks(lo, hi, n = 4) {
  const out = [];
  for (let i = 0; i <= n; i++) out.push(lo + ((hi - lo) * i) / n);
  return out;
}

function fmtNum(v) {
  const a = Math.abs(v);
  if (a >= 1000) return number(v, { notation: "compact", maximumFractionDigits: a >= 10000 ? 0 : 1 });
  if (a >= 100 || Number.isInteger(v)) return number(Math.round(v));
  return number(v, { maximumFractionDigits: a >= 10 ? 1 : 2 });
}
const pct = (v, digits = 0) => t("fig.pct", { v: number(v, { maximumFractionDigits: digits, minimumFractionDigits: digits }) });

/**
 * One time-series panel.
 * series: {name, points: [[ms, value]], step?: bool, unit?: string}
 * markers: [{t: ms, label, cls}]
 */
export function timeChart({ series, markers = [], start, end, width = 560, height = 150, title }) {
  const pad = { l: 46, r: 12, t: title ? 22 : 10, b: 22 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const pts = series.points;
  let lo = Math.min(...pts.map((p) => p[1]));
  let hi = Math.max(...pts.map((p) => p[1]));
  if (series.step) {
    lo = 0;
    hi = 1;
  } else {
    if (lo === hi) {
      lo -= 1;
      hi += 1;
    }
    const m = (hi - lo) * 0.1;
    lo -= m;
    hi += m;
  }
  const x = (t) => pad.l + ((t - start) / Math.max(1, end - start)) * w;
  const y = (v) => pad.t + hgt - ((v - lo) / (hi - lo)) * hgt;
  const svg = s("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": t("chart.series_label", { name: series.name, from: clock(start), to: clock(end) }),
  });
  if (title) svg.appendChild(s("text", { x: pad.l, y: 14, class: "chart-title" }, title));
  for (const v of series.step ? [0, 1] : ticks(lo, hi, 3)) {
    svg.appendChild(s("line", { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: "grid" }));
    const text = series.step ? (v ? t("chart.true") : t("chart.false")) : fmtNum(v);
    svg.appendChild(s("text", { x: pad.l - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, text));
  }
  ticks(start, end, 4).forEach((t, i, all) => {
    const anchor = i === 0 ? "start" : i === all.length - 1 ? "end" : "middle";
    svg.appendChild(s("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": anchor }, clock(t).slice(0, 5)));
  });
  const labelled = [];
  for (const mk of markers) {
    if (mk.t < start || mk.t > end) continue;
    const crowded = labelled.some((lx) => Math.abs(lx - x(mk.t)) < 44);
    svg.appendChild(s("line", { x1: x(mk.t), x2: x(mk.t), y1: pad.t, y2: pad.t + hgt, class: ["marker", mk.cls] }));
    if (crowded) continue;
    labelled.push(x(mk.t));
    const right = x(mk.t) > pad.l + w - 50;
    svg.appendChild(s("text", { x: x(mk.t) + (right ? -4 : 4), y: pad.t + 10, class: ["marker-label", mk.cls], "text-anchor": right ? "end" : "start" }, mk.label));
  }
  let d = "";
  pts.forEach(([t, v], i) => {
    const px = x(t).toFixed(1);
    const py = y(v).toFixed(1);
    if (i === 0) d += `M${px},${py}`;
    else if (series.step) d += `H${px}V${py}`;
    else d += `L${px},${py}`;
  });
  if (series.step && pts.length) d += `H${x(end).toFixed(1)}`;
  svg.appendChild(s("path", { d, class: "series" }));
  if (pts.length < 40) {
    for (const [t, v] of pts) svg.appendChild(s("circle", { cx: x(t), cy: y(v), r: 2.5, class: "dot" }));
  }
  return svg;
}

/** counts over time buckets: [{start: ms, end: ms, value}] */
export function bucketChart({ buckets, width = 900, height = 260, target, unit = "" }) {
  const pad = { l: 44, r: 14, t: 14, b: 26 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("fig.rate_name") });
  if (!buckets.length) return svg;
  const start = buckets[0].start;
  const end = buckets[buckets.length - 1].end;
  const hi = niceMax(Math.max(target || 0, ...buckets.map((b) => b.value)) * 1.1);
  const x = (t) => pad.l + ((t - start) / Math.max(1, end - start)) * w;
  const y = (v) => pad.t + hgt - (v / hi) * hgt;
  for (const v of ticks(0, hi, 4)) {
    svg.appendChild(s("line", { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: "grid" }));
    svg.appendChild(s("text", { x: pad.l - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmtNum(v)));
  }
  for (const b of buckets) {
    const bw = Math.max(1, x(b.end) - x(b.start) - 1);
    const cls = target !== undefined && b.value > target * 10 ? "bar flood" : target !== undefined && b.value > target ? "bar over" : "bar";
    if (b.value > 0) {
      const r = s("rect", { x: x(b.start), y: y(b.value), width: bw, height: y(0) - y(b.value), class: cls });
      r.appendChild(s("title", null, `${dateTime(b.start)}: ${number(b.value)}${unit}`));
      svg.appendChild(r);
    }
  }
  if (target !== undefined) {
    svg.appendChild(s("line", { x1: pad.l, x2: pad.l + w, y1: y(target), y2: y(target), class: "target" }));
    svg.appendChild(s("text", { x: pad.l + w - 4, y: y(target) - 5, class: "target-label", "text-anchor": "end" }, t("chart.target", { v: `${number(target)}${unit}` })));
  }
  const span = end - start;
  const n = span > 12 * 3600e3 ? 6 : 4;
  for (const t of ticks(start, end, n)) {
    svg.appendChild(s("text", { x: x(t), y: height - 6, class: "axis", "text-anchor": "middle" }, clock(t).slice(0, 5)));
  }
  return svg;
}

/**
 * Grouped horizontal bars in percent: groups [{label, values: {key: pct}}], keys [{key, label}]
 */
export function percentBars({ groups, keys, width = 900, target }) {
  const rowH = 16;
  const gap = 14;
  const pad = { l: 170, r: 60, t: 26, b: 22 };
  const groupH = keys.length * (rowH + 3);
  const height = pad.t + pad.b + groups.length * (groupH + gap);
  const w = width - pad.l - pad.r;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("fig.sla_name") });
  const x = (v) => pad.l + (Math.max(0, Math.min(100, v)) / 100) * w;
  keys.forEach((k, i) => {
    const lx = pad.l + i * 150;
    svg.appendChild(s("rect", { x: lx, y: 6, width: 12, height: 12, class: `bar k${i}` }));
    svg.appendChild(s("text", { x: lx + 18, y: 16, class: "legend" }, k.label));
  });
  for (const v of [0, 25, 50, 75, 100]) {
    svg.appendChild(s("line", { x1: x(v), x2: x(v), y1: pad.t, y2: height - pad.b, class: "grid" }));
    svg.appendChild(s("text", { x: x(v), y: height - 6, class: "axis", "text-anchor": "middle" }, pct(v)));
  }
  if (target !== undefined) {
    svg.appendChild(s("line", { x1: x(target), x2: x(target), y1: pad.t, y2: height - pad.b, class: "target" }));
  }
  groups.forEach((g, gi) => {
    const gy = pad.t + gi * (groupH + gap) + gap / 2;
    svg.appendChild(s("text", { x: pad.l - 10, y: gy + groupH / 2 + 4, class: "group-label", "text-anchor": "end" }, g.label));
    keys.forEach((k, i) => {
      const v = g.values[k.key];
      const by = gy + i * (rowH + 3);
      if (typeof v !== "number") {
        svg.appendChild(s("text", { x: pad.l + 4, y: by + rowH - 4, class: "axis" }, t("chart.no_data")));
        return;
      }
      const cls = target !== undefined && v < target ? `bar k${i} below` : `bar k${i}`;
      const r = s("rect", { x: pad.l, y: by, width: Math.max(1, x(v) - pad.l), height: rowH, class: cls });
      r.appendChild(s("title", null, `${g.label}, ${k.label}: ${pct(v, 1)}`));
      svg.appendChild(r);
      svg.appendChild(s("text", { x: x(v) + 6, y: by + rowH - 4, class: "value" }, pct(v, 1)));
    });
  });
  return svg;
}

/** simple vertical bars with labels: [{label, value, cls}] */
export function columnChart({ bars, width = 420, height = 200, unit = "", max, label }) {
  const pad = { l: 36, r: 10, t: 18, b: 26 };
  const w = width - pad.l - pad.r;
  const hgt = height - pad.t - pad.b;
  const hi = max ?? niceMax(Math.max(...bars.map((b) => b.value), 0));
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label || bars.map((b) => `${b.label} ${fmtNum(b.value)}${unit}`).join(", ") });
  const bw = w / Math.max(1, bars.length);
  const y = (v) => pad.t + hgt - (v / hi) * hgt;
  for (const v of ticks(0, hi, 4)) {
    svg.appendChild(s("line", { x1: pad.l, x2: pad.l + w, y1: y(v), y2: y(v), class: "grid" }));
    svg.appendChild(s("text", { x: pad.l - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmtNum(v)));
  }
  bars.forEach((b, i) => {
    const bx = pad.l + i * bw + bw * 0.18;
    const v = Math.max(0, b.value);
    svg.appendChild(s("rect", { x: bx, y: y(v), width: bw * 0.64, height: y(0) - y(v), class: ["bar", b.cls] }));
    svg.appendChild(s("text", { x: bx + bw * 0.32, y: y(v) - 4, class: "value", "text-anchor": "middle" }, `${fmtNum(b.value)}${unit}`));
    svg.appendChild(s("text", { x: bx + bw * 0.32, y: height - 8, class: "axis", "text-anchor": "middle" }, b.label));
    if (b.marker !== undefined) {
      svg.appendChild(s("line", { x1: bx - 4, x2: bx + bw * 0.64 + 4, y1: y(b.marker), y2: y(b.marker), class: "target" }));
    }
  });
  return svg;
}

/**
 * A small trend line: points [{label, value (null: no data)}], a gap where a value is null,
 * an optional dashed reference line (a target). Drawn with DOM calls only.
 */
export function sparkline({ points, width = 160, height = 40, ref, label }) {
  const pad = 4;
  const vals = points.map((p) => p.value).filter((v) => typeof v === "number" && Number.isFinite(v));
  const all = typeof ref === "number" ? [...vals, ref] : vals;
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const x = (i) => pad + (points.length > 1 ? (i / (points.length - 1)) * (width - 2 * pad) : (width - 2 * pad) / 2);
  const y = (v) => pad + (height - 2 * pad) * (1 - (v - lo) / (hi - lo));
  const svg = s("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": label || "" });
  svg.appendChild(s("title", null, label || ""));
  if (typeof ref === "number") svg.appendChild(s("line", { x1: pad, x2: width - pad, y1: y(ref), y2: y(ref), class: "spark-ref" }));
  let d = "";
  let pen = false;
  points.forEach((p, i) => {
    if (typeof p.value !== "number" || !Number.isFinite(p.value)) {
      pen = false;
      return;
    }
    d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
    pen = true;
  });
  if (d) svg.appendChild(s("path", { d, class: "spark-line" }));
  points.forEach((p, i) => {
    if (typeof p.value === "number" && Number.isFinite(p.value)) {
      const c = s("circle", { cx: x(i), cy: y(p.value), r: i === points.length - 1 ? 2.8 : 1.6, class: ["spark-dot", i === points.length - 1 && "last"] });
      c.appendChild(s("title", null, `${p.label}: ${fmtNum(p.value)}`));
      svg.appendChild(c);
    }
  });
  if (!vals.length) svg.appendChild(s("text", { x: width / 2, y: height / 2 + 4, class: "axis", "text-anchor": "middle" }, t("chart.no_data")));
  return svg;
}
