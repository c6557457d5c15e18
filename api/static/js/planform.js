// A new maintenance plan (manager, admin): POST /api/v1/plans with the body of
// api/schemas_maintenance.PlanCreate: {title, assets: [ids] | {type, zone?}, crew,
// priority, checklist: [{id, text, kind, min?, max?, required}], trigger} where trigger
// is {calendar: RRULE, lead_days} | {meter, every, due_days} | {trend, limit,
// within_days}. The gateway checks it all (422 with the reason, shown in the dialog).
//
// Lifecycle: maintenance.js calls planDialog() from its "new plan" button; the dialog
// resolves when sent or dismissed and calls onDone after a plan was made.

import { post } from "./api.js";
import { dialog, h, label, toast } from "./dom.js";
import { t, tv } from "./i18n.js";
import { store, zoneName } from "./store.js";

const PRIORITIES = ["low", "medium", "high", "critical"];
const METERS = ["fan_hours", "on_hours", "lamp_hours", "starts"];
const KINDS = ["check", "number", "text"];
// common recurrences (RFC 5545); the rule field takes any other
const RULES = {
  weekly: "FREQ=WEEKLY;BYDAY=MO;BYHOUR=9",
  monthly: "FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=9",
  quarterly: "FREQ=YEARLY;BYMONTH=1,4,7,10;BYMONTHDAY=1;BYHOUR=9",
  yearly: "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=15;BYHOUR=9",
};

function field(id, text, control) {
  return [h("label", { for: id }, text), control];
}

function numberInput(id, attrs = {}) {
  return h("input", { id, type: "number", step: "any", inputmode: "decimal", ...attrs });
}

const numOrNull = (el) => (el.value.trim() === "" ? null : Number(el.value));

function itemRow(list, n) {
  const text = h("input", { type: "text", class: "pf-cl-text", maxlength: 200, "aria-label": t("pf.item_text", { n }) });
  const kind = h("select", { class: "pf-cl-kind", "aria-label": t("pf.item_kind", { n }) }, KINDS.map((k) => h("option", { value: k }, tv("pf.kind", k))));
  const min = numberInput(`pf-cl-min-${n}`, { class: "pf-cl-min", "aria-label": t("pf.item_min", { n }), placeholder: t("pf.min") });
  const max = numberInput(`pf-cl-max-${n}`, { class: "pf-cl-max", "aria-label": t("pf.item_max", { n }), placeholder: t("pf.max") });
  const required = h("input", { type: "checkbox", class: "pf-cl-req", checked: true, id: `pf-cl-req-${n}` });
  const limits = () => {
    min.hidden = max.hidden = kind.value !== "number";
  };
  kind.addEventListener("change", limits);
  limits();
  const row = h(
    "li",
    { class: "pf-cl-row" },
    text,
    kind,
    min,
    max,
    h("label", { class: "toggle", for: `pf-cl-req-${n}` }, required, " ", t("pf.required")),
    h("button", { type: "button", class: "btn small ghost", "aria-label": t("pf.remove_item", { n }), on: { click: () => row.remove() } }, "×"),
  );
  row.read = (i) => {
    const words = text.value.trim();
    if (!words) return null;
    const item = { id: `i${i + 1}`, text: words, kind: kind.value, required: required.checked };
    if (kind.value === "number") {
      const lo = numOrNull(min);
      const hi = numOrNull(max);
      if (lo !== null) item.min = lo;
      if (hi !== null) item.max = hi;
    }
    return item;
  };
  list.appendChild(row);
  return text;
}

