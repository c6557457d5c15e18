// Maintenance (every role): the calendar of the next 90 days
// (GET /api/v1/maintenance/calendar?days=90: calendar plans' occurrences with due and
// opening times, meter plans' next marks, the preventive work overdue now), the assets
// (GET /api/v1/assets) and one asset's detail (GET /api/v1/assets/{id}: history newest
// first, meter readings by day, cost to date, plans), and the plans (GET /api/v1/plans;
// a manager or an admin adds one with planform.js).
//
// Lifecycle: mount() draws the frame, loads the four sources, polls every 60 s and
// returns an unmount; an asset chosen stays chosen across polls (its detail is fetched
// again with them).

import { get, hasRole, items } from "./api.js";
import { sparkline } from "./chart.js";
import { dateTime, duration, h, label, num, parseTime, prioBadge, replace } from "./dom.js";
import { dateFmt, t, tv } from "./i18n.js";
import { planDialog } from "./planform.js";
import { zoneName } from "./store.js";
import { crewName, memberName, openTicket, unavailableNote } from "./tickets.js";

const DAYS = 90;

/** the plan's trigger in words */
export function triggerText(trig) {
  if (!trig) return "—";
  if (trig.calendar) {
    const freq = (/FREQ=(\w+)/.exec(trig.calendar) || [])[1] || "";
    const months = (/BYMONTH=([\d,]+)/.exec(trig.calendar) || [])[1] || "";
    const quarterly = freq === "YEARLY" && months.split(",").length === 4;
    const every = quarterly ? t("mt.freq.QUARTERLY") : tv("mt.freq", freq);
    return trig.lead_days ? t("mt.trig_calendar_lead", { every, n: trig.lead_days }) : t("mt.trig_calendar", { every });
  }
  if (trig.meter) return t("mt.trig_meter", { every: num(trig.every), meter: tv("mt.meter", trig.meter) });
  if (trig.trend) return t("mt.trig_trend", { field: trig.trend, limit: num(trig.limit), n: trig.within_days });
  return "—";
}

