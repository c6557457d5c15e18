// The request page of a zone (/r/{zone_token}) and a request's private progress page
// (/p/{progress_token}): no sign-in, one column for a phone, Chinese or English by the
// browser's language with a switch (i18n.js), every text through the catalogues and set
// as text (never as HTML), no outside asset.
//
// Lifecycle: on load the module reads the path, asks the gateway for the zone or the
// progress as JSON, and renders; a language change renders again in place. Sending a
// request shows the private progress link; the progress page offers the survey once the
// request is resolved, and shows it answered after.

import { h, replace } from "./dom.js";
import { CATALOGUES, LANGS, dateFmt, getLang, onLang, setLang, setTimeZone, t } from "./i18n.js";

const KINDS = ["cleaning", "repair", "security", "complaint", "enquiry", "other"];
const DIMENSIONS = ["overall", "speed", "thoroughness", "attitude"];
const JSON_TYPE = "application/json";
const root = document.getElementById("portal");
const parts = location.pathname.split("/").filter(Boolean);
const page = { mode: parts[0], token: parts[1] || "", data: null, error: "", sent: "" };

async function call(method, url, body) {
  const init = { method, headers: { Accept: JSON_TYPE }, credentials: "omit" };
  if (body !== undefined) {
    init.headers["Content-Type"] = JSON_TYPE;
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  return { status: resp.status, data, retry: resp.headers.get("retry-after") };
}

function when(iso) {
  if (!iso) return "—";
  return dateFmt(Date.parse(iso), { dateStyle: "medium", timeStyle: "short" });
}

function langSwitch() {
  const sel = h("select", { id: "lang", "aria-label": t("lang.label") });
  for (const l of LANGS) {
    const opt = h("option", { value: l }, CATALOGUES[l]["lang.name"]);
    if (l === getLang()) opt.selected = true;
    sel.appendChild(opt);
  }
  sel.addEventListener("change", () => setLang(sel.value));
  return h("div", { class: "lang" }, sel);
}

function header(title) {
  document.title = title;
  return h("header", null, h("h1", null, title), langSwitch());
}

// ---- the request page ----------------------------------------------------------------------
function requestForm() {
  const zone = page.data;
  const kinds = h("fieldset", { class: "kinds" }, h("legend", null, t("portal.kind")));
  for (const k of KINDS) {
    const input = h("input", { type: "radio", name: "kind", value: k, id: `kind-${k}`, required: "" });
    kinds.appendChild(h("label", { for: `kind-${k}` }, input, t(`portal.kind.${k}`)));
  }
  const desc = h("textarea", { id: "description", name: "description", maxlength: "2000" });
  const contact = h("input", { type: "text", id: "contact", name: "contact", maxlength: "128", autocomplete: "tel" });
  const photo = h("input", { type: "file", id: "photo", name: "photo", accept: "image/*" });
  const status = h("p", { id: "form-status", role: "status" }, page.error);
  if (page.error) status.className = "error";
  const send = h("button", { type: "submit", id: "send" }, t("portal.send"));
  const form = h(
    "form",
    { id: "request", novalidate: "" },
    kinds,
    h("label", { class: "field", for: "description" }, t("portal.description")),
    desc,
    h("label", { class: "field", for: "contact" }, t("portal.contact")),
    contact,
    h("p", { class: "hint" }, t("portal.contact_hint")),
    h("label", { class: "field", for: "photo" }, t("portal.photo")),
    photo,
    h("p", { class: "hint" }, t("portal.photo_hint")),
    send,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const picked = form.querySelector("input[name=kind]:checked");
    if (!picked) {
      status.className = "error";
      status.textContent = t("portal.pick_kind");
      return;
    }
    send.disabled = true;
    const body = { kind: picked.value };
    if (desc.value.trim()) body.description = desc.value.trim();
    if (contact.value.trim()) body.contact = contact.value.trim();
    if (photo.files && photo.files.length) {
      const form = new FormData();
      form.append("file", photo.files[0]);
      const up = await fetch(`${location.pathname}/photo`, {
        method: "POST", body: form, credentials: "omit", headers: { Accept: JSON_TYPE },
      }).catch(() => null);
      const got = up ? await up.json().catch(() => null) : null;
      if (!up || up.status !== 201 || !got) {
        send.disabled = false;
        status.className = "error";
        status.textContent =
          up && up.status === 429
            ? t("portal.too_many", { s: Number(up.headers.get("retry-after")) || 60 })
            : t("portal.photo_failed");
        return;
      }
      body.photo = got.id;
    }
    const r = await call("POST", location.pathname, body).catch(() => ({ status: 0 }));
    send.disabled = false;
    if (r.status === 201 && r.data) {
      page.sent = r.data.progress_url;
      page.error = "";
      render();
      return;
    }
    status.className = "error";
    status.textContent =
      r.status === 429 ? t("portal.too_many", { s: Number(r.retry) || 60 }) : t("portal.failed");
  });
  return [
    header(t("portal.title")),
    h("p", { class: "zone", id: "zone" }, t("portal.zone", { zone: zone.name, site: zone.site })),
    form,
  ];
}

