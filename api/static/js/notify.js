// Browser notifications on the phone page while it is open: the signed-in person's feed
// (GET /api/v1/me/notifications, filled by the gateway's notifier when their profile has
// "browser" on) shown with the browser's own Notification API.
//
// Lifecycle: the page calls enableNotifications() from a click (browsers grant the
// permission only on a user gesture), then startNotifications() once signed in: it
// remembers the newest item at start (nothing old pops up), polls every POLL_MS while the
// page is open and shows each new item once (tag = its id); stopNotifications() on sign
// out. Titles and bodies are the gateway's texts (both languages), set as text.

import { get } from "./api.js";

const POLL_MS = 30_000;
let timer = null;
let after = 0;

export function notificationsSupported() {
  return typeof window !== "undefined" && typeof window.Notification === "function";
}

export async function enableNotifications() {
  if (!notificationsSupported()) return "unsupported";
  if (Notification.permission === "default") return Notification.requestPermission();
  return Notification.permission;
}

async function poll(show) {
  const page = await get(`/api/v1/me/notifications?after=${after}&limit=50`);
  for (const item of page.items || []) {
    after = Math.max(after, item.id);
    if (show && notificationsSupported() && Notification.permission === "granted") {
      new Notification(item.title, { body: item.body, tag: `sitewatch-${item.id}` });
    }
  }
  return page.items || [];
}

export async function startNotifications() {
  stopNotifications();
  try {
    while ((await poll(false)).length === 50) {
      /* skip what came before this page was opened */
    }
  } catch {
    /* the feed is not available: try again at the next poll */
  }
  timer = setInterval(() => poll(true).catch(() => {}), POLL_MS);
}

export function stopNotifications() {
  if (timer !== null) clearInterval(timer);
  timer = null;
}
