// A preventive ticket's checklist on the phone (tech.js): each item answered where it is
// (a check as a toggle, a number with its limits, a text) and sent at once with
// POST /api/v1/tickets/{id}/checklist {"answers": {item: value}}; the answer is the
// ticket again. Items the gateway named unanswered (a 409 on resolve: detail.unanswered)
// are drawn highlighted until they are answered.
//
// Lifecycle: tech.js builds checklistBlock() with each render of the ticket's card and
// passes the names it keeps of the last refusal; a save calls onSaved(ticket).

import { post } from "./api.js";
import { h, num, toast } from "./dom.js";
import { t as tr } from "./i18n.js";

/** the required items without an answer, in checklist order (the gateway's rule) */
export function unansweredOf(t) {
  const got = t.answers || {};
  return (t.checklist || []).filter((i) => i.required !== false && (got[i.id] === null || got[i.id] === undefined)).map((i) => String(i.id));
}

/** the ids a 409 names (detail.unanswered), or null when the refusal is about something else */
export function refusedItems(err) {
  const d = err && err.detail;
  return err && err.status === 409 && d && Array.isArray(d.unanswered) ? d.unanswered.map(String) : null;
}

function limits(item) {
  const lo = typeof item.min === "number" ? num(item.min) : null;
  const hi = typeof item.max === "number" ? num(item.max) : null;
  if (lo !== null && hi !== null) return tr("checklist.between", { min: lo, max: hi });
  if (lo !== null) return tr("checklist.at_least", { min: lo });
  if (hi !== null) return tr("checklist.at_most", { max: hi });
  return "";
}

function outside(item, v) {
  return typeof v === "number" && ((typeof item.min === "number" && v < item.min) || (typeof item.max === "number" && v > item.max));
}

/**
 * t: the ticket; missing: ids to highlight; editable: whether answers may be given;
 * onSaved(ticket): after an answer was taken; busy(): whether another call is running
 */
export function checklistBlock(t, { missing = [], editable = true, onSaved } = {}) {
  const items = Array.isArray(t.checklist) ? t.checklist : [];
  const answers = t.answers || {};
  const base = `cl-${t.id}`;

  async function save(item, value, control) {
    control.disabled = true;
    try {
      const res = await post(`/api/v1/tickets/${encodeURIComponent(t.id)}/checklist`, { answers: { [item.id]: value } });
      if (outside(item, value)) toast(tr("checklist.outside_saved", { item: item.text }), "info");
      if (onSaved) onSaved(res);
    } catch (err) {
      control.disabled = false;
      toast(tr("checklist.failed", { error: err.message }), "error");
    }
  }

  function row(item, i) {
    const id = `${base}-${i}`;
    const v = answers[item.id];
    const answered = v !== null && v !== undefined;
    const flagged = missing.includes(String(item.id)) && !answered;
    const kind = item.kind || "check";
    const label = h("label", { for: id, class: "cl-text" }, item.text, item.required === false ? h("span", { class: "cl-optional" }, " ", tr("checklist.optional")) : null);
    let control;
    let help = null;
    if (kind === "check") {
      control = h("input", {
        id,
        type: "checkbox",
        role: "switch",
        class: "cl-switch",
        checked: v === true,
        disabled: !editable,
        "aria-invalid": flagged ? "true" : undefined,
        "aria-describedby": `${id}-state`,
        on: { change: (e) => save(item, e.target.checked, e.target) },
      });
      help = h("span", { class: "cl-state", id: `${id}-state` }, answered ? (v ? tr("checklist.yes") : tr("checklist.no")) : tr("checklist.not_answered"));
    } else if (kind === "number") {
      const lim = limits(item);
      control = h("input", {
        id,
        type: "number",
        inputmode: "decimal",
        step: "any",
        class: "cl-number",
        value: answered ? String(v) : "",
        disabled: !editable,
        "aria-invalid": flagged || outside(item, v) ? "true" : undefined,
        "aria-describedby": lim ? `${id}-lim` : undefined,
        on: {
          change: (e) => {
            const raw = e.target.value.trim();
            if (raw === "") return;
            const n = Number(raw);
            if (!Number.isFinite(n)) {
              toast(tr("checklist.need_number"), "error");
              return;
            }
            save(item, n, e.target);
          },
        },
      });
      help = lim ? h("span", { class: ["cl-limits", outside(item, v) && "bad"], id: `${id}-lim` }, outside(item, v) ? tr("checklist.outside", { limits: lim }) : lim) : null;
    } else {
      control = h("textarea", {
        id,
        rows: 2,
        maxlength: 2000,
        class: "cl-textarea",
        disabled: !editable || kind === "photo",
        "aria-invalid": flagged ? "true" : undefined,
        on: {
          change: (e) => {
            const text = e.target.value.trim();
            if (text) save(item, text, e.target);
          },
        },
      }, answered ? String(v) : "");
      if (kind === "photo") help = h("span", { class: "cl-limits" }, tr("checklist.photo_later"));
    }
    return h(
      "li",
      { class: ["cl-item", `cl-${kind}`, answered && "answered", flagged && "missing"], dataset: { item: String(item.id), kind } },
      kind === "check" ? h("div", { class: "cl-row" }, label, control) : [label, control],
      help,
      flagged ? h("span", { class: "cl-missing" }, tr("checklist.required_missing")) : null,
    );
  }

  const open = unansweredOf(t).length;
  return h(
    "section",
    { class: "checklist", "aria-label": tr("checklist.title"), dataset: { open: String(open) } },
    h("h4", { class: "cl-title" }, tr("checklist.title"), h("span", { class: "count" }, tr("checklist.left", { n: open }))),
    h("ol", { class: "cl-list" }, items.map(row)),
  );
}