function sentView() {
  const url = new URL(page.sent, location.origin).href;
  return [
    header(t("portal.sent_title")),
    h(
      "div",
      { class: "card" },
      h("p", null, t("portal.sent")),
      h("p", null, h("a", { class: "link", id: "progress-link", href: page.sent }, url)),
      h("p", { class: "hint" }, t("portal.keep_private")),
    ),
  ];
}

// ---- the progress page ---------------------------------------------------------------------
function surveyForm() {
  const fields = [];
  const selects = {};
  for (const d of DIMENSIONS) {
    const sel = h("select", { id: `score-${d}`, name: d, required: "" }, h("option", { value: "" }, "—"));
    for (let i = 10; i >= 1; i -= 1) sel.appendChild(h("option", { value: String(i) }, String(i)));
    selects[d] = sel;
    fields.push(h("label", { class: "field", for: `score-${d}` }, t(`portal.survey.${d}`)), sel);
  }
  const comment = h("textarea", { id: "comment", maxlength: "2000" });
  const status = h("p", { id: "survey-status", role: "status" });
  const btn = h("button", { type: "submit", id: "survey-send" }, t("portal.survey.send"));
  const form = h(
    "form",
    { id: "survey", class: "card scores", novalidate: "" },
    h("h2", null, t("portal.survey.title")),
    h("p", { class: "hint" }, t("portal.survey.lead")),
    ...fields,
    h("label", { class: "field", for: "comment" }, t("portal.survey.comment")),
    comment,
    btn,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const d of DIMENSIONS) {
      const v = Number(selects[d].value);
      if (!v) {
        status.className = "error";
        status.textContent = t("portal.survey.missing");
        return;
      }
      body[d] = v;
    }
    if (comment.value.trim()) body.comment = comment.value.trim();
    btn.disabled = true;
    const r = await call("POST", `/p/${page.token}/survey`, body).catch(() => ({ status: 0 }));
    btn.disabled = false;
    if (r.status === 200 && r.data) {
      page.data = r.data;
      render();
    } else if (r.status === 409) {
      status.className = "error";
      status.textContent = t("portal.survey.done");
    } else {
      status.className = "error";
      status.textContent = t("portal.failed");
    }
  });
  return form;
}

function progressView() {
  const p = page.data;
  const done = p.status === "resolved" || p.status === "closed";
  const rows = [
    [t("portal.kind"), t(`portal.kind.${p.kind}`)],
    [t("portal.created"), when(p.created_at)],
    [done ? t("portal.resolved_at") : t("portal.resolve_by"), when(done ? p.resolved_at : p.resolve_by)],
  ];
  const dl = h("dl");
  for (const [k, v] of rows) dl.append(h("dt", null, k), h("dd", null, v));
  const out = [
    header(t("portal.progress_title")),
    h(
      "div",
      { class: "card" },
      h("p", { class: done ? "status done" : "status", id: "status" }, t(`portal.status.${p.status}`)),
      h("p", { class: "hint" }, t(`portal.status_help.${p.status}`)),
      dl,
    ),
  ];
  if (p.reply) {
    out.push(h("div", { class: "card" }, h("h2", null, t("portal.reply")), h("p", { class: "reply", id: "reply" }, p.reply)));
  }
  if (p.survey_open) out.push(surveyForm());
  else if (p.surveyed) out.push(h("p", { class: "card", id: "survey-thanks" }, t("portal.survey.thanks")));
  return out;
}

// ---- shell ------------------------------------------------------------------------------------
function render() {
  if (page.error && !page.data) {
    replace(root, header(t("portal.title")), h("p", { class: "error", id: "not-found" }, page.error));
    return;
  }
  if (page.mode === "r") replace(root, ...(page.sent ? sentView() : requestForm()));
  else replace(root, ...progressView());
}

async function load() {
  const url = page.mode === "r" ? `/r/${page.token}` : `/p/${page.token}`;
  const r = await call("GET", url).catch(() => ({ status: 0 }));
  if (r.status === 200 && r.data) {
    page.data = r.data;
    if (r.data.timezone) setTimeZone(r.data.timezone);
  } else {
    page.error = r.status === 404 ? t(page.mode === "r" ? "portal.no_page" : "portal.no_request") : t("portal.failed");
  }
  render();
}

onLang(() => {
  if (page.error && !page.data) page.error = t(page.mode === "r" ? "portal.no_page" : "portal.no_request");
  render();
});
load();
