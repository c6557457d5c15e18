// The page's languages: one catalogue per language (i18n/en.js, i18n/zh-CN.js), the
// language chosen from the browser (navigator.languages) unless the user picked one with
// the switch (remembered in localStorage), and every date, time and number formatted with
// Intl for that language in the site's own time zone.
//
// Lifecycle: the module picks the language on load and sets <html lang>; setLang() stores
// a new choice and tells the listeners (the shell re-renders the page in place).

import en from "./i18n/en.js";
import zh from "./i18n/zh-CN.js";

const KEY = "sitewatch.lang";
export const CATALOGUES = { en, "zh-CN": zh };
export const LANGS = Object.keys(CATALOGUES);
const INTL = { en: "en-GB", "zh-CN": "zh-CN" };
export const FALLBACK_ZONE = "Asia/Shanghai"; // until the site file says otherwise

const listeners = new Set();
let lang = pick();
let siteZone = FALLBACK_ZONE;
const plural = new Map();

function stored() {
  try {
    return localStorage.getItem(KEY) || "";
  } catch {
    return "";
  }
}

/** the remembered choice, else the first of the browser's languages we have */
function pick() {
  const want = [stored(), ...(navigator.languages || []), navigator.language || ""];
  for (const w of want) {
    const l = String(w).toLowerCase();
    if (!l) continue;
    if (l.startsWith("zh")) return "zh-CN";
    if (l.startsWith("en")) return "en";
  }
  return "en";
}

function apply() {
  document.documentElement.lang = lang;
}
apply();

export function getLang() {
  return lang;
}

export function setLang(l) {
  if (!CATALOGUES[l] || l === lang) return;
  lang = l;
  try {
    localStorage.setItem(KEY, l);
  } catch {
    /* private mode: the choice lasts this page only */
  }
  apply();
  for (const fn of listeners) fn(l);
}

export function onLang(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function rules() {
  if (!plural.has(lang)) plural.set(lang, new Intl.PluralRules(INTL[lang]));
  return plural.get(lang);
}

/** t(key, {name: value}): the text in the current language; {n} picks a plural form */
export function t(key, params) {
  let v = CATALOGUES[lang][key];
  if (v === undefined) v = CATALOGUES.en[key];
  if (v === undefined) return key;
  if (typeof v === "object") {
    const n = params && typeof params.n === "number" ? params.n : 0;
    v = v[rules().select(n)] ?? v.other;
  }
  if (!params) return v;
  return v.replace(/\{(\w+)\}/g, (m, name) => {
    const p = params[name];
    if (p === undefined || p === null) return m;
    return typeof p === "number" ? number(p) : String(p);
  });
}

/** t() for a value of a known set (a priority, a status…), its own text when unknown */
export function tv(group, value) {
  if (value === null || value === undefined || value === "") return "—";
  const key = `${group}.${value}`;
  const text = t(key);
  return text === key ? String(value).replace(/_/g, " ") : text;
}

/** a rule text of an alarm in this language: `message_zh` beside `message`, etc. */
export function local(obj, field) {
  if (!obj) return "";
  const zhText = obj[`${field}_zh`];
  if (lang === "zh-CN" && zhText) return zhText;
  return obj[field] || zhText || "";
}

// ---- numbers, dates, times ------------------------------------------------------------
export function setTimeZone(tz) {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: tz });
    siteZone = tz;
  } catch {
    siteZone = FALLBACK_ZONE;
  }
}

export function timeZone() {
  return siteZone;
}

export function number(v, opts) {
  return new Intl.NumberFormat(INTL[lang], { maximumFractionDigits: 2, ...opts }).format(v);
}

export function dateFmt(ms, opts) {
  return new Intl.DateTimeFormat(INTL[lang], { timeZone: siteZone, hourCycle: "h23", ...opts }).format(new Date(ms));
}
