// Inspection rounds on the phone: the rounds due for my crew, a round checkpoint by
// checkpoint (pass/fail items with their standard, numbers with limits, photos), finish or
// abandon; the figures for those who read them.
//
// A flaky connection: every answer (and the finish) goes into a queue kept in localStorage
// before it is sent, with an idempotency key made here. The queue is sent in order, one call
// at a time; a call that cannot reach the gateway stays first in the queue and is tried
// again when the browser is back online (and every 10 s), so answers arrive in the order
// they were given, and a replay of one whose answer was lost is recognised by its key and
// applied once. An answer the gateway refuses (409, 422) leaves the queue with a message.
// Photos are uploaded when taken (they need the connection).
//
// #/rounds/scan/<template>/<checkpoint> (the printed QR codes) opens that checkpoint of my
// round of that template in progress, marked as scanned.

import { ApiError, api, get, hasRole, isPerson, items, session } from "./api.js";
import { dateTime, dialog, h, replace, toast } from "./dom.js";
import { t, tv } from "./i18n.js";
import { zoneName } from "./store.js";

const QUEUE_KEY = "sitewatch.rounds.queue";
const RETRY_MS = 10_000;
const CSS = "/static/css/rounds.css";

// ---- the queue (localStorage: survives a reload and a closed tab) -----------------------
function loadQueue() {
  try {
    const q = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
    return Array.isArray(q) ? q : [];
  } catch {
    return [];
  }
}

function saveQueue(q) {
  localStorage.setItem(QUEUE_KEY, JSON.stringify(q));
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export const queue = {
  flushing: false,
  listeners: new Set(),
  get items() {
    return loadQueue();
  },
  push(entry) {
    const q = loadQueue();
    q.push({ key: newKey(), at: Date.now(), ...entry });
    saveQueue(q);
    this.changed();
    return this.flush();
  },
  changed() {
    for (const fn of this.listeners) fn();
  },
  /** send what waits, in order; stops at the first call that cannot reach the gateway */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const q = loadQueue();
        if (!q.length) break;
        const e = q[0];
        try {
          await api(e.path, { method: "POST", body: e.kind === "answer" ? { ...e.body, key: e.key, client_at: e.at } : e.body });
        } catch (err) {
          if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500 || err.status === 401) break;
          toast(t("rounds.refused", { error: err.message }), "bad");
        }
        saveQueue(loadQueue().filter((x) => x.key !== e.key));
        this.changed();
      }
    } finally {
      this.flushing = false;
      this.changed();
    }
  },
};

window.addEventListener("online", () => queue.flush());
setInterval(() => {
  if (loadQueue().length) queue.flush();
}, RETRY_MS);

// ---- photos -----------------------------------------------------------------------------
async function uploadPhoto(file) {
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  else if (session.csrf) headers["X-CSRF-Token"] = session.csrf;
  const form = new FormData();
  form.append("file", file);
  const res = await fetch("/api/v1/photos", { method: "POST", body: form, headers, credentials: "same-origin" });
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data && data.detail, "/api/v1/photos");
  return data;
}

/** a photo as a data: URL (the page's policy allows no blob: images) */
async function photoUrl(id) {
  const headers = session.token ? { Authorization: `Bearer ${session.token}` } : {};
  const res = await fetch(`/api/v1/photos/${encodeURIComponent(id)}?size=thumb`, { headers, credentials: "same-origin" });
  if (!res.ok) return "";
  const blob = await res.blob();
  return new Promise((resolve) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.readAsDataURL(blob);
  });
}

