// The signed-in person's notification settings on the phone page: a button that asks the
// browser for permission to show notifications (notify.js), and the profile of
// GET/PUT /api/v1/me/notify {email, chats: [{kind, url}], browser}.
//
// Webhook URLs carry their group's key, so the gateway shows saved ones shortened
// (scheme, host and the last four characters) and a PUT replaces every field: a saved webhook is kept by
// entering its address again (the form says so); one left out is removed.
//
// Lifecycle: tech.js builds notifyPanel() once per mount; it loads the profile when the
// panel is first opened.

import { api } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { t as tr, tv } from "./i18n.js";
import { enableNotifications, notificationsSupported } from "./notify.js";

const KINDS = ["wecom", "dingtalk", "feishu", "slack", "teams"];
const MAX_CHATS = 5;

function permissionText() {
  if (!notificationsSupported()) return tr("notify.perm.unsupported");
  return tv("notify.perm", Notification.permission);
}

export function notifyPanel() {
  const ui = { loaded: false, chats: [], seq: 0 };
  const state = h("p", { class: "np-perm", role: "status" });
  const enable = h("button", { type: "button", class: "btn big ghost np-enable" }, tr("notify.enable"));
  const email = h("input", { id: "np-email", name: "email", type: "email", autocomplete: "email", maxlength: 256, inputmode: "email" });
  const browser = h("input", { id: "np-browser", name: "browser", type: "checkbox", role: "switch" });
  const chatList = h("ul", { class: "np-chats" });
  const addChat = h("button", { type: "button", class: "btn ghost np-add" }, tr("notify.add_chat"));
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { type: "submit", class: "btn big primary np-save" }, tr("notify.save"));
  const form = h(
    "form",
    { class: "np-form", novalidate: true },
    h("label", { for: "np-email" }, tr("notify.email")),
    email,
    h("div", { class: "np-row" }, h("label", { for: "np-browser" }, tr("notify.browser")), browser),
    h("p", { class: "form-label" }, tr("notify.chats")),
    h("p", { class: "np-hint muted" }, tr("notify.chats_hint")),
    chatList,
    addChat,
    error,
    save,
  );
  const body = h("div", { class: "np-body" }, h("div", { class: "np-enable-row" }, enable, state), form);
  const panel = h("details", { class: "notify-prefs" }, h("summary", null, tr("notify.title")), body);

  const paintPermission = () => {
    state.textContent = permissionText();
    enable.disabled = !notificationsSupported() || Notification.permission !== "default";
  };

  function chatRow(c, i) {
    const kindId = `np-kind-${i}`;
    const urlId = `np-url-${i}`;
    return h(
      "li",
      { class: "np-chat", dataset: { saved: c.saved ? "true" : "false" } },
      h("label", { for: kindId, class: "visually-hidden" }, tr("notify.chat_kind")),
      h(
        "select",
        { id: kindId, on: { change: (e) => { c.kind = e.target.value; } } },
        KINDS.map((k) => h("option", { value: k, selected: c.kind === k }, tv("notify.kind", k))),
      ),
      h("label", { for: urlId, class: "visually-hidden" }, tr("notify.chat_url")),
      h("input", {
        id: urlId,
        type: "url",
        inputmode: "url",
        maxlength: 1000,
        value: c.url,
        placeholder: c.saved ? c.masked : tr("notify.url_placeholder"),
        "aria-describedby": c.saved ? `${urlId}-hint` : undefined,
        on: { input: (e) => { c.url = e.target.value; } },
      }),
      h("button", { type: "button", class: "btn small ghost np-remove", on: { click: () => { ui.chats.splice(i, 1); paintChats(); } } }, tr("notify.remove")),
      c.saved ? h("span", { class: "np-saved muted", id: `${urlId}-hint` }, tr("notify.saved_as", { url: c.masked })) : null,
    );
  }

  function paintChats() {
    replace(chatList, ui.chats.map(chatRow));
    addChat.disabled = ui.chats.length >= MAX_CHATS;
  }

  function fill(p) {
    email.value = p.email || "";
    browser.checked = !!p.browser;
    ui.chats = (p.chats || []).map((c) => ({ kind: c.kind, url: "", masked: c.url, saved: true }));
    paintChats();
  }

  async function load() {
    const seq = ++ui.seq;
    try {
      const p = await api("/api/v1/me/notify");
      if (seq !== ui.seq) return;
      ui.loaded = true;
      fill(p);
      form.hidden = false;
    } catch (err) {
      if (seq !== ui.seq) return;
      form.hidden = true;
      state.textContent = tr("notify.unavailable", { error: err.message });
    }
  }

  enable.addEventListener("click", async () => {
    const got = await enableNotifications();
    paintPermission();
    if (got === "granted" && !browser.checked) browser.checked = true; // the channel goes with the permission
  });
  addChat.addEventListener("click", () => {
    if (ui.chats.length >= MAX_CHATS) return;
    ui.chats.push({ kind: KINDS[0], url: "", masked: "", saved: false });
    paintChats();
    const last = chatList.querySelector("li:last-child input");
    if (last) last.focus();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const chats = [];
    for (const c of ui.chats) {
      const url = c.url.trim();
      if (!/^https?:\/\/\S+$/i.test(url)) {
        error.hidden = false;
        error.textContent = c.saved ? tr("notify.reenter", { url: c.masked }) : tr("notify.bad_url");
        return;
      }
      chats.push({ kind: c.kind, url });
    }
    save.disabled = true;
    try {
      const p = await api("/api/v1/me/notify", { method: "PUT", body: { email: email.value.trim() || null, chats, browser: browser.checked } });
      fill(p);
      toast(tr("notify.saved"), "ok");
    } catch (err) {
      error.hidden = false;
      error.textContent = err.message;
    } finally {
      save.disabled = false;
    }
  });
  panel.addEventListener("toggle", () => {
    if (panel.open && !ui.loaded) load();
  });
  form.hidden = true;
  paintPermission();
  return panel;
}