const monthKey = (ms) => dateFmt(ms, { year: "numeric", month: "long" });
const dayText = (ms) => dateFmt(ms, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

export function mount(root) {
  const ui = { cal: null, assets: [], plans: [], detail: null, chosen: "", error: null, seq: 0 };
  const stats = h("div", { class: "board-stats" });
  const tools = h("div", { class: "board-tools" });
  const overdue = h("div", { class: "mt-overdue-body" });
  const calendar = h("div", { class: "mt-cal-body" });
  const meters = h("div", { class: "mt-meter-body" });
  const detail = h("div", { class: "mt-detail-body", tabindex: "-1" });
  const assets = h("div", { class: "mt-assets-body" });
  const plans = h("div", { class: "mt-plans-body" });
  const note = h("div", { class: "mt-note" });
  const grid = h(
    "div",
    { class: "mt-grid" },
    h(
      "div",
      { class: "mt-col" },
      h("section", { class: "panel mt-overdue", "aria-labelledby": "mt-h-overdue" }, h("h2", { class: "panel-title", id: "mt-h-overdue" }, t("mt.overdue")), overdue),
      h("section", { class: "panel mt-calendar", "aria-labelledby": "mt-h-cal" }, h("h2", { class: "panel-title", id: "mt-h-cal" }, t("mt.calendar", { n: DAYS })), calendar),
      h("section", { class: "panel mt-meters", "aria-labelledby": "mt-h-meters" }, h("h2", { class: "panel-title", id: "mt-h-meters" }, t("mt.by_meter")), meters),
    ),
    h(
      "div",
      { class: "mt-col" },
      h("section", { class: "panel mt-asset", "aria-labelledby": "mt-h-asset" }, h("h2", { class: "panel-title", id: "mt-h-asset" }, t("mt.asset_detail")), detail),
      h("section", { class: "panel mt-assets", "aria-labelledby": "mt-h-assets" }, h("h2", { class: "panel-title", id: "mt-h-assets" }, t("mt.assets")), assets),
      h("section", { class: "panel mt-plans", "aria-labelledby": "mt-h-plans" }, h("h2", { class: "panel-title", id: "mt-h-plans" }, t("mt.plans")), plans),
    ),
  );
  const page = h("section", { class: "maintenance" }, h("div", { class: "board-head" }, h("h1", { class: "page-title" }, t("view.maintenance")), stats, tools), note, grid);
  root.appendChild(page);

  const assetName = (id) => {
    const a = ui.assets.find((x) => x.id === id);
    return a ? a.name || a.id : id || "—";
  };

  async function load() {
    const seq = ++ui.seq;
    try {
      const [cal, as, ps] = await Promise.all([get(`/api/v1/maintenance/calendar?days=${DAYS}`), get("/api/v1/assets"), get("/api/v1/plans")]);
      if (seq !== ui.seq) return;
      ui.cal = cal;
      ui.assets = items(as);
      ui.plans = items(ps);
      ui.error = null;
    } catch (err) {
      if (seq !== ui.seq) return;
      ui.error = err;
    }
    render();
    if (ui.chosen) loadAsset(ui.chosen, false);
  }

  /** a plan was made: shown now, its occurrences once the scheduler has seen it (a tick) */
  function planMade() {
    load();
    setTimeout(load, 2500);
  }

  async function loadAsset(id, focus = true) {
    ui.chosen = id;
    page.dataset.asset = id;
    paintAssets();
    try {
      const a = await get(`/api/v1/assets/${encodeURIComponent(id)}`);
      if (ui.chosen !== id) return;
      ui.detail = a;
    } catch (err) {
      if (ui.chosen !== id) return;
      ui.detail = { error: err };
    }
    paintDetail();
    if (focus) {
      detail.scrollIntoView({ block: "nearest" });
      detail.focus({ preventScroll: true });
    }
  }

  function paintHead() {
    const cal = ui.cal || { items: [], overdue: [] };
    const dated = cal.items.filter((i) => i.due_at);
    const late = (cal.overdue || []).length;
    replace(
      stats,
      h("span", { class: "stat" }, h("b", null, String(dated.length)), " ", t("mt.stat_due", { n: DAYS })),
      h("span", { class: ["stat", late && "bad"], dataset: { overdue: String(late) } }, h("b", null, String(late)), " ", t("mt.stat_overdue")),
      h("span", { class: "stat" }, h("b", null, String(ui.assets.length)), " ", t("mt.stat_assets")),
    );
    const mayPlan = hasRole("manager") || hasRole("admin");
    replace(tools, mayPlan ? h("button", { type: "button", class: "btn primary mt-new-plan", on: { click: () => planDialog({ assets: ui.assets, onDone: planMade }) } }, t("mt.new_plan")) : null);
  }

  function paintOverdue() {
    const list = (ui.cal && ui.cal.overdue) || [];
    if (!list.length) {
      replace(overdue, h("p", { class: "muted mt-none" }, t("mt.no_overdue")));
      return;
    }
    const now = Date.now();
    replace(
      overdue,
      h("ul", { class: "mt-list" }, list.map((tk) =>
        h("li", { class: "mt-item late", dataset: { ticketId: String(tk.id), plan: tk.plan_id || "" } },
          h("button", { type: "button", class: "mt-open", on: { click: () => openTicket(tk.id, load) } },
            h("span", { class: "mt-when" }, t("mt.late_by", { left: duration(now - (parseTime(tk.due_at) ?? now)) })),
            h("span", { class: "mt-what" }, tk.title || t("ticket.untitled")),
            h("span", { class: "mt-sub" }, `${assetName(tk.asset)} · ${crewName(tk.crew)} · ${tk.assignee ? memberName(tk.assignee) : t("ticket.unassigned")} · ${tv("status", tk.status)}`),
          ),
        ),
      )),
    );
  }

  function paintCalendar() {
    const dated = ((ui.cal && ui.cal.items) || []).filter((i) => i.due_at).sort((a, b) => parseTime(a.due_at) - parseTime(b.due_at));
    if (!dated.length) replace(calendar, h("p", { class: "muted mt-none" }, t("mt.no_due", { n: DAYS })));
    else {
      const months = new Map();
      for (const i of dated) {
        const key = monthKey(parseTime(i.due_at));
        if (!months.has(key)) months.set(key, []);
        months.get(key).push(i);
      }
      replace(
        calendar,
        [...months].map(([month, list]) => [
          h("h3", { class: "mt-month" }, month),
          h("ol", { class: "mt-list" }, list.map((i) =>
            h("li", { class: "mt-item occ", dataset: { plan: i.plan_id, asset: i.asset, due: i.due_at } },
              h("span", { class: "mt-when mono" }, dayText(parseTime(i.due_at))),
              h("span", { class: "mt-what" }, i.title),
              h("span", { class: "mt-sub" }, h("button", { type: "button", class: "linkish mt-asset-link", on: { click: () => loadAsset(i.asset) } }, assetName(i.asset)), ` · ${crewName(i.crew)} · `, t("mt.opens", { when: dateTime(i.opens_at) })),
            ),
          )),
        ]),
      );
    }
    const byMeter = ((ui.cal && ui.cal.items) || []).filter((i) => i.meter);
    replace(
      meters,
      byMeter.length
        ? h("table", { class: "mini mt-meter-table" },
            h("thead", null, h("tr", null, h("th", null, t("mt.col_plan")), h("th", null, t("mt.col_asset")), h("th", { class: "num" }, t("mt.col_now")), h("th", { class: "num" }, t("mt.col_next")))),
            h("tbody", null, byMeter.map((i) =>
              h("tr", { dataset: { plan: i.plan_id, asset: i.asset } },
                h("td", null, i.title),
                h("td", null, assetName(i.asset)),
                h("td", { class: "num" }, typeof i.value === "number" ? `${num(i.value)} ${tv("mt.meter", i.meter)}` : t("mt.no_reading")),
                h("td", { class: "num" }, typeof i.next_mark === "number" ? num(i.next_mark) : "—"),
              ),
            )),
          )
        : h("p", { class: "muted mt-none" }, t("mt.no_meter_plans")),
    );
  }

  function paintAssets() {
    if (!ui.assets.length) {
      replace(assets, h("p", { class: "muted mt-none" }, t("mt.no_assets")));
      return;
    }
    replace(
      assets,
      h("div", { class: "mt-assets-scroll" },
        h("table", { class: "mini mt-asset-table" },
          h("thead", null, h("tr", null, h("th", null, t("mt.col_asset")), h("th", null, t("mt.col_type")), h("th", null, t("mt.col_zone")), h("th", null, t("mt.col_meters")))),
          h("tbody", null, ui.assets.map((a) =>
            h("tr", { class: ["mt-asset-row", ui.chosen === a.id && "on"], dataset: { asset: a.id } },
              h("td", null, h("button", { type: "button", class: "linkish", "aria-pressed": ui.chosen === a.id ? "true" : "false", on: { click: () => loadAsset(a.id) } }, a.name || a.id)),
              h("td", null, label(a.type)),
              h("td", null, zoneName(a.zone)),
              h("td", { class: "mono" }, Object.entries(a.meters || {}).map(([k, v]) => `${tv("mt.meter", k)} ${num(v)}`).join(" · ") || "—"),
            ),
          )),
        ),
      ),
    );
  }

  function paintDetail() {
    const a = ui.detail;
    if (!a) {
      replace(detail, h("p", { class: "muted mt-none" }, t("mt.choose_asset")));
      return;
    }
    if (a.error) {
      replace(detail, h("p", { class: "form-error" }, t("mt.asset_failed", { error: a.error.message })));
      return;
    }
    const facts = [
      [t("mt.col_type"), label(a.type)],
      [t("mt.col_zone"), zoneName(a.zone)],
      [t("mt.make_model"), [a.make, a.model].filter(Boolean).join(" ") || "—"],
      [t("mt.installed"), a.installed || "—"],
      [t("mt.device"), a.device || t("mt.no_telemetry")],
      [t("mt.labour"), t("mt.labour_min", { n: a.cost && a.cost.labour_min ? a.cost.labour_min : 0 })],
      [t("mt.parts"), num(a.cost ? a.cost.parts || 0 : 0, 2)],
    ];
    const planTitle = (id) => (ui.plans.find((p) => p.id === id) || {}).title || id;
    const readings = Object.entries(a.readings || {});
    const history = Array.isArray(a.history) ? a.history : [];
    replace(
      detail,
      h("div", { class: "mt-asset-name", dataset: { asset: a.id } }, a.name || a.id, h("span", { class: "mono muted" }, ` ${a.id}`)),
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
      h("h3", { class: "mt-sub-h" }, t("mt.asset_plans")),
      (a.plans || []).length ? h("ul", { class: "mt-chips" }, a.plans.map((id) => h("li", { class: "chip" }, planTitle(id)))) : h("p", { class: "muted" }, t("mt.no_plans_for")),
      h("h3", { class: "mt-sub-h" }, t("mt.readings")),
      readings.length
        ? h("div", { class: "mt-readings" }, readings.map(([m, rows]) => {
            const last = rows.length ? rows[rows.length - 1].value : (a.meters || {})[m];
            return h("div", { class: "mt-reading", dataset: { meter: m } },
              h("span", { class: "mt-reading-l" }, tv("mt.meter", m), " ", h("b", null, typeof last === "number" ? num(last) : "—")),
              sparkline({ points: rows.map((r) => ({ label: r.day, value: r.value })), width: 200, height: 36, label: t("mt.reading_label", { meter: tv("mt.meter", m), n: rows.length }) }),
            );
          }))
        : h("p", { class: "muted" }, t("mt.no_readings")),
      h("h3", { class: "mt-sub-h" }, t("mt.history", { n: a.history_total ?? history.length })),
      history.length
        ? h("ol", { class: "mt-history" }, history.map((tk) =>
            h("li", { class: "mt-hist", dataset: { ticketId: String(tk.id), category: tk.category || "" } },
              h("button", { type: "button", class: "mt-open", on: { click: () => openTicket(tk.id, load) } },
                h("span", { class: "mt-when mono" }, dateTime(tk.created_at)),
                prioBadge(tk.priority, true),
                h("span", { class: "mt-what" }, tk.title || t("ticket.untitled")),
                h("span", { class: "mt-sub" }, `${tv("category", tk.category)} · ${tv("status", tk.status)} · #${tk.id}`),
              ),
            ),
          ))
        : h("p", { class: "muted mt-none" }, t("mt.no_history")),
    );
  }

  function paintPlans() {
    if (!ui.plans.length) {
      replace(plans, h("p", { class: "muted mt-none" }, t("mt.no_plans")));
      return;
    }
    replace(
      plans,
      h("ul", { class: "mt-list" }, ui.plans.map((p) => {
        const n = Array.isArray(p.assets_resolved) ? p.assets_resolved.length : Array.isArray(p.assets) ? p.assets.length : 0;
        return h("li", { class: "mt-item plan", dataset: { plan: p.id, source: p.source || "" } },
          h("span", { class: "mt-what" }, p.title),
          h("span", { class: "mt-sub" }, `${triggerText(p.trigger)} · ${crewName(p.crew)} · ${t("mt.plan_assets", { n })} · ${t("mt.plan_items", { n: (p.checklist || []).length })}`),
        );
      })),
    );
  }

  function render() {
    paintHead();
    grid.hidden = !!ui.error;
    replace(note, ui.error ? unavailableNote(ui.error, "maintenance") : null);
    if (ui.error) return;
    paintOverdue();
    paintCalendar();
    paintAssets();
    paintDetail();
    paintPlans();
  }

  render();
  load();
  const poll = setInterval(load, 60_000);
  return () => {
    clearInterval(poll);
    ui.seq += 1;
  };
}
