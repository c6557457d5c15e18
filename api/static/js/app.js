// The page: sign-in with a token, the shell (navigation, status, flood banner), the views.

import { api, session } from "./api.js";
import * as building from "./building.js";
import * as control from "./control.js";
import { clock, h, replace, s, setTimeZone } from "./dom.js";
import * as figures from "./figures.js";
import { CATALOGUES, LANGS, getLang, onLang, setLang, t, tv } from "./i18n.js";
import { isMuted, onMute, setMuted, unlock } from "./sound.js";
import { FLOOD_ABOVE, connectStream, disconnectStream, floodCount, loadSite, refreshDevices, store, subscribe } from "./store.js";
import * as tech from "./tech.js";
import * as tickets from "./tickets.js";

const VIEWS = { control, building, tickets, tech, figures }; // titles: view.<name>

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
  return session.me && session.me.role === "technician" ? "tech" : "control";
}

function viewFromHash() {
  const name = location.hash.replace(/^#\/?/, "");
  return VIEWS[name] ? name : defaultView();
}

// ---- sign-in ----------------------------------------------------------------------------
function showSignIn(message) {
  teardown();
  document.body.className = "signed-out";
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true, placeholder: t("signin.placeholder") });
  const error = h("p", { class: "form-error", role: "alert", hidden: !message }, message || "");
  const form = h(
    "form",
    { class: "signin-card", autocomplete: "on" },
    h("div", { class: "brand big" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), "sitewatch"),
    h("p", { class: "muted" }, t("signin.lead")),
    h("label", { for: "token" }, t("signin.token")),
    input,
    error,
    h("button", { type: "submit", class: "btn primary big" }, t("signin.submit")),
    h("div", { class: "signin-lang" }, langSwitch()),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    unlock(); // a user gesture: the alarm tone may play from now on
    const token = input.value.trim();
    if (!token) return;
    try {
      const me = await api("/api/v1/me", { token });
      session.token = token;
      session.me = me;
      start();
    } catch (err) {
      error.hidden = false;
      error.textContent = err.status === 401 ? t("signin.invalid") : t("signin.failed", { error: err.message });
    }
  });
  replace(app, h("main", { class: "signin" }, h("h1", { class: "visually-hidden" }, t("signin.title")), form));
  document.title = `${t("signin.title")} · sitewatch`;
  signInMessage = message;
  input.focus();
}

function signOut() {
  session.token = "";
  session.me = null;
  disconnectStream();
  store.alarms.clear();
  location.hash = "";
  showSignIn();
}

session.onUnauthorized = () => {
  if (session.token) {
    session.token = "";
    session.me = null;
    disconnectStream();
    showSignIn(t("signin.expired"));
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
    h("div", { class: "top-right" }, status, siteClock, muteBtn, langSwitch(), h("span", { class: "role", dataset: { role: me.role || "" } }, tv("role", me.role)), h("button", { type: "button", class: "btn small ghost", on: { click: signOut } }, t("shell.signout"))),
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

(async function boot() {
  if (!session.token) return showSignIn();
  try {
    session.me = await api("/api/v1/me");
    start();
  } catch (err) {
    showSignIn(err.status === 401 ? "" : t("signin.unreachable", { error: err.message }));
  }
})();
