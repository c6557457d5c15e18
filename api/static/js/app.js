// The page: sign-in (a person's id and password, or an access token), the shell (navigation,
// the signed-in person and sign-out, status, flood banner), the views.

import { api, hasRole, isPerson, session, signIn, signOut as endSession } from "./api.js";
import * as building from "./building.js";
import * as control from "./control.js";
import { clock, duration, h, replace, s, setTimeZone } from "./dom.js";
import * as figures from "./figures.js";
import { CATALOGUES, LANGS, getLang, onLang, setLang, t, tv } from "./i18n.js";
import * as maintenance from "./maintenance.js";
import { startNotifications, stopNotifications } from "./notify.js";
import { isMuted, onMute, setMuted, unlock } from "./sound.js";
import { FLOOD_ABOVE, connectStream, disconnectStream, floodCount, loadSite, refreshDevices, store, subscribe } from "./store.js";
import * as tech from "./tech.js";
import * as rounds from "./rounds.js";
import * as tickets from "./tickets.js";

const VIEWS = { control, building, tickets, maintenance, tech, rounds, figures }; // titles: view.<name>

const app = document.getElementById("app");
let unmount = null;
let current = null;
let shell = null;
let offMute = null;
let signInMessage;

/** the language switch: each language named in itself */
function langSwitch() {
  return h(
    "select",
    { class: "lang", "aria-label": t("lang.label"), on: { change: (e) => setLang(e.target.value) } },
    LANGS.map((l) => h("option", { value: l, lang: l, selected: l === getLang() }, CATALOGUES[l]["lang.name"])),
  );
}

function defaultView() {
  const role = session.me ? session.me.role : "";
  if (role === "technician") return "tech";
  return role === "manager" ? "figures" : "control";
}

