// Shared state of the page: the open alarms (kept live over the SSE stream), the site's
// layout and the devices' last state.

import { api, get, items, session, query } from "./api.js";
import { parseTime, setTimeZone } from "./dom.js";
import { alarmTone } from "./sound.js";

export const FLOOD_WINDOW_MS = 10 * 60 * 1000;
export const FLOOD_ABOVE = 10;

const listeners = new Set();
let notifyQueued = false;

export const store = {
  alarms: new Map(), // id -> alarm (open alarms only; members of a group are left out)
  groups: new Map(), // id -> group of the server (EEMUA 191: one rule, zone and priority, many alarms)
  counts: null, // the server's open and unacknowledged alarms per priority (snapshot summary)
  more: null, // per priority: open alarms the bounded snapshot left out (paged from /api/v1/alarms)
  members: new Map(), // id -> alarm: members of the groups an operator opened (kept live)
  activations: new Map(), // `${id}@${activated_at}` -> ms: activations seen, for the flood banner
  stream: "connecting", // connecting | live | reconnecting | unavailable
  streamError: "",
  lastEventAt: 0,
  site: null,
  devices: new Map(), // id -> device from /api/v1/devices
  deviceError: null,
};

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function notify() {
  if (notifyQueued) return;
  notifyQueued = true;
  queueMicrotask(() => {
    notifyQueued = false;
    for (const fn of listeners) {
      try {
        fn(store);
      } catch (err) {
        console.error(err);
      }
    }
  });
}

// ---- alarms -----------------------------------------------------------------------------
function recordActivation(a) {
  const t = parseTime(a.activated_at) ?? parseTime(a.raised_at);
  if (t === null) return;
  store.activations.set(`${a.id}@${t}`, t);
}

export function floodCount(now = Date.now()) {
  let n = 0;
  for (const [k, t] of store.activations) {
    if (now - t > FLOOD_WINDOW_MS) store.activations.delete(k);
    else if (t <= now + 60_000) n++;
  }
  return n;
}

const isActive = (a) => a.state === "active_unacked" || a.state === "active_acked";

// ---- groups (gateway.alarms.groups): fire and critical alarms are never grouped away -------
const groupable = (a) => a.zone != null && a.priority !== "critical" && a.system !== "fire" && !String(a.rule || "").startsWith("fire.");
const groupKey = (x) => `${x.rule}|${x.zone}|${x.priority}`;
let groupKeys = new Set();

/** whether alarm `a` is shown inside one of the server's groups (not by itself) */
export function inGroup(a) {
  return groupable(a) && groupKeys.has(groupKey(a));
}

function takeGroups(list) {
  const before = new Set(store.groups.keys());
  store.groups = new Map((list || []).map((g) => [String(g.id), g]));
  groupKeys = new Set([...store.groups.values()].map(groupKey));
  for (const [id, a] of store.alarms) if (inGroup(a)) store.alarms.delete(id);
  // a group that broke up: its members come back one by one
  if ([...before].some((id) => !store.groups.has(id))) reconcile();
  notify();
}

/** apply one alarm object from the stream or from an action's answer */
export function upsertAlarm(a, { live = true } = {}) {
  if (!a || a.id === undefined || a.id === null) return;
  const key = String(a.id);
  if (inGroup(a)) {
    // a member of a group: the group's row stands for it (its count comes with `groups`)
    let changed = store.alarms.delete(key);
    if (store.members.has(key)) {
      if (a.state === "closed") store.members.delete(key);
      else store.members.set(key, a);
      changed = true;
    }
    if (changed) notify();
    return;
  }
  const before = store.alarms.get(key);
  if (before && before.updated_at && a.updated_at && Date.parse(a.updated_at) < Date.parse(before.updated_at)) {
    return; // an older copy (an action's answer overtaken by the stream)
  }
  if (a.state === "closed") store.alarms.delete(key);
  else store.alarms.set(key, a);
  recordActivation(a);
  if (live && a.priority === "critical" && a.state === "active_unacked" && !a.shelved) {
    const fresh =
      !before ||
      before.state !== "active_unacked" ||
      before.activated_at !== a.activated_at ||
      (a.escalations || 0) > (before.escalations || 0);
    if (fresh) alarmTone();
  }
  notify();
}

let source = null;
let retryTimer = null;
let retryDelay = 1000;

