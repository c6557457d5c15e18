// Figures: the scorecard (scorecard.js, for manager, viewer and admin) and /api/v1/kpis as charts. The figures object may lack any part (an older or
// partial gateway); each panel looks for what it needs and says so when it is missing.

import { get } from "./api.js";
import { bucketChart, columnChart, percentBars } from "./chart.js";
import { dateTime, duration, h, num, parseTime, replace } from "./dom.js";
import { t, tv } from "./i18n.js";
import { maySeeScorecard, mountScorecard } from "./scorecard.js";
import { deviceName } from "./store.js";
import { crewName, unavailableNote } from "./tickets.js";

const isObj = (v) => v && typeof v === "object" && !Array.isArray(v);

/** depth-first: the first value whose key matches and that passes the test */
export function findDeep(obj, keyRe, test = () => true, depth = 5) {
  if (!obj || typeof obj !== "object" || depth < 0) return undefined;
  for (const [k, v] of Object.entries(obj)) if (keyRe.test(k) && test(v)) return v;
  for (const v of Object.values(obj)) {
    if (v && typeof v === "object") {
      const r = findDeep(v, keyRe, test, depth - 1);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

function rateBuckets(k) {
  const rate = findDeep(k, /^(rate|alarm_rate)$/, (v) => isObj(v) && Array.isArray(v.series)) || findDeep(k, /^series$/, Array.isArray);
  const series = Array.isArray(rate) ? rate : rate && rate.series;
  if (!Array.isArray(series) || !series.length) return null;
  const buckets = [];
  for (const b of series) {
    const start = parseTime(b.start ?? b.t ?? b.ts);
    if (start === null) continue;
    const end = parseTime(b.end) ?? start + 10 * 60_000;
    const value = Number(b.count ?? b.value ?? b.n ?? 0);
    buckets.push({ start, end, value: Number.isFinite(value) ? value : 0 });
  }
  return buckets.length ? { buckets, meta: Array.isArray(rate) ? {} : rate } : null;
}

function pct(v) {
  if (typeof v !== "number" || !Number.isFinite(v)) return undefined;
  return v;
}

/** the SLA compliance of each clock of one crew's figures: {clock: percent} */
function slaOf(entry) {
  const out = {};
  const sla = findDeep(entry, /^(sla|sla_compliance|compliance|sla_pct|sla_percent)$/, isObj, 2);
  if (sla) {
    for (const [k, v] of Object.entries(sla)) {
      if (typeof v === "number") out[k] = v;
      else if (isObj(v)) {
        const p = v.compliance_pct ?? v.percent ?? v.pct ?? v.compliance ?? v.rate ?? v.value;
        if (typeof p === "number") out[k] = p;
        else if (typeof v.met === "number" && typeof v.total === "number" && v.total > 0) out[k] = v.met / v.total;
      }
    }
  } else {
    for (const [k, v] of Object.entries(entry)) {
      const m = /^(?:sla_)?(\w+?)_(?:compliance|sla)(?:_pct|_percent)?$/.exec(k);
      if (m && typeof v === "number") out[m[1]] = v;
    }
  }
  // fractions (all values within 0..1) become percent
  const vals = Object.values(out);
  if (vals.length && vals.every((v) => v >= 0 && v <= 1) && vals.some((v) => v > 0 && v < 1)) for (const k of Object.keys(out)) out[k] *= 100;
  return out;
}

function crewGroups(k) {
  const raw = findDeep(k, /^(by_crew|per_crew|crews|crew)$/, (v) => isObj(v) || Array.isArray(v));
  if (!raw) return null;
  const entries = Array.isArray(raw) ? raw.map((e) => [e.crew ?? e.id ?? e.name, e]) : Object.entries(raw);
  const groups = [];
  const clocks = [];
  for (const [id, e] of entries) {
    if (!isObj(e)) continue;
    const values = slaOf(e);
    for (const c of Object.keys(values)) if (!clocks.includes(c)) clocks.push(c);
    groups.push({ label: crewName(String(id)), values });
  }
  if (!groups.length || !clocks.length) return null;
  return { groups, keys: clocks.slice(0, 4).map((c) => ({ key: c, label: tv("clock", c) })) };
}

function tile(title, value, sub, cls) {
  return h("div", { class: ["kpi", cls] }, h("div", { class: "kpi-v" }, value), h("div", { class: "kpi-l" }, title), sub ? h("div", { class: "kpi-s" }, sub) : null);
}

function timeVal(key, v) {
  if (typeof v !== "number") return isObj(v) ? timeVal(key, v.value ?? v.avg ?? v.mean) : "—";
  if (/_ms$/.test(key)) return duration(v);
  if (/_min$|minutes/.test(key)) return duration(v * 60_000);
  if (/_h$|hours/.test(key)) return duration(v * 3_600_000);
  return duration(v * 1000);
}

function panel(title, body, cls) {
  return h("div", { class: ["panel", cls] }, h("h2", { class: "panel-title" }, title), body);
}

const missing = (what) => h("p", { class: "muted" }, t("fig.missing", { what }));
const pctText = (v) => t("fig.pct", { v: num(v) });

export function mount(root) {
  const box = h("div", { class: "figures-body" });
  const stamp = h("span", { class: "muted" });
  const page = h("section", { class: "figures" }, h("div", { class: "board-head" }, h("h1", { class: "page-title" }, t("view.figures")), stamp));
  root.appendChild(page);
  // the scorecard first for those who may read it (manager, viewer, admin), then the live figures
  const offScorecard = maySeeScorecard() ? mountScorecard(page) : null;
  page.appendChild(box);

  async function load() {
    let k;
    try {
      k = await get("/api/v1/kpis");
    } catch (err) {
      replace(box, unavailableNote(err, "figures"));
      return;
    }
    if (!isObj(k)) k = {};
    render(k);
  }

  function render(k) {
    stamp.textContent = t("fig.stamp", { when: dateTime(k.at || (k.period && k.period.end) || Date.now()) });
    // ---- headline tiles
    const tiles = [];
    const activations = findDeep(k, /^activations$/, (v) => typeof v === "number");
    const rate = rateBuckets(k);
    if (activations !== undefined) tiles.push(tile(t("fig.alarms_24h"), num(activations)));
    if (rate && rate.meta && typeof rate.meta.average_per_10min === "number") {
      const over = rate.meta.average_per_10min > (rate.meta.target_per_10min ?? 1);
      tiles.push(tile(t("fig.avg_10min"), num(rate.meta.average_per_10min, 2), t("fig.peak_target", { peak: rate.meta.peak_per_10min ?? "—", target: rate.meta.target_per_10min ?? 1 }), over ? "bad" : "good"));
    }
    const flood = findDeep(k, /^flood$/, isObj);
    if (flood) tiles.push(tile(t("fig.flood_time"), pctText(flood.time_in_flood_pct ?? 0), t("fig.episodes", { n: flood.episodes ?? 0 }), flood.time_in_flood_pct > 1 ? "bad" : "good"));
    const isNum = (v) => typeof v === "number" && Number.isFinite(v);
    for (const [re, title] of [[/^mean_time_to_assign(_\w+)?$/, t("fig.mtt_assign")], [/^mtta(_\w+)?$/, t("fig.mtt_start")], [/^mttr(_\w+)?$/, t("fig.mtt_resolve")]]) {
      const hit = findEntry(k, re, isNum);
      if (hit) tiles.push(tile(title, timeVal(hit[0], hit[1])));
    }
    const ftf = findEntry(k, /^first_time_fix(_rate|_pct|_percent)?$/, isNum);
    if (ftf) tiles.push(tile(t("fig.ftf"), pctText(asPct(ftf)), null, asPct(ftf) >= 80 ? "good" : "bad"));
    const rep = findEntry(k, /^repeat(_fault)?(_rate|_pct|_percent)?$/, isNum);
    if (rep) tiles.push(tile(t("fig.repeat"), pctText(asPct(rep))));
    const satRaw = findDeep(k, /^(avg_|average_|mean_)?satisfaction$/, (v) => isNum(v) || (isObj(v) && ("average" in v || "mean" in v)));
    const sat = isObj(satRaw) ? satRaw.average ?? satRaw.mean : satRaw;
    if (isNum(sat)) tiles.push(tile(t("fig.satisfaction"), t("ticket.score", { n: num(sat) }), isObj(satRaw) && isNum(satRaw.count) ? t("fig.calls", { n: satRaw.count }) : null, sat >= 8 ? "good" : sat < 7.5 ? "bad" : ""));
    else if (satRaw !== undefined) tiles.push(tile(t("fig.satisfaction"), "—", t("fig.no_calls")));
    const backlog = findDeep(k, /^backlog$/, (v) => isObj(v) && isNum(v.total));
    if (backlog) tiles.push(tile(t("fig.backlog"), num(backlog.total), t("fig.not_resolved")));
    const open = findDeep(k, /^open$/, (v) => isObj(v) && typeof v.total === "number");
    if (open) tiles.push(tile(t("fig.open_alarms"), num(open.total), t("fig.open_sub", { unacked: open.unacked ?? 0, shelved: open.shelved ?? 0 })));

    // ---- charts
    const rateChart = rate
      ? bucketChart({ buckets: rate.buckets, target: rate.meta && typeof rate.meta.target_per_10min === "number" ? rate.meta.target_per_10min : undefined, width: 1160, height: 300 })
      : missing(t("fig.rate_name"));
    const crews = crewGroups(k);
    const slaChart = crews ? percentBars({ groups: crews.groups, keys: crews.keys, width: 620, target: 90 }) : missing(t("fig.sla_name"));

    const mix = findDeep(k, /^priority_mix$/, isObj);
    let mixChart = missing(t("fig.mix_name"));
    if (mix && isObj(mix.compared_percent)) {
      const g = mix.guidance_percent || {};
      mixChart = columnChart({
        bars: ["high", "medium", "low"].map((p) => ({ label: p === "high" ? t("fig.high_critical") : tv("prio", p), value: Number(mix.compared_percent[p] || 0), cls: `p-${p}`, marker: typeof g[p] === "number" ? g[p] : undefined })),
        unit: "%",
        max: 100,
        width: 420,
        height: 230,
      });
    }
    const worst = findDeep(k, /^worst_offenders$/, Array.isArray);
    const worstTable = worst && worst.length
      ? h("table", { class: "mini" }, h("thead", null, h("tr", null, h("th", null, t("col.device")), h("th", null, t("fact.rule")), h("th", { class: "num" }, t("fig.alarms")))),
          h("tbody", null, worst.slice(0, 8).map((w) => h("tr", null, h("td", null, deviceName(w.device)), h("td", { class: "mono" }, w.rule), h("td", { class: "num" }, num(w.count))))))
      : h("p", { class: "muted" }, worst ? t("fig.no_alarms_24h") : missing(t("fig.worst_name")).textContent);

    let backlogChart = missing(t("fig.backlog_name"));
    if (backlog && isObj(backlog.by_age)) {
      backlogChart = columnChart({ bars: Object.entries(backlog.by_age).map(([name, n]) => ({ label: tv("age", name), value: Number(n) || 0 })), width: 420, height: 230 });
    }
    replace(
      box,
      h("div", { class: "kpis" }, tiles.length ? tiles : h("p", { class: "muted" }, t("fig.none"))),
      h("div", { class: "fig-grid" },
        panel(t("fig.rate_title"), rateChart, "wide"),
        panel(t("fig.sla_title"), slaChart),
        panel(t("fig.worst_title"), worstTable),
        panel(t("fig.backlog_title"), backlogChart),
        panel(t("fig.mix_title"), mixChart),
      ),
    );
  }

  load();
  const poll = setInterval(load, 30_000);
  return () => {
    clearInterval(poll);
    if (offScorecard) offScorecard();
  };
}

/** [key, value] of the first entry whose key matches and whose value passes */
function findEntry(obj, keyRe, test, depth = 5) {
  if (!obj || typeof obj !== "object" || depth < 0) return null;
  for (const [k, v] of Object.entries(obj)) if (keyRe.test(k) && test(v)) return [k, v];
  for (const v of Object.values(obj)) {
    if (v && typeof v === "object") {
      const r = findEntry(v, keyRe, test, depth - 1);
      if (r) return r;
    }
  }
  return null;
}

/** a [key, value] figure as percent: keys ending _pct/_percent are percent already */
function asPct([key, v]) {
  return /_(pct|percent)$/.test(key) || v > 1 ? v : v * 100;
}
