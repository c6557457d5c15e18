// Figures: /api/v1/kpis as charts. The figures object may lack any part (an older or
// partial gateway); each panel looks for what it needs and says so when it is missing.

import { get } from "./api.js";
import { bucketChart, columnChart, percentBars } from "./chart.js";
import { dateTime, duration, h, label, num, parseTime, replace } from "./dom.js";
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
  return { groups, keys: clocks.slice(0, 4).map((c) => ({ key: c, label: label(c) })) };
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

const missing = (what) => h("p", { class: "muted" }, `${what}: not reported by this gateway.`);

export function mount(root) {
  const box = h("div", { class: "figures-body" });
  const stamp = h("span", { class: "muted" });
  root.appendChild(h("section", { class: "figures" }, h("div", { class: "board-head" }, h("h1", { class: "page-title" }, "Figures"), stamp), box));

  async function load() {
    let k;
    try {
      k = await get("/api/v1/kpis");
    } catch (err) {
      replace(box, unavailableNote(err, "Figures"));
      return;
    }
    if (!isObj(k)) k = {};
    render(k);
  }

  function render(k) {
    stamp.textContent = `24 hours to ${dateTime(k.at || (k.period && k.period.end) || Date.now())} · refreshes every 30 s`;
    // ---- headline tiles
    const tiles = [];
    const activations = findDeep(k, /^activations$/, (v) => typeof v === "number");
    const rate = rateBuckets(k);
    if (activations !== undefined) tiles.push(tile("alarms in 24 h", String(activations)));
    if (rate && rate.meta && typeof rate.meta.average_per_10min === "number") {
      const over = rate.meta.average_per_10min > (rate.meta.target_per_10min ?? 1);
      tiles.push(tile("average per 10 min", num(rate.meta.average_per_10min, 2), `peak ${rate.meta.peak_per_10min ?? "—"} · target ≤ ${rate.meta.target_per_10min ?? 1}`, over ? "bad" : "good"));
    }
    const flood = findDeep(k, /^flood$/, isObj);
    if (flood) tiles.push(tile("time in flood", `${num(flood.time_in_flood_pct ?? 0)}%`, `${flood.episodes ?? 0} episode(s)`, flood.time_in_flood_pct > 1 ? "bad" : "good"));
    const isNum = (v) => typeof v === "number" && Number.isFinite(v);
    for (const [re, title] of [[/^mean_time_to_assign(_\w+)?$/, "mean time to assign"], [/^mtta(_\w+)?$/, "mean time to start work"], [/^mttr(_\w+)?$/, "mean time to resolve"]]) {
      const hit = findEntry(k, re, isNum);
      if (hit) tiles.push(tile(title, timeVal(hit[0], hit[1])));
    }
    const ftf = findEntry(k, /^first_time_fix(_rate|_pct|_percent)?$/, isNum);
    if (ftf) tiles.push(tile("first-time fix", `${num(asPct(ftf))}%`, null, asPct(ftf) >= 80 ? "good" : "bad"));
    const rep = findEntry(k, /^repeat(_fault)?(_rate|_pct|_percent)?$/, isNum);
    if (rep) tiles.push(tile("repeat faults (30 d)", `${num(asPct(rep))}%`));
    const satRaw = findDeep(k, /^(avg_|average_|mean_)?satisfaction$/, (v) => isNum(v) || (isObj(v) && ("average" in v || "mean" in v)));
    const sat = isObj(satRaw) ? satRaw.average ?? satRaw.mean : satRaw;
    if (isNum(sat)) tiles.push(tile("satisfaction", `${num(sat)}/10`, isObj(satRaw) && isNum(satRaw.count) ? `${satRaw.count} follow-up call(s)` : null, sat >= 8 ? "good" : sat < 7.5 ? "bad" : ""));
    else if (satRaw !== undefined) tiles.push(tile("satisfaction", "—", "no follow-up calls yet"));
    const backlog = findDeep(k, /^backlog$/, (v) => isObj(v) && isNum(v.total));
    if (backlog) tiles.push(tile("ticket backlog", String(backlog.total), "not yet resolved"));
    const open = findDeep(k, /^open$/, (v) => isObj(v) && typeof v.total === "number");
    if (open) tiles.push(tile("open alarms", String(open.total), `${open.unacked ?? 0} unacked · ${open.shelved ?? 0} shelved`));

    // ---- charts
    const rateChart = rate
      ? bucketChart({ buckets: rate.buckets, target: rate.meta && typeof rate.meta.target_per_10min === "number" ? rate.meta.target_per_10min : undefined, width: 1160, height: 300 })
      : missing("Alarm rate");
    const crews = crewGroups(k);
    const slaChart = crews ? percentBars({ groups: crews.groups, keys: crews.keys, width: 620, target: 90 }) : missing("SLA compliance by crew");

    const mix = findDeep(k, /^priority_mix$/, isObj);
    let mixChart = missing("Priority mix");
    if (mix && isObj(mix.compared_percent)) {
      const g = mix.guidance_percent || {};
      mixChart = columnChart({
        bars: ["high", "medium", "low"].map((p) => ({ label: p === "high" ? "high + critical" : p, value: Number(mix.compared_percent[p] || 0), cls: `p-${p}`, marker: typeof g[p] === "number" ? g[p] : undefined })),
        unit: "%",
        max: 100,
        width: 420,
        height: 230,
      });
    }
    const worst = findDeep(k, /^worst_offenders$/, Array.isArray);
    const worstTable = worst && worst.length
      ? h("table", { class: "mini" }, h("thead", null, h("tr", null, h("th", null, "Device"), h("th", null, "Rule"), h("th", { class: "num" }, "Alarms"))),
          h("tbody", null, worst.slice(0, 8).map((w) => h("tr", null, h("td", null, deviceName(w.device)), h("td", { class: "mono" }, w.rule), h("td", { class: "num" }, String(w.count))))))
      : h("p", { class: "muted" }, worst ? "No alarms in the last 24 hours." : "Worst offenders: not reported by this gateway.");

    let backlogChart = missing("Backlog by age");
    if (backlog && isObj(backlog.by_age)) {
      backlogChart = columnChart({ bars: Object.entries(backlog.by_age).map(([name, n]) => ({ label: label(name), value: Number(n) || 0 })), width: 420, height: 230 });
    }
    replace(
      box,
      h("div", { class: "kpis" }, tiles.length ? tiles : h("p", { class: "muted" }, "No figures reported.")),
      h("div", { class: "fig-grid" },
        panel("Alarm rate, per 10 minutes (EEMUA 191: ≤ 1 on average, > 10 is a flood)", rateChart, "wide"),
        panel("SLA compliance by crew (target 90%)", slaChart),
        panel("Worst offenders, 24 h", worstTable),
        panel("Open tickets by age", backlogChart),
        panel("Priority mix against the 80 / 15 / 5 guidance", mixChart),
      ),
    );
  }

  load();
  const poll = setInterval(load, 30_000);
  return () => clearInterval(poll);
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
