// The control room: the live alarm list, its actions and the alarm detail view.

import { ApiError, can, get, post, query } from "./api.js";
import { timeChart } from "./chart.js";
import { PRIORITIES, age, clear, clock, dateTime, dialog, h, label, parseTime, prioRank, replace, toast } from "./dom.js";
import { deviceName, store, subscribe, upsertAlarm, zoneName } from "./store.js";
import { openTicket } from "./tickets.js";

const STATE_TEXT = {
  active_unacked: "Unacknowledged",
  active_acked: "Acknowledged",
  cleared_unacked: "Cleared, unacked",
  closed: "Closed",
};
const STATE_ICON = { active_unacked: "●", active_acked: "◐", cleared_unacked: "○", closed: "·" };

const masked = (a) => a.shelved || a.suppressed || a.out_of_service;
const when = (a) => parseTime(a.activated_at) ?? parseTime(a.raised_at) ?? 0;

export function sortAlarms(list) {
  return list.sort((a, b) => prioRank(a.priority) - prioRank(b.priority) || when(b) - when(a) || String(b.id).localeCompare(String(a.id)));
}

function prioBadge(p) {
  return h("span", { class: ["prio", `p-${p}`] }, label(p));
}

function stateCell(a) {
  const flags = [];
  if (a.shelved) flags.push(h("span", { class: "flag shelved" }, "shelved"));
  if (a.suppressed) flags.push(h("span", { class: "flag" }, "suppressed"));
  if (a.out_of_service) flags.push(h("span", { class: "flag oos" }, "out of service"));
  if (a.chattering) flags.push(h("span", { class: "flag chatter" }, "chattering"));
  return h(
    "div",
    { class: ["state", `s-${a.state}`] },
    h("span", { class: "state-icon", "aria-hidden": "true" }, STATE_ICON[a.state] || "·"),
    h("span", { class: "state-text" }, STATE_TEXT[a.state] || label(a.state)),
    flags,
  );
}

function ticketChips(a) {
  const ids = Array.isArray(a.ticket_ids) ? a.ticket_ids : [];
  if (!ids.length) return h("span", { class: "muted" }, "—");
  return ids.map((id) =>
    h("button", { type: "button", class: "chip ticket-link", on: { click: (e) => { e.stopPropagation(); openTicket(id); } } }, `#${id}`),
  );
}

// ---- actions ----------------------------------------------------------------------------
export async function ackAlarm(a, note) {
  try {
    const res = await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/ack`, note ? { note } : {});
    upsertAlarm(res, { live: false });
    toast(`Alarm ${a.id} acknowledged`, "ok");
  } catch (err) {
    toast(`Cannot acknowledge: ${err.message}`, "error");
  }
}

export async function shelveAlarm(a) {
  const body = h(
    "div",
    { class: "form-grid" },
    h("p", { class: "dialog-lead" }, `${deviceName(a.device)}: ${a.message || a.rule}`),
    h("label", { for: "shelve-minutes" }, "Shelve for"),
    h(
      "select",
      { id: "shelve-minutes", name: "minutes" },
      [15, 30, 60, 120, 240, 480].map((m) => h("option", { value: m, selected: m === 60 }, m < 60 ? `${m} minutes` : `${m / 60} hour${m > 60 ? "s" : ""}`)),
    ),
    h("label", { for: "shelve-reason" }, "Reason"),
    h("textarea", { id: "shelve-reason", name: "reason", rows: 3, required: true, maxlength: 2000, placeholder: "Why may this alarm be kept off the list? (required)" }),
  );
  await dialog(`Shelve alarm ${a.id}`, body, {
    submit: "Shelve",
    onSubmit: async (fd) => {
      const reason = String(fd.get("reason") || "").trim();
      if (!reason) throw new Error("A reason is required to shelve an alarm.");
      const res = await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/shelve`, { minutes: Number(fd.get("minutes")), reason });
      upsertAlarm(res, { live: false });
      toast(`Alarm ${a.id} shelved`, "ok");
    },
  });
}