function viewFromHash() {
  const name = location.hash.replace(/^#\/?/, "").split("/")[0]; // #/rounds/scan/...: rounds
  return VIEWS[name] ? name : defaultView();
}

// ---- sign-in ----------------------------------------------------------------------------
// A person signs in with their user id and password (a session cookie); an access token
// (a role token of a scripted set-up or the demo, an API key) is the fallback behind
// "use an access token". The message above the button is kept as a key and its values, so
// a change of language says it again in the new one.
let signInMode = "password"; // password | token
let lockTimer = null;
let lockUntil = 0; // a 429 said: no new try before this (ms)

function stopLockTimer() {
  if (lockTimer) clearInterval(lockTimer);
  lockTimer = null;
}

function messageText(msg) {
  return msg ? t(msg.key, msg.params) : "";
}

function showSignIn(message) {
  teardown();
  stopLockTimer();
  document.body.className = "signed-out";
  signInMessage = message || null;
  const field = (attrs) => h("input", { required: true, autocapitalize: "none", spellcheck: "false", ...attrs });
  const user = field({ id: "user", name: "username", type: "text", autocomplete: "username" });
  const password = field({ id: "password", name: "password", type: "password", autocomplete: "current-password" });
  const token = field({ id: "token", name: "token", type: "password", autocomplete: "off", placeholder: t("signin.placeholder") });
  const personPart = h("div", { class: "signin-part", dataset: { part: "password" } }, h("label", { for: "user" }, t("signin.user")), user, h("label", { for: "password" }, t("signin.password")), password);
  const tokenPart = h("div", { class: "signin-part", dataset: { part: "token" } }, h("p", { class: "muted small" }, t("signin.token_lead")), h("label", { for: "token" }, t("signin.token")), token);
  const error = h("p", { class: "form-error", role: "alert", hidden: !message }, messageText(message));
  const submit = h("button", { type: "submit", class: "btn primary big" }, t("signin.submit"));
  const toggle = h("button", { type: "button", class: "linkish signin-switch" });
  const form = h(
    "form",
    { class: "signin-card", autocomplete: "on" },
    h("div", { class: "brand big" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "sitewatch"),
    h("p", { class: "muted" }, t("signin.lead")),
    personPart,
    tokenPart,
    error,
    submit,
    toggle,
    h("div", { class: "signin-lang" }, langSwitch()),
  );
  const say = (msg) => {
    signInMessage = msg;
    error.hidden = !msg;
    error.textContent = messageText(msg);
  };
  const paintMode = () => {
    const byToken = signInMode === "token";
    form.dataset.mode = signInMode;
    personPart.hidden = byToken;
    tokenPart.hidden = !byToken;
    user.required = password.required = !byToken; // a hidden field must not block the form
    token.required = byToken;
    toggle.textContent = byToken ? t("signin.use_password") : t("signin.use_token");
  };
  toggle.addEventListener("click", () => {
    signInMode = signInMode === "token" ? "password" : "token";
    paintMode();
    say(null);
    (signInMode === "token" ? token : user).focus();
  });
  const runLock = () => {
    // 429: the wait, counted down; the button comes back when it is over
    stopLockTimer();
    const paint = () => {
      const left = lockUntil - Date.now();
      if (left <= 0 || !form.isConnected) {
        stopLockTimer();
        submit.disabled = false;
        if (form.isConnected && left <= 0) say(null);
        return;
      }
      submit.disabled = true;
      say({ key: "signin.locked", params: { wait: duration(Math.ceil(left / 1000) * 1000) } });
    };
    paint();
    if (submit.disabled) lockTimer = setInterval(paint, 1000);
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    unlock(); // a user gesture: the alarm tone may play from now on
    if (submit.disabled) return;
    submit.disabled = true;
    try {
      if (signInMode === "token") {
        const value = token.value.trim();
        if (!value) return;
        const me = await api("/api/v1/me", { token: value });
        session.token = value;
        session.me = me;
      } else {
        const id = user.value.trim();
        if (!id || !password.value) return;
        await signIn(id, password.value);
        session.me = await api("/api/v1/me", { signin: true });
      }
      start();
    } catch (err) {
      if (err.status === 429) {
        lockUntil = Date.now() + (err.retryAfter || 60) * 1000;
        runLock();
        return;
      }
      password.value = "";
      if (err.status === 401) say({ key: signInMode === "token" ? "signin.invalid" : "signin.wrong" });
      else if (err.status === 403 && signInMode === "password") say({ key: "signin.disabled" });
      else say({ key: "signin.failed", params: { error: err.message } });
    } finally {
      if (!lockTimer) submit.disabled = false;
    }
  });
  paintMode();
  replace(app, h("main", { class: "signin" }, h("h1", { class: "visually-hidden" }, t("signin.title")), form));
  if (lockUntil > Date.now()) runLock();
  document.title = `${t("signin.title")} · sitewatch`;
  (signInMode === "token" ? token : user).focus();
}

function forget() {
  stopNotifications();
  session.clear();
  disconnectStream();
  store.alarms.clear();
}

async function signOut() {
  stopNotifications();
  disconnectStream();
  teardown();
  try {
    await endSession(); // the session ends on the gateway; its cookies are cleared
  } catch {
    /* already over (expired, or the gateway is away): the page forgets it all the same */
  }
  forget();
  location.hash = "";
  showSignIn();
}

session.onUnauthorized = () => {
  if (session.me) {
    forget();
    showSignIn({ key: "signin.expired" });
  }
};

function speaker(muted) {
  return s(
    "svg",
    { viewBox: "0 0 24 24", width: 16, height: 16, class: "icon", "aria-hidden": "true" },
    s("path", { d: "M3 9h4l5-4v14l-5-4H3z", class: "icon-fill" }),
    muted
      ? s("path", { d: "M16 9l6 6M22 9l-6 6", class: "icon-stroke" })
      : s("path", { d: "M16 8.5a5 5 0 0 1 0 7M18.5 6a8.5 8.5 0 0 1 0 12", class: "icon-stroke" }),
  );
}

// ---- the shell --------------------------------------------------------------------------
function buildShell() {
  const nav = h("nav", { class: "nav", "aria-label": t("nav.label") });
  const status = h("span", { class: "conn", role: "status" });
  const siteName = h("span", { class: "site-name" });
  const siteClock = h("span", { class: "site-clock mono" });
  const muteBtn = h("button", { type: "button", class: "btn small ghost mute" });
  const banner = h("div", { class: "flood-banner", role: "alert", hidden: true });
  const main = h("main", { class: "view" });
  const me = session.me || {};
  const header = h(
    "header",
    { class: "topbar" },
    h("div", { class: "brand" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "sitewatch"),
    siteName,
    nav,
    h(
      "div",
      { class: "top-right" },
      status,
      siteClock,
      muteBtn,
      langSwitch(),
      // the person signed in (a shared role token names no one: its role says it all)
      isPerson() ? h("span", { class: "who", dataset: { user: me.user }, title: t("shell.signed_in_as", { name: me.name, user: me.user }) }, me.name) : null,
      h("span", { class: "role", dataset: { role: me.role || "" } }, me.role === "technician" && hasRole("lead") ? t("role.lead") : tv("role", me.role)),
      h("button", { type: "button", class: "btn small ghost signout", on: { click: signOut } }, t("shell.signout")),
    ),
  );
  const paintMute = () => {
    // the button says what is so now, and what a press does
    const m = isMuted();
    replace(muteBtn, speaker(m), h("span", { class: "mute-text" }, m ? t("sound.off") : t("sound.on")));
    muteBtn.title = m ? t("sound.off_title") : t("sound.on_title");
    muteBtn.setAttribute("aria-label", `${m ? t("sound.off") : t("sound.on")}: ${muteBtn.title}`);
    muteBtn.dataset.muted = m ? "true" : "false";
    muteBtn.classList.toggle("muted-on", m);
  };
  muteBtn.addEventListener("click", () => {
    unlock();
    setMuted(!isMuted());
  });
  if (offMute) offMute();
  offMute = onMute(paintMute);
  paintMute();
  replace(app, header, banner, main);
  return { nav, status, siteName, siteClock, banner, main };
}

function paintNav() {
  const role = session.me ? session.me.role : "";
  let names = Object.keys(VIEWS).filter((v) => v !== "tech" || ["technician", "operator", "admin"].includes(role));
  if (role === "technician") names = ["tech", ...names.filter((v) => v !== "tech")];
  replace(
    shell.nav,
    names.map((v) => h("a", { href: `#/${v}`, class: ["nav-link", current === v && "on"], "aria-current": current === v ? "page" : undefined }, t(`view.${v}`))),
  );
}

function paintStatus() {
  if (!shell) return;
  const text = tv("conn", store.stream);
  if (shell.status.textContent !== text) shell.status.textContent = text;
  shell.status.className = `conn c-${store.stream}`;
  shell.status.title = store.streamError || "";
  if (store.site) shell.siteName.textContent = t("shell.site", { name: store.site.name, site: store.site.site });
  const n = floodCount();
  const flood = n > FLOOD_ABOVE;
  shell.banner.hidden = !flood;
  document.body.classList.toggle("in-flood", flood);
  if (flood) {
    replace(shell.banner, h("strong", null, t("flood.title")), " ", t("flood.count", { n, above: FLOOD_ABOVE }), h("span", { class: "flood-more" }, " ", t("flood.more")));
  }
}

function route() {
  if (!shell) return;
  const name = viewFromHash();
  if (name === current && unmount) return;
  if (unmount) unmount();
  current = name;
  document.body.dataset.view = name;
  document.title = `${t(`view.${name}`)} · sitewatch`;
  replace(shell.main);
  unmount = VIEWS[name].mount(shell.main) || null;
  paintNav();
}

function teardown() {
  if (unmount) unmount();
  unmount = null;
  current = null;
  shell = null;
}

let ticker = null;
let subscribed = false;
async function start() {
  teardown();
  document.body.className = "signed-in";
  shell = buildShell();
  if (!subscribed) subscribe(paintStatus);
  subscribed = true;
  connectStream();
  startNotifications(); // the person's browser notifications while the page is open (notify.js)
  route();
  try {
    const site = await loadSite();
    setTimeZone(site.timezone);
  } catch (err) {
    shell.siteName.textContent = t("shell.site_unavailable", { error: err.message });
  }
  refreshDevices();
  paintStatus();
  if (ticker) clearInterval(ticker);
  ticker = setInterval(() => {
    if (!shell) return;
    shell.siteClock.textContent = clock(Date.now());
    paintStatus();
  }, 1000);
  shell.siteClock.textContent = clock(Date.now());
}

window.addEventListener("hashchange", route);

// a new language: the same page again, in place (the stream and the store stay)
onLang(() => {
  if (!shell) return showSignIn(signInMessage);
  const focusSel = document.activeElement && document.activeElement.classList.contains("lang") ? "select.lang" : null;
  if (unmount) unmount();
  unmount = null;
  const name = current;
  current = null;
  shell = buildShell();
  location.hash = `#/${name}`;
  route();
  paintStatus();
  shell.siteClock.textContent = clock(Date.now());
  if (focusSel) document.querySelector(focusSel)?.focus();
});
document.addEventListener("click", unlock, { once: true });

// a reload: the token of this tab, else the session cookie (when its readable twin is there)
(async function boot() {
  if (!session.token && !session.maybeSignedIn) return showSignIn();
  try {
    session.me = await api("/api/v1/me", { signin: !session.token });
    start();
  } catch (err) {
    if (err.status === 401) session.clear();
    showSignIn(err.status === 401 ? null : { key: "signin.unreachable", params: { error: err.message } });
  }
})();
