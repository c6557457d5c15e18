// DOM helpers. Text from devices and users only ever goes in as text nodes: this file is
// the one place elements are made, and it has no path that parses a string as markup.

import { dateFmt, number, t, tv } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";
// attributes that could carry script or navigation are never set from here
const FORBIDDEN_ATTR = /^(on|formaction|srcdoc)/i;

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      continue;
    }
    if (FORBIDDEN_ATTR.test(k)) throw new Error(`attribute ${k} is not allowed`);
    if (k === "class") el.setAttribute("class", Array.isArray(v) ? v.filter(Boolean).join(" ") : v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "disabled" || k === "selected" || k === "hidden") el[k] = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** h("div", {class: "x"}, "text", child, [more]) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** s("rect", {...}) builds an SVG element */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// ---- time -------------------------------------------------------------------------------
export { setTimeZone } from "./i18n.js";

export function parseTime(t) {
  if (t === null || t === undefined || t === "") return null;
  const ms = typeof t === "number" ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

export function clock(t) {
  const ms = parseTime(t);
  return ms === null ? "—" : dateFmt(ms, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function dateTime(t) {
  const ms = parseTime(t);
  if (ms === null) return "—";
  return dateFmt(ms, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** "42 s", "5 min", "3 h 10 min", "2 d 4 h" (in the page's language) */
export function duration(ms) {
  const a = Math.abs(ms);
  const sec = Math.floor(a / 1000);
  if (sec < 60) return t("dur.s", { n: sec });
  const min = Math.floor(sec / 60);
  if (min < 60) return t("dur.min", { n: min });
  const hr = Math.floor(min / 60);
  if (hr < 48) return min % 60 ? t("dur.h_min", { h: hr, m: min % 60 }) : t("dur.h", { n: hr });
  const d = Math.floor(hr / 24);
  return hr % 24 ? t("dur.d_h", { d, h: hr % 24 }) : t("dur.d", { n: d });
}

export function age(t, now = Date.now()) {
  const ms = parseTime(t);
  return ms === null ? "—" : duration(now - ms);
}

// ---- misc -------------------------------------------------------------------------------
export const PRIORITIES = ["critical", "high", "medium", "low"];
export const prioRank = (p) => {
  const i = PRIORITIES.indexOf(p);
  return i < 0 ? PRIORITIES.length : i;
};

/** the priority as text and shape (the colour is the third carrier, never the only one) */
export function prioBadge(p, small = false) {
  return h("span", { class: ["prio", small && "small", `p-${p}`], dataset: { prio: p } }, h("span", { class: "shape", "aria-hidden": "true" }), tv("prio", p));
}

export function label(s) {
  if (s === null || s === undefined) return "—";
  return String(s).replace(/_/g, " ");
}

export function num(v, digits = 1) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "—";
  return number(v, { maximumFractionDigits: Number.isInteger(v) ? 0 : digits, minimumFractionDigits: Number.isInteger(v) ? 0 : digits });
}

/** a modal dialog; resolves with the value of onSubmit or null when dismissed; returnFocus()
 * may name the element to focus when it closes */
export function dialog(title, body, { submit = t("dialog.ok"), danger = false, onSubmit, returnFocus } = {}) {
  return new Promise((resolve) => {
    const before = document.activeElement;
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "dialog-body", method: "dialog" },
      body,
      error,
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "button", class: "btn ghost", dataset: { act: "cancel" } }, t("dialog.cancel")),
        h("button", { type: "submit", class: ["btn", danger ? "danger" : "primary"] }, submit),
      ),
    );
    const dlg = h(
      "dialog",
      { class: "modal", "aria-label": title },
      h("h2", { class: "dialog-title" }, title),
      form,
    );
    let done = false;
    const finish = (v) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      // the focus goes back where it was, or where the caller says (the element it was on
      // may have been redrawn while the dialog was open)
      const back = (returnFocus && returnFocus()) || (before && before.isConnected ? before : null);
      if (back && typeof back.focus === "function") back.focus();
      resolve(v);
    };
    form.querySelector("[data-act=cancel]").addEventListener("click", () => finish(null));
    dlg.addEventListener("cancel", (e) => {
      e.preventDefault();
      finish(null);
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      try {
        const v = onSubmit ? await onSubmit(new FormData(form)) : true;
        finish(v === undefined ? true : v);
      } catch (err) {
        error.hidden = false;
        error.textContent = err && err.message ? err.message : String(err);
        btn.disabled = false;
      }
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    const first = form.querySelector("input, textarea, select");
    if (first) first.focus();
  });
}

let toastBox;
export function toast(text, kind = "info") {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.appendChild(toastBox);
  }
  const t = h("div", { class: ["toast", kind] }, text);
  toastBox.appendChild(t);
  setTimeout(() => t.classList.add("fade"), 3500);
  setTimeout(() => t.remove(), 4200);
}