// ---- the view ---------------------------------------------------------------------------
function scanTarget() {
  const m = location.hash.match(/^#\/rounds\/scan\/([\w.-]+)\/([\w.-]+)/);
  return m ? { template: m[1], cp: m[2] } : null;
}

function itemLabel(item) {
  const limits = [];
  if (item.min !== undefined && item.min !== null) limits.push(`≥ ${item.min}`);
  if (item.max !== undefined && item.max !== null) limits.push(`≤ ${item.max}`);
  return limits.length ? `${item.text} (${limits.join(", ")})` : item.text;
}

export function mount(root) {
  if (!document.querySelector(`link[href="${CSS}"]`)) document.head.appendChild(h("link", { rel: "stylesheet", href: CSS }));
  // answered: checkpoints answered on this page (queued or sent) before the round is read again
  const ui = { rounds: [], round: null, cp: null, error: null, scanned: new Set(), answered: new Set(), photos: [], figures: null };
  const net = h("p", { class: "net", role: "status" });
  const body = h("div", { class: "rounds-body" });
  const section = h("section", { class: "rounds" }, h("h1", { class: "visually-hidden" }, t("view.rounds")), net, body);
  root.appendChild(section);

  function paintNet() {
    const n = loadQueue().length;
    const online = navigator.onLine;
    net.dataset.online = String(online);
    net.dataset.queued = String(n);
    replace(net, h("span", { class: ["dot", online ? "on" : "off"] }), online ? t("rounds.online") : t("rounds.offline"), " · ", h("span", { class: "queue-count", dataset: { n: String(n) } }, t("rounds.queued", { n })));
  }

  const mineOnly = isPerson() && !hasRole("admin") && !hasRole("operator") && !hasRole("manager");

  async function loadList() {
    try {
      const crew = mineOnly ? "&crew=me" : "";
      ui.rounds = items(await get(`/api/v1/rounds?status=due,in_progress,missed${crew}&limit=100`));
      ui.error = null;
    } catch (err) {
      ui.error = err;
    }
    const target = scanTarget();
    if (target) {
      const r = ui.rounds.find((x) => x.template_id === target.template && x.status === "in_progress");
      if (r) {
        ui.scanned.add(`${r.id}/${target.cp}`);
        return openRound(r.id, target.cp);
      }
      toast(t("rounds.scan_no_round"), "bad");
    }
    render();
  }

  async function openRound(id, cp = null) {
    try {
      ui.round = await get(`/api/v1/rounds/${id}`);
      ui.cp = cp;
      ui.photos = [];
    } catch (err) {
      ui.error = err;
    }
    render();
  }

  async function start(r) {
    try {
      await api(`/api/v1/rounds/${r.id}/start`, { method: "POST", body: {} });
      await openRound(r.id);
    } catch (err) {
      toast(err.message, "bad");
    }
  }

  function pendingCps(roundId) {
    const prefix = `/api/v1/rounds/${roundId}/checkpoints/`;
    return new Set(loadQueue().filter((e) => e.path.startsWith(prefix)).map((e) => e.path.slice(prefix.length)));
  }

  function render() {
    paintNet();
    if (ui.error) return replace(body, h("p", { class: "form-error", role: "alert" }, ui.error.message));
    if (ui.round && ui.cp) return replace(body, checkpointForm(ui.round, ui.cp));
    if (ui.round) return replace(body, roundPage(ui.round));
    replace(body, listPage());
  }

  function listPage() {
    const cards = ui.rounds.map((r) =>
      h(
        "article",
        { class: ["round-card", `st-${r.status}`], dataset: { round: String(r.id), template: r.template_id } },
        h("h2", null, r.name),
        h("p", { class: "sub" }, t("rounds.due_at", { time: dateTime(r.due_at) }), " · ", tv("roundstatus", r.status)),
        h("p", { class: "sub" }, t("rounds.progress", { done: r.progress.done, total: r.progress.total })),
        r.status === "in_progress"
          ? h("button", { type: "button", class: "btn primary big round-open", on: { click: () => openRound(r.id) } }, t("rounds.continue"))
          : h("button", { type: "button", class: "btn primary big round-start", on: { click: () => start(r) } }, t("rounds.start")),
      ),
    );
    const figs = hasRole("manager") || hasRole("admin") || hasRole("operator") ? h("button", { type: "button", class: "btn ghost round-figures", on: { click: showFigures } }, t("rounds.figures")) : null;
    return h("div", { class: "round-list" }, cards.length ? cards : h("p", { class: "muted empty" }, t("rounds.none")), figs, ui.figures ? figuresBlock(ui.figures) : null);
  }

  async function showFigures() {
    try {
      ui.figures = await get("/api/v1/rounds-figures?days=30");
    } catch (err) {
      toast(err.message, "bad");
    }
    render();
  }

  function figuresBlock(f) {
    const crews = Object.entries(f.rounds || {}).map(([crew, c]) => h("li", null, t("rounds.fig_crew", { crew, on_time: c.on_time, late: c.late, missed: c.missed })));
    const zones = Object.entries(f.by_zone || {}).map(([z, v]) => h("li", null, t("rounds.fig_zone", { zone: zoneName(z), pct: v.fail_pct ?? "—", failed: v.failed, inspected: v.inspected })));
    const hot = (f.hot_spots || []).map((x) => h("li", { class: "bad" }, t("rounds.fig_hot", { zone: zoneName(x.zone), item: x.text || x.item, n: x.streak })));
    return h(
      "div",
      { class: "round-figs" },
      h("h2", null, t("rounds.fig_title", { pct: f.fail_pct ?? "—" })),
      h("ul", null, crews),
      h("ul", null, zones),
      hot.length ? h("ul", null, hot) : null,
    );
  }

  function roundPage(r) {
    const pending = pendingCps(r.id);
    const here = (c) => ui.answered.has(`${r.id}/${c.id}`);
    const done = r.checkpoints.filter((c) => c.done || pending.has(c.id) || here(c)).length;
    const list = r.checkpoints.map((c, i) => {
      const state = pending.has(c.id) || (!c.done && here(c)) ? "queued" : c.done ? (c.failed ? "failed" : "passed") : "todo";
      return h(
        "li",
        null,
        h(
          "button",
          { type: "button", class: ["cp", `cp-${state}`], dataset: { cp: c.id, state }, on: { click: () => { ui.cp = c.id; ui.photos = []; render(); } } },
          h("span", { class: "cp-n" }, String(i + 1)),
          h("span", { class: "cp-name" }, c.name || zoneName(c.zone)),
          h("span", { class: "cp-state" }, t(`rounds.cp_${state}`)),
        ),
      );
    });
    const finishing = loadQueue().some((e) => e.path === `/api/v1/rounds/${r.id}/finish`);
    return h(
      "div",
      { class: "round-page", dataset: { round: String(r.id), status: r.status } },
      h("button", { type: "button", class: "linkish round-back", on: { click: () => { ui.round = null; loadList(); } } }, t("rounds.back")),
      h("h2", null, r.name),
      h("p", { class: "sub" }, t("rounds.progress", { done, total: r.checkpoints.length }), " · ", tv("roundstatus", finishing ? "done" : r.status)),
      h("ol", { class: "cp-list" }, list),
      r.status === "in_progress" && !finishing
        ? h(
            "div",
            { class: "round-actions" },
            h("button", { type: "button", class: "btn primary big round-finish", disabled: done < r.checkpoints.length, on: { click: () => finish(r) } }, t("rounds.finish")),
            h("button", { type: "button", class: "btn ghost round-abandon", on: { click: () => abandon(r) } }, t("rounds.abandon")),
          )
        : null,
    );
  }

  function finish(r) {
    queue.push({ kind: "finish", path: `/api/v1/rounds/${r.id}/finish`, body: {} });
    render();
  }

  async function abandon(r) {
    const reason = h("textarea", { id: "abandon-reason", required: true, rows: 3 });
    await dialog(t("rounds.abandon"), h("div", null, h("label", { for: "abandon-reason" }, t("rounds.abandon_reason")), reason), {
      danger: true,
      submit: t("rounds.abandon"),
      onSubmit: async () => {
        await api(`/api/v1/rounds/${r.id}/abandon`, { method: "POST", body: { reason: reason.value } });
        ui.round = null;
        await loadList();
      },
    });
  }

  function checkpointForm(r, cpId) {
    const cp = r.checkpoints.find((c) => c.id === cpId);
    if (!cp) return h("p", { class: "form-error" }, t("rounds.no_cp"));
    const fields = cp.items.map((item) => itemField(item, cp.answers ? cp.answers[item.id] : undefined));
    const thumbs = h("div", { class: "thumbs" });
    const paintThumbs = async () => replace(thumbs, ...(await Promise.all(ui.photos.map(async (id) => h("img", { src: await photoUrl(id), alt: t("rounds.photo_alt"), class: "thumb", dataset: { photo: id } })))));
    const file = h("input", { type: "file", id: "cp-photo", accept: "image/jpeg,image/png,image/webp,image/heic,image/heif", capture: "environment" });
    file.addEventListener("change", async () => {
      const f = file.files && file.files[0];
      if (!f) return;
      try {
        ui.photos.push((await uploadPhoto(f)).id);
        await paintThumbs();
      } catch (err) {
        toast(err.status === 0 ? t("rounds.photo_offline") : err.message, "bad");
      }
      file.value = "";
    });
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const form = h(
      "form",
      { class: "cp-form", dataset: { cp: cp.id } },
      h("h2", null, cp.name || zoneName(cp.zone)),
      h("p", { class: "sub" }, zoneName(cp.zone), ui.scanned.has(`${r.id}/${cp.id}`) ? ` · ${t("rounds.scanned")}` : ""),
      fields.map((f) => f.el),
      h("label", { for: "cp-photo", class: "photo-label" }, t("rounds.add_photo")),
      file,
      thumbs,
      error,
      h("div", { class: "round-actions" }, h("button", { type: "submit", class: "btn primary big cp-save" }, t("rounds.save")), h("button", { type: "button", class: "btn ghost cp-cancel", on: { click: () => { ui.cp = null; render(); } } }, t("rounds.back"))),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const answers = {};
      for (const f of fields) {
        const v = f.value();
        if (v !== undefined) answers[f.item.id] = v;
      }
      const missing = cp.items.filter((i) => i.required !== false && answers[i.id] === undefined);
      const failed = cp.items.filter((i) => answers[i.id] === false || (typeof answers[i.id] === "number" && ((i.min != null && answers[i.id] < i.min) || (i.max != null && answers[i.id] > i.max))));
      const needPhoto = failed.some((i) => (i.photo || "on_fail") === "on_fail") || cp.items.some((i) => i.photo === "always");
      let msg = "";
      if (missing.length) msg = t("rounds.missing", { items: missing.map((i) => i.text).join(", ") });
      else if (needPhoto && !ui.photos.length) msg = t("rounds.need_photo");
      if (msg) {
        error.hidden = false;
        error.textContent = msg;
        return;
      }
      queue.push({ kind: "answer", path: `/api/v1/rounds/${r.id}/checkpoints/${cp.id}`, body: { answers, photos: [...ui.photos], scanned: ui.scanned.has(`${r.id}/${cp.id}`) } });
      ui.answered.add(`${r.id}/${cp.id}`);
      const next = r.checkpoints.find((c) => !c.done && !pendingCps(r.id).has(c.id) && !ui.answered.has(`${r.id}/${c.id}`));
      ui.cp = next ? next.id : null;
      ui.photos = [];
      render();
    });
    return form;
  }

  function itemField(item, current) {
    const name = `item-${item.id}`;
    const std = item.standard ? h("p", { class: "standard" }, t("rounds.standard", { text: item.standard })) : null;
    if (item.kind === "number") {
      const input = h("input", { type: "number", inputmode: "decimal", step: "any", id: name, name, value: current ?? "" });
      return { item, el: h("div", { class: "item" }, h("label", { for: name }, itemLabel(item)), input, std), value: () => (input.value === "" ? undefined : Number(input.value)) };
    }
    if (item.kind === "text" || item.kind === "photo") {
      const input = h("textarea", { id: name, name, rows: 2 }, current ?? "");
      return { item, el: h("div", { class: "item" }, h("label", { for: name }, item.text), input, std), value: () => (input.value.trim() ? input.value.trim() : undefined) };
    }
    const radio = (value, label) =>
      h("label", { class: ["pf", `pf-${value}`] }, h("input", { type: "radio", name, value, checked: current === (value === "pass") }), label);
    const el = h("fieldset", { class: "item check" }, h("legend", null, item.text), h("div", { class: "pf-row" }, radio("pass", t("rounds.pass")), radio("fail", t("rounds.fail"))), std);
    return {
      item,
      el,
      value: () => {
        const on = el.querySelector(`input[name="${name}"]:checked`);
        return on ? on.value === "pass" : undefined;
      },
    };
  }

  const onQueue = async () => {
    if (!section.isConnected) return;
    paintNet();
    if (!ui.round) return;
    if (!queue.flushing && !loadQueue().length) {
      // everything sent: read the round again (failed items, findings, its status)
      try {
        ui.round = await get(`/api/v1/rounds/${ui.round.id}`);
      } catch {
        return;
      }
    }
    if (!ui.cp) render();
  };
  queue.listeners.add(onQueue);
  const onNet = () => paintNet();
  window.addEventListener("online", onNet);
  window.addEventListener("offline", onNet);
  const onHash = () => {
    if (scanTarget()) loadList();
  };
  window.addEventListener("hashchange", onHash);
  loadList();
  queue.flush();
  return () => {
    queue.listeners.delete(onQueue);
    window.removeEventListener("online", onNet);
    window.removeEventListener("offline", onNet);
    window.removeEventListener("hashchange", onHash);
  };
}
