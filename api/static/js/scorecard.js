// The manager's scorecard on the Figures page (GET /api/v1/scorecard?period=YYYY-MM):
// each figure a card "baseline -> now -> target" with its definition, unit and a 12-month
// trend line; a month picker; links to the monthly report (HTML, CSV).
//
// Lifecycle: figures.js calls mountScorecard(box) when the signed-in role may read it
// (manager, viewer, admin); it loads this month, loads again when the month changes, and
// returns an unmount. The gateway writes names and definitions in the language asked
// (lang=zh on a Chinese page); a figure without data has value null and a note.

import { api, hasRole, session } from "./api.js";
import { sparkline } from "./chart.js";
import { h, num, replace, toast } from "./dom.js";
import { getLang, t, timeZone } from "./i18n.js";
import { unavailableNote } from "./tickets.js";

/** who may read the scorecard (the server has the last word: 403) */
export function maySeeScorecard() {
  return ["manager", "viewer", "admin"].some((r) => hasRole(r));
}

/** this month in the site's time zone, as YYYY-MM */
export function thisMonth(now = Date.now()) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: timeZone(), year: "numeric", month: "2-digit" }).formatToParts(new Date(now));
  const part = (type) => (parts.find((p) => p.type === type) || {}).value;
  return `${part("year")}-${part("month")}`;
}

function withUnit(v, unit) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "—";
  const text = num(v, Math.abs(v) >= 100 ? 0 : 1);
  if (!unit) return text;
  return unit === "%" || unit.startsWith("/") ? `${text}${unit}` : `${text} ${unit}`;
}

/** where the value stands: on target, better than the baseline, worse, or not known */
function standing(f) {
  const v = f.value;
  if (typeof v !== "number") return "none";
  const lower = f.better === "lower";
  const beats = (a, b) => (lower ? a <= b : a >= b);
  if (typeof f.target === "number" && beats(v, f.target)) return "target";
  if (typeof f.baseline === "number") return beats(v, f.baseline) ? (v === f.baseline ? "level" : "better") : "worse";
  return "none";
}

function step(cls, label, value) {
  return h("div", { class: ["sc-step", cls] }, h("span", { class: "sc-step-l" }, label), h("span", { class: "sc-step-v" }, value));
}

function card(f) {
  const where = standing(f);
  const trend = Array.isArray(f.trend) ? f.trend : [];
  const spark = sparkline({
    points: trend.map((p) => ({ label: p.period, value: p.value })),
    width: 220,
    height: 44,
    ref: typeof f.target === "number" ? f.target : undefined,
    label: t("sc.trend_label", { name: f.name, n: trend.length }),
  });
  return h(
    "article",
    { class: ["sc-card", `sc-${where}`], dataset: { figure: f.id, standing: where } },
    h("h3", { class: "sc-name" }, f.name),
    h(
      "div",
      { class: "sc-path" },
      step("sc-baseline", t("sc.baseline"), withUnit(f.baseline, f.unit)),
      h("span", { class: "sc-arrow", "aria-hidden": "true" }, "→"),
      step("sc-now", t("sc.now"), withUnit(f.value, f.unit)),
      h("span", { class: "sc-arrow", "aria-hidden": "true" }, "→"),
      step("sc-target", t("sc.target"), withUnit(f.target, f.unit)),
    ),
    f.value === null || f.value === undefined ? h("p", { class: "sc-note" }, f.note || t("sc.no_value")) : null,
    h("p", { class: "sc-standing" }, t(`sc.standing.${where}`)),
    h("div", { class: "sc-trend" }, spark),
    h("p", { class: "sc-def" }, f.definition),
    h("p", { class: "sc-unit muted" }, t("sc.unit", { unit: f.unit || "—" }), " · ", t(f.better === "lower" ? "sc.lower_better" : "sc.higher_better")),
  );
}

/** a report download for a token sign-in (a link carries no Authorization header) */
async function download(path, name, type) {
  try {
    const body = await api(path);
    const blob = new Blob([typeof body === "string" ? body : JSON.stringify(body)], { type });
    const a = h("a", { href: URL.createObjectURL(blob), download: name, hidden: true });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => {
      URL.revokeObjectURL(a.href);
      a.remove();
    }, 1000);
  } catch (err) {
    toast(t("sc.report_failed", { error: err.message }), "error");
  }
}

function reportLink(month, format) {
  const path = `/api/v1/reports/monthly?month=${encodeURIComponent(month)}${format === "csv" ? "&format=csv" : ""}`;
  const text = format === "csv" ? t("sc.report_csv") : t("sc.report_html", { month });
  return h(
    "a",
    {
      href: path,
      class: ["sc-report", "btn", "small", "ghost"],
      target: format === "csv" ? undefined : "_blank",
      rel: "noopener",
      dataset: { format },
      on: {
        click: (e) => {
          if (!session.token) return; // a person's session: the cookie goes with the link
          e.preventDefault();
          download(path, `sitewatch-${month}.${format}`, format === "csv" ? "text/csv" : "text/html");
        },
      },
    },
    text,
  );
}

export function mountScorecard(root) {
  const ui = { month: thisMonth(), seq: 0 };
  const picker = h("input", { type: "month", id: "sc-month", value: ui.month, max: thisMonth(), required: true });
  const links = h("span", { class: "sc-links" });
  const stamp = h("span", { class: "muted sc-stamp" });
  const cards = h("div", { class: "sc-cards", "aria-live": "polite" });
  const section = h(
    "section",
    { class: "scorecard", "aria-labelledby": "sc-title" },
    h("div", { class: "sc-head" }, h("h2", { class: "sc-title", id: "sc-title" }, t("sc.title")), h("label", { for: "sc-month", class: "sc-month-l" }, t("sc.month")), picker, links, stamp),
    cards,
  );
  root.appendChild(section);

  async function load() {
    const seq = ++ui.seq;
    replace(links, reportLink(ui.month, "html"), reportLink(ui.month, "csv"));
    section.dataset.period = ui.month;
    section.dataset.state = "loading";
    const lang = getLang() === "zh-CN" ? "zh" : "en";
    let sc;
    try {
      sc = await api(`/api/v1/scorecard?period=${encodeURIComponent(ui.month)}&lang=${lang}`);
    } catch (err) {
      if (seq !== ui.seq) return;
      replace(cards, err.status === 422 ? h("p", { class: "form-error", role: "alert" }, t("sc.bad_month", { error: err.message })) : unavailableNote(err, "scorecard"));
      section.dataset.state = "error";
      return;
    }
    if (seq !== ui.seq) return;
    const figures = Array.isArray(sc.figures) ? sc.figures : [];
    stamp.textContent = t("sc.stamp", { period: sc.period || ui.month, n: figures.length });
    replace(cards, figures.length ? figures.map(card) : h("p", { class: "muted" }, t("sc.none")));
    section.dataset.state = "ready";
  }

  picker.addEventListener("change", () => {
    if (!picker.value || !/^\d{4}-\d{2}$/.test(picker.value)) return;
    ui.month = picker.value;
    load();
  });
  load();
  return () => {
    ui.seq += 1; // an answer still on its way is dropped
  };
}