export function planDialog({ assets = [], onDone } = {}) {
  const crews = (store.site && store.site.crews) || [];
  const types = [...new Set(assets.map((a) => a.type))].sort();
  const zones = [...new Set(assets.map((a) => a.zone))].sort();
  const title = h("input", { id: "pf-title", name: "title", required: true, maxlength: 200 });
  const type = h("select", { id: "pf-type" }, h("option", { value: "" }, t("pf.by_list")), types.map((ty) => h("option", { value: ty }, label(ty))));
  const zone = h("select", { id: "pf-zone" }, h("option", { value: "" }, t("pf.any_zone")), zones.map((z) => h("option", { value: z }, zoneName(z))));
  const chosen = h("select", { id: "pf-assets", multiple: true, size: 6 }, assets.map((a) => h("option", { value: a.id }, `${a.name || a.id} · ${zoneName(a.zone)}`)));
  const crew = h("select", { id: "pf-crew", required: true }, crews.map((c) => h("option", { value: c.id }, c.name)));
  const priority = h("select", { id: "pf-priority" }, PRIORITIES.map((p) => h("option", { value: p }, tv("prio", p))));
  const kind = h("select", { id: "pf-trigger" }, ["calendar", "meter", "trend"].map((k) => h("option", { value: k }, tv("pf.trigger", k))));
  const preset = h("select", { id: "pf-preset" }, Object.keys(RULES).map((k) => h("option", { value: k, selected: k === "monthly" }, tv("pf.rule", k))));
  const rule = h("input", { id: "pf-rule", class: "mono", value: RULES.monthly, spellcheck: "false", autocapitalize: "none" });
  const lead = numberInput("pf-lead", { min: 0, max: 366, value: "3" });
  const meter = h("select", { id: "pf-meter" }, METERS.map((m) => h("option", { value: m }, tv("mt.meter", m))));
  const every = numberInput("pf-every", { min: 0 });
  const trendField = h("input", { id: "pf-field", class: "mono", value: "filter_dp", spellcheck: "false", autocapitalize: "none" });
  const limit = numberInput("pf-limit");
  const within = numberInput("pf-within", { min: 0, value: "14" });
  const groups = {
    calendar: h("div", { class: "form-grid pf-group", dataset: { trigger: "calendar" } }, field("pf-preset", t("pf.preset"), preset), field("pf-rule", t("pf.rule_text"), rule), field("pf-lead", t("pf.lead_days"), lead)),
    meter: h("div", { class: "form-grid pf-group", dataset: { trigger: "meter" } }, field("pf-meter", t("pf.meter"), meter), field("pf-every", t("pf.every"), every)),
    trend: h("div", { class: "form-grid pf-group", dataset: { trigger: "trend" } }, field("pf-field", t("pf.field"), trendField), field("pf-limit", t("pf.limit"), limit), field("pf-within", t("pf.within"), within)),
  };
  const showGroup = () => {
    for (const [k, g] of Object.entries(groups)) g.hidden = k !== kind.value;
  };
  kind.addEventListener("change", showGroup);
  preset.addEventListener("change", () => {
    rule.value = RULES[preset.value];
  });
  const showAssets = () => {
    chosen.disabled = !!type.value;
    zone.disabled = !type.value;
  };
  type.addEventListener("change", showAssets);
  showGroup();
  showAssets();
  const items = h("ol", { class: "pf-cl" });
  let n = 0;
  const addItem = h("button", { type: "button", class: "btn small ghost pf-add-item", on: { click: () => itemRow(items, ++n).focus() } }, t("pf.add_item"));
  itemRow(items, ++n);

  const body = h(
    "div",
    { class: "form-grid plan-form" },
    field("pf-title", t("pf.title"), title),
    field("pf-type", t("pf.type"), type),
    field("pf-zone", t("pf.zone"), zone),
    field("pf-assets", t("pf.assets"), chosen),
    field("pf-crew", t("ticket.crew"), crew),
    field("pf-priority", t("col.priority"), priority),
    field("pf-trigger", t("pf.trigger_kind"), kind),
    Object.values(groups),
    h("p", { class: "form-label" }, t("pf.checklist")),
    items,
    addItem,
  );

  const need = (cond, key) => {
    if (!cond) throw new Error(t(key));
  };
  return dialog(t("mt.new_plan"), body, {
    submit: t("pf.create"),
    onSubmit: async () => {
      const plan = { title: title.value.trim(), crew: crew.value, priority: priority.value };
      need(plan.title, "pf.need_title");
      if (type.value) plan.assets = zone.value ? { type: type.value, zone: zone.value } : { type: type.value };
      else plan.assets = [...chosen.selectedOptions].map((o) => o.value);
      need(type.value || plan.assets.length, "pf.need_assets");
      if (kind.value === "calendar") {
        need(rule.value.trim(), "pf.need_rule");
        plan.trigger = { calendar: rule.value.trim(), lead_days: numOrNull(lead) ?? 0 };
      } else if (kind.value === "meter") {
        need(numOrNull(every) > 0, "pf.need_every");
        plan.trigger = { meter: meter.value, every: numOrNull(every) };
      } else {
        need(trendField.value.trim() && numOrNull(limit) !== null && numOrNull(within) > 0, "pf.need_trend");
        plan.trigger = { trend: trendField.value.trim(), limit: numOrNull(limit), within_days: numOrNull(within) };
      }
      plan.checklist = [...items.children].map((row, i) => row.read(i)).filter(Boolean);
      const made = await post("/api/v1/plans", plan);
      toast(t("pf.created", { title: made.title }), "ok");
      if (onDone) onDone(made);
      return made;
    },
  });
}
