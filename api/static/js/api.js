// The HTTP API as the page uses it: the token from sessionStorage, JSON in and out, errors
// as ApiError with the server's "detail".

import { t } from "./i18n.js";

const KEY = "sitewatch.token";

export class ApiError extends Error {
  constructor(status, detail, path) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
    this.path = path;
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

export const session = {
  get token() {
    return sessionStorage.getItem(KEY) || "";
  },
  set token(v) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
  me: null,
  onUnauthorized: () => {},
};

export async function api(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  const tok = token ?? session.token;
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
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
    const err = new ApiError(res.status, detail, path);
    if (res.status === 401 && token === undefined) session.onUnauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path) => api(path);
export const post = (path, body) => api(path, { method: "POST", body: body ?? {} });

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

/** what each role may do (the contract's section 4) */
export function can(action) {
  const role = session.me ? session.me.role : "";
  if (role === "admin") return true;
  const table = {
    ack: ["operator"],
    shelve: ["operator"],
    ticket_create: ["operator", "technician"],
    ticket_transition: ["operator", "technician"],
  };
  return (table[action] || []).includes(role);
}