export function connectStream() {
  disconnectStream();
  const url = `/api/v1/alarms/stream${query({ access_token: session.token, groups: "true" })}`;
  const es = new EventSource(url);
  source = es;
  store.stream = store.stream === "live" ? "reconnecting" : store.stream;
  notify();
  es.addEventListener("open", () => {
    if (source !== es) return;
    store.stream = "live";
    store.streamError = "";
    retryDelay = 1000;
    notify();
    reconcile();
  });
  es.addEventListener("alarm", (ev) => {
    if (source !== es) return;
    store.lastEventAt = Date.now();
    let a;
    try {
      a = JSON.parse(ev.data);
    } catch {
      return;
    }
    upsertAlarm(a);
  });
  // the end of a (bounded) snapshot: counts per priority, the groups, what was left out
  es.addEventListener("snapshot", (ev) => {
    if (source !== es) return;
    let s;
    try {
      s = JSON.parse(ev.data);
    } catch {
      return;
    }
    store.counts = s.counts || null;
    store.more = s.more || null;
    takeGroups(s.groups);
  });
  es.addEventListener("groups", (ev) => {
    if (source !== es) return;
    try {
      takeGroups(JSON.parse(ev.data).groups);
    } catch {
      /* a broken event changes nothing */
    }
  });
  es.addEventListener("error", () => {
    if (source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // the browser gave up (an HTTP error): find out why, then retry with a backoff
      es.close();
      source = null;
      diagnose().finally(() => {
        retryTimer = setTimeout(connectStream, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30_000);
      });
    } else {
      store.stream = "reconnecting"; // the browser retries by itself, with Last-Event-ID
    }
    notify();
  });
}

export function disconnectStream() {
  if (retryTimer) clearTimeout(retryTimer);
  retryTimer = null;
  if (source) source.close();
  source = null;
}

async function diagnose() {
  try {
    await api("/api/v1/alarms?limit=1");
    store.stream = "reconnecting";
    store.streamError = "";
  } catch (err) {
    store.stream = err.unavailable ? "unavailable" : "reconnecting";
    store.streamError = err.message;
  }
  notify();
}

/** after (re)connecting: drop alarms that closed while we were away */
async function reconcile() {
  const asked = Date.now();
  try {
    const open = items(await get("/api/v1/alarms?state=open&limit=1000"));
    const ids = new Set(open.map((a) => String(a.id)));
    for (const a of open) if (!store.alarms.has(String(a.id)) && !inGroup(a)) upsertAlarm(a, { live: false });
    for (const [id, a] of store.alarms) {
      const changed = parseTime(a.updated_at) ?? 0;
      if (!ids.has(id) && changed < asked - 2000) store.alarms.delete(id);
    }
    notify();
  } catch {
    /* the stream still has everything it sent */
  }
}

// ---- site and devices -------------------------------------------------------------------
export async function loadSite() {
  store.site = await get("/api/v1/site");
  setTimeZone(store.site.timezone); // times read in the site's own zone
  notify();
  return store.site;
}

export function deviceInfo(id) {
  const d = store.devices.get(id);
  if (d) return d;
  if (store.site) {
    for (const z of store.site.zones) for (const x of z.devices) if (x.id === id) return { ...x, zone: z.id };
  }
  return null;
}

export function deviceName(id) {
  const d = deviceInfo(id);
  return d && d.name ? d.name : id;
}

export function zoneName(id) {
  if (!id) return "—";
  if (store.site) for (const z of store.site.zones) if (z.id === id) return z.name;
  return id;
}

export async function refreshDevices() {
  try {
    const list = items(await get("/api/v1/devices"));
    store.devices = new Map(list.map((d) => [d.id, d]));
    store.deviceError = null;
  } catch (err) {
    store.deviceError = err;
  }
  notify();
}

export const alarmIsActive = isActive;

export const memberOf = (g) => (a) => groupKey(a) === groupKey(g);

/** load one page of a group's members (newest first) into `store.members`; the next
 * page's cursor, or null */
export async function groupMembers(g, before = null) {
  const page = await get(
    `/api/v1/alarms${query({ state: "open", rule: g.rule, zone: g.zone, priority: g.priority, limit: 50, before: before ?? undefined })}`,
  );
  for (const a of items(page)) store.members.set(String(a.id), a);
  notify();
  return page.next ?? null;
}

/** forget the members of group `g` (its row was closed) */
export function dropMembers(g) {
  const of = memberOf(g);
  for (const [id, a] of store.members) if (of(a)) store.members.delete(id);
  notify();
}