export async function unshelveAlarm(a) {
  try {
    upsertAlarm(await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/unshelve`), { live: false });
    toast(`Alarm ${a.id} back on the list`, "ok");
  } catch (err) {
    toast(`Cannot unshelve: ${err.message}`, "error");
  }
}

function actionButtons(a, { big = false } = {}) {
  const out = [];
  const stop = (fn) => (e) => {
    e.stopPropagation();
    fn();
  };
  const cls = big ? "btn" : "btn small";
  if (can("ack") && (a.state === "active_unacked" || a.state === "cleared_unacked")) {
    out.push(h("button", { type: "button", class: [cls, "primary"], dataset: { action: "ack" }, on: { click: stop(() => ackAlarm(a)) } }, "Acknowledge"));
  }
  if (can("shelve")) {
    if (a.shelved) {
      out.push(h("button", { type: "button", class: [cls, "ghost"], dataset: { action: "unshelve" }, on: { click: stop(() => unshelveAlarm(a)) } }, "Unshelve"));
    } else if (a.priority !== "critical") {
      out.push(h("button", { type: "button", class: [cls, "ghost"], dataset: { action: "shelve" }, on: { click: stop(() => shelveAlarm(a)) } }, "Shelve…"));
    } else if (big) {
      out.push(h("span", { class: "hint" }, "Critical alarms cannot be shelved."));
    }
  }
  return out;
}

// ---- the view -----------------------------------------------------------------------------
export function mount(root) {
  const ui = {
    filter: new Set(),
    search: "",
    tab: "active",
    selected: null,
  };
  const tiles = h("div", { class: "tiles" });
  const searchBox = h("input", {
    type: "search",
    class: "search",
    placeholder: "Filter by device, zone or message",
    "aria-label": "Filter alarms",
    on: { input: (e) => { ui.search = e.target.value.trim().toLowerCase(); render(); } },
  });
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "alarm-table", "aria-label": "Open alarms" },
    h("thead", null, h("tr", null, ["Priority", "State", "Raised", "Age", "Alarm", "Device", "Zone", "Value", "Ticket", ""].map((t) => h("th", { scope: "col" }, t)))),
    tbody,
  );
  const empty = h("div", { class: "empty", hidden: true });
  const detail = h("aside", { class: "detail", "aria-label": "Alarm detail" });
  const view = h(
    "section",
    { class: "control" },
    h("div", { class: "cr-main" }, tiles, h("div", { class: "toolbar" }, tabs, searchBox), h("div", { class: "table-wrap" }, table, empty)),
    detail,
  );
  root.appendChild(view);

  function counts() {
    const c = { critical: 0, high: 0, medium: 0, low: 0, unacked: 0, masked: 0 };
    for (const a of store.alarms.values()) {
      if (masked(a)) {
        c.masked++;
        continue;
      }
      if (a.state !== "cleared_unacked") c[a.priority] = (c[a.priority] || 0) + 1;
      if (a.state === "active_unacked" || a.state === "cleared_unacked") c.unacked++;
    }
    return c;
  }

  function renderTiles() {
    const c = counts();
    replace(
      tiles,
      PRIORITIES.map((p) =>
        h(
          "button",
          {
            type: "button",
            class: ["tile", `t-${p}`, ui.filter.has(p) && "on", c[p] > 0 && "lit"],
            "aria-pressed": ui.filter.has(p) ? "true" : "false",
            on: { click: () => { ui.filter.has(p) ? ui.filter.delete(p) : ui.filter.add(p); render(); } },
          },
          h("span", { class: "tile-n" }, String(c[p])),
          h("span", { class: "tile-l" }, label(p)),
        ),
      ),
      h("div", { class: ["tile", "t-unacked", c.unacked > 0 && "lit"] }, h("span", { class: "tile-n" }, String(c.unacked)), h("span", { class: "tile-l" }, "unacknowledged")),
      h("div", { class: "tile t-masked" }, h("span", { class: "tile-n" }, String(c.masked)), h("span", { class: "tile-l" }, "shelved / out of service")),
    );
    replace(
      tabs,
      [["active", `Alarm list`], ["masked", `Shelved & out of service (${c.masked})`]].map(([id, text]) =>
        h("button", { type: "button", role: "tab", class: ["tab", ui.tab === id && "on"], "aria-selected": ui.tab === id ? "true" : "false", on: { click: () => { ui.tab = id; render(); } } }, text),
      ),
    );
  }

  function visible() {
    const out = [];
    for (const a of store.alarms.values()) {
      if ((ui.tab === "masked") !== masked(a)) continue;
      if (ui.filter.size && !ui.filter.has(a.priority)) continue;
      if (ui.search) {
        const hay = [a.device, deviceName(a.device), a.zone, zoneName(a.zone), a.message, a.rule, a.point].join(" ").toLowerCase();
        if (!hay.includes(ui.search)) continue;
      }
      out.push(a);
    }
    return sortAlarms(out);
  }

  function row(a) {
    const tr = h(
      "tr",
      {
        class: ["alarm-row", `p-${a.priority}`, `s-${a.state}`, masked(a) && "masked", ui.selected === String(a.id) && "selected"],
        dataset: { alarmId: String(a.id), state: a.state, priority: a.priority },
        tabindex: 0,
        on: {
          click: () => select(String(a.id)),
          keydown: (e) => { if (e.key === "Enter") select(String(a.id)); },
        },
      },
      h("td", null, prioBadge(a.priority)),
      h("td", null, stateCell(a)),
      h("td", { class: "mono" }, clock(a.activated_at || a.raised_at)),
      h("td", { class: "mono age", dataset: { since: a.activated_at || a.raised_at || "" } }, age(a.activated_at || a.raised_at)),
      h("td", { class: "msg" }, h("div", { class: "msg-text" }, a.message || label(a.rule)), h("div", { class: "sub" }, a.rule, a.point ? ` · point ${a.point}` : "")),
      h("td", { class: "device" }, h("div", null, deviceName(a.device)), h("div", { class: "sub mono" }, a.device)),
      h("td", null, zoneName(a.zone)),
      h("td", { class: "mono" }, a.value === null || a.value === undefined ? "—" : String(a.value)),
      h("td", null, ticketChips(a)),
      h("td", { class: "actions" }, actionButtons(a)),
    );
    return tr;
  }

  let rowCache = new Map();

  function render() {
    renderTiles();
    const list = visible();
    // keyed rows: a row is rebuilt only when its alarm changed, so a click is never lost
    const keep = new Map();
    const els = list.map((a) => {
      const id = String(a.id);
      const sig = `${a.updated_at}|${a.state}|${a.shelved}|${(a.ticket_ids || []).join(",")}|${ui.selected === id}|${store.site ? 1 : 0}`;
      const cached = rowCache.get(id);
      const el = cached && cached.sig === sig ? cached.el : row(a);
      keep.set(id, { sig, el });
      return el;
    });
    rowCache = keep;
    tbody.replaceChildren(...els);
    empty.hidden = list.length > 0;
    if (!list.length) {
      replace(
        empty,
        store.stream === "unavailable"
          ? `The alarm stream is not available: ${store.streamError || "the alarm service is not running"}.`
          : ui.tab === "masked"
            ? "No alarm is shelved, suppressed or out of service."
            : store.alarms.size || ui.filter.size || ui.search
              ? "No alarm matches the filter."
              : "No open alarms. All systems normal.",
      );
    }
    renderDetail();
  }

  // ---- detail ---------------------------------------------------------------------------
  let detailFor = null; // `${id}:${updated_at}` last fetched
  let detailData = null;
  let chartFor = null;
  const chartBox = h("div", { class: "chart-box" });

  function select(id) {
    ui.selected = ui.selected === id ? null : id;
    chartFor = null;
    render();
  }

  async function fetchDetail(a) {
    const tag = `${a.id}:${a.updated_at}`;
    if (detailFor === tag) return;
    detailFor = tag;
    try {
      detailData = await get(`/api/v1/alarms/${encodeURIComponent(a.id)}`);
    } catch (err) {
      detailData = { error: err };
    }
    if (ui.selected === String(a.id)) renderDetail();
  }

  async function fetchChart(a) {
    const key = String(a.id);
    if (chartFor === key) return;
    chartFor = key;
    replace(chartBox, h("p", { class: "muted" }, "Loading telemetry…"));
    const t = parseTime(a.source_ts) ?? parseTime(a.raised_at) ?? Date.now();
    const cleared = parseTime(a.cleared_at);
    const start = t - 15 * 60_000;
    const end = Math.max(cleared ?? 0, t + 5 * 60_000);
    const q = query({ start: new Date(start).toISOString(), end: new Date(Math.min(end, Date.now() + 60_000)).toISOString() });
    try {
      const data = await get(`/api/v1/telemetry/${encodeURIComponent(a.device)}${q}`);
      drawChart(a, data && Array.isArray(data.items) ? data.items : [], start, end, t, cleared);
    } catch (err) {
      replace(chartBox, h("p", { class: "muted" }, err instanceof ApiError && err.status === 501 ? "This gateway's time-series store cannot be queried." : `Telemetry unavailable: ${err.message}`));
    }
  }

  function drawChart(a, rows, start, end, t, cleared) {
    const by = new Map();
    for (const r of rows) {
      const v = typeof r.value === "boolean" ? (r.value ? 1 : 0) : r.value;
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      const ts = parseTime(r.ts);
      if (ts === null) continue;
      if (!by.has(r.field)) by.set(r.field, { name: r.field, points: [], step: typeof r.value === "boolean" });
      by.get(r.field).points.push([ts, v]);
    }
    clear(chartBox);
    if (!by.size) {
      chartBox.appendChild(h("p", { class: "muted" }, `No readings stored for ${a.device} between ${clock(start)} and ${clock(end)}.`));
      return;
    }
    // the field the rule reads first, then those that moved; at most four panels
    const named = (sr) => (String(a.rule).includes(sr.name) || String(a.message).includes(sr.name) ? 1 : 0);
    const series = [...by.values()]
      .map((sr) => {
        sr.points.sort((p, q) => p[0] - q[0]);
        const vals = sr.points.map((p) => p[1]);
        sr.spread = Math.max(...vals) - Math.min(...vals);
        return sr;
      })
      .sort((x, y) => named(y) - named(x) || (y.spread > 0) - (x.spread > 0) || x.name.localeCompare(y.name))
      .slice(0, 4);
    const markers = [{ t, label: "alarm", cls: `m-${a.priority}` }];
    if (cleared) markers.push({ t: cleared, label: "cleared", cls: "m-cleared" });
    else if (Date.now() < end) markers.push({ t: Date.now(), label: "now", cls: "m-now" });
    for (const sr of series) chartBox.appendChild(timeChart({ series: sr, markers, start, end, title: sr.name, width: 560, height: 130 }));
  }

  function renderDetail() {
    const a = ui.selected ? store.alarms.get(ui.selected) : null;
    if (!a) {
      ui.selected = null;
      detail.classList.remove("open");
      replace(detail, h("div", { class: "detail-empty" }, h("p", null, "Select an alarm to see what to do, its history and the device's readings around it.")));
      return;
    }
    detail.classList.add("open");
    fetchDetail(a);
    fetchChart(a);
    const full = detailData && String(detailData.id) === String(a.id) ? detailData : null;
    const facts = [
      ["Device", `${deviceName(a.device)} (${a.device})`],
      ["Zone", zoneName(a.zone)],
      ["System", label(a.system)],
      ["Point", a.point || "—"],
      ["Rule", a.rule],
      ["Value", a.value === null || a.value === undefined ? "—" : String(a.value)],
      ["Raised", dateTime(a.raised_at)],
      ["Reading time", dateTime(a.source_ts)],
      ["Acknowledged", a.acked_at ? `${dateTime(a.acked_at)} by ${a.acked_by || "?"}` : "no"],
      ["Cleared", a.cleared_at ? dateTime(a.cleared_at) : "no"],
    ];
    if (a.shelved) facts.push(["Shelved", `until ${dateTime(a.shelved_until)} by ${a.shelved_by || "?"}: ${a.shelve_reason || ""}`]);
    if (a.suppressed && a.suppressed_reason) facts.push(["Suppressed", a.suppressed_reason]);
    if (a.count > 1) facts.push(["Occurrences", String(a.count)]);
    const journal = full && Array.isArray(full.journal) ? full.journal : null;
    replace(
      detail,
      h(
        "div",
        { class: ["detail-head", `p-${a.priority}`] },
        h("div", { class: "detail-top" }, prioBadge(a.priority), stateCell(a), h("button", { type: "button", class: "btn small ghost close", "aria-label": "Close detail", on: { click: () => select(String(a.id)) } }, "✕")),
        h("h2", { class: "detail-title" }, a.message || label(a.rule)),
        h("div", { class: "detail-actions" }, actionButtons(a, { big: true })),
      ),
      a.action ? h("div", { class: "todo" }, h("h3", null, "What to do"), h("p", null, a.action)) : null,
      a.cause || a.consequence
        ? h("div", { class: "why" }, a.cause ? h("p", null, h("strong", null, "Likely cause: "), a.cause) : null, a.consequence ? h("p", null, h("strong", null, "If ignored: "), a.consequence) : null)
        : null,
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
      h("div", { class: "tickets-line" }, h("span", { class: "k" }, "Tickets "), ticketChips(a)),
      h("h3", null, "Readings around the alarm"),
      chartBox,
      h("h3", null, "Journal"),
      full && full.error
        ? h("p", { class: "muted" }, `Journal unavailable: ${full.error.message}`)
        : !journal
          ? h("p", { class: "muted" }, "Loading…")
          : journal.length
            ? h(
                "ol",
                { class: "journal" },
                journal
                  .slice()
                  .reverse()
                  .map((j) =>
                    h(
                      "li",
                      null,
                      h("span", { class: "j-time mono" }, dateTime(j.at)),
                      h("span", { class: "j-action" }, label(j.action)),
                      j.user ? h("span", { class: "j-user" }, j.user) : null,
                      j.reason ? h("div", { class: "j-reason" }, j.reason) : null,
                    ),
                  ),
              )
            : h("p", { class: "muted" }, "Nothing journaled yet."),
    );
  }

  const tick = setInterval(() => {
    const now = Date.now();
    for (const td of tbody.querySelectorAll("td.age")) td.textContent = age(td.dataset.since, now);
  }, 1000);
  const unsub = subscribe(render);
  render();
  return () => {
    clearInterval(tick);
    unsub();
  };
}
