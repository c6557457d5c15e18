// The HTTP API as the page uses it: JSON in and out, errors as ApiError with the server's
// "detail". Two ways to be signed in:
//
// - a person's session (the usual one): POST /api/v1/auth/login sets an HttpOnly session
//   cookie the page never sees and a readable cookie sitewatch_csrf; every later call
//   carries the cookie by itself and a state-changing one also X-CSRF-Token (the login's
//   csrf_token, or after a reload the cookie's value). Sign-out: POST /api/v1/auth/logout.
// - an access token (scripted set-ups, the demo's role tokens, API keys): kept in
//   sessionStorage and sent as Authorization: Bearer; no CSRF header is needed.
//
// A 401 on any call but the sign-in itself calls session.onUnauthorized (the form comes back).

import { t } from "./i18n.js";

const KEY = "sitewatch.token";
const CSRF_COOKIE = "sitewatch_csrf";
const SAFE = ["GET", "HEAD", "OPTIONS"];

export class ApiError extends Error {
  constructor(status, detail, path, retryAfter = null) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
    this.path = path;
    this.retryAfter = retryAfter; // seconds to wait (a 429's Retry-After), else null
  }
  /** the route is not there (yet) or its service is not running */
  get unavailable() {
    return this.status === 404 || this.status === 501 || this.status === 503 || this.status === 0;
  }
}

function describe(status, detail) {
  let text = "";
  if (typeof detail === "string") text = detail;
  else if (Array.isArray(detail))
    text = detail.map((d) => (d && d.msg ? `${(d.loc || []).slice(1).join(".")}: ${d.msg}` : JSON.stringify(d))).join("; ");
  else if (detail && typeof detail === "object")
    text = detail.message || detail.error || JSON.stringify(detail);
  if (status === 0) return text || t("api.unreachable");
  return text ? `${text} (HTTP ${status})` : `HTTP ${status}`;
}

/** the value of a readable cookie of this page, or "" */
function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) {
      try {
        return decodeURIComponent(v.join("="));
      } catch {
        return v.join("=");
      }
    }
  }
  return "";
}

let csrfToken = "";

export const session = {
  /** the access token of a token sign-in ("" for a person's session) */
  get token() {
    return sessionStorage.getItem(KEY) || "";
  },
  set token(v) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
  /** the CSRF token of a person's session: the login's answer, else the cookie's */
  get csrf() {
    return cookie(CSRF_COOKIE) || csrfToken;
  },
  set csrf(v) {
    csrfToken = v || "";
  },
  /** whether a session cookie may be there (its readable twin is) */
  get maybeSignedIn() {
    return !!cookie(CSRF_COOKIE);
  },
  me: null, // GET /api/v1/me: {user, name, roles, crew, role, via}
  onUnauthorized: () => {},
  /** forget who is signed in: the token, the CSRF token and its cookie (a stale one would
   * make the next reload ask the gateway for nothing) */
  clear() {
    this.token = "";
    csrfToken = "";
    this.me = null;
    if (cookie(CSRF_COOKIE)) document.cookie = `${CSRF_COOKIE}=; max-age=0; path=/; samesite=strict`;
  },
};

/** the signed-in caller is a person (a session, a key or single sign-on), not a shared
 * role token that names a role only */
export function isPerson() {
  return !!session.me && session.me.via !== "token";
}

/** the signed-in person holds `role` (among all their roles, not only the view's) */
export function hasRole(role) {
  const me = session.me;
  return !!me && (me.role === role || (Array.isArray(me.roles) && me.roles.includes(role)));
}

/**
 * One call. Options: method, body (JSON), token (sign in with this one; a 401 then does
 * not bring the form back), signin (the sign-in call itself: no credentials of its own,
 * a 401 is its answer).
 */
export async function api(path, { method = "GET", body, token, signin = false } = {}) {
  const headers = { Accept: "application/json" };
  const tok = signin ? "" : (token ?? session.token);
  if (tok) headers.Authorization = `Bearer ${tok}`;
  else if (!SAFE.includes(method) && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, String(err && err.message ? err.message : err), path);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    const wait = Number.parseInt(res.headers.get("retry-after") || "", 10);
    const err = new ApiError(res.status, detail, path, Number.isFinite(wait) ? wait : null);
    if (res.status === 401 && token === undefined && !signin) session.onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path) => api(path);
export const post = (path, body) => api(path, { method: "POST", body: body ?? {} });

/** sign a person in: the session cookie is set by the answer; keeps its CSRF token */
export async function signIn(user, password) {
  const res = await api("/api/v1/auth/login", { method: "POST", body: { user, password }, signin: true });
  session.token = "";
  session.csrf = res && res.csrf_token;
  return res;
}

/** end a person's session (a token sign-in has none: it is only forgotten) */
export async function signOut() {
  const person = !session.token;
  try {
    if (person) await api("/api/v1/auth/logout", { method: "POST", body: {}, signin: true });
  } finally {
    session.clear();
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

export function items(data) {
  if (Array.isArray(data)) return data;
  return data && Array.isArray(data.items) ? data.items : [];
}

/** what each role may do (the contract's sections 4 and 6; the server has the last word) */
export function can(action) {
  const role = session.me ? session.me.role : "";
  if (role === "admin") return true;
  if (action === "reassign") {
    // operators anyone; a crew's lead within the crew; a shared technician token names
    // no person or crew and keeps its role's rights
    return role === "operator" || hasRole("lead") || (role === "technician" && !isPerson());
  }
  const table = {
    ack: ["operator"],
    shelve: ["operator"],
    ticket_create: ["operator", "technician"],
    ticket_transition: ["operator", "technician"],
  };
  return (table[action] || []).includes(role);
}
