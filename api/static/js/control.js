// The control room: the live alarm list, its actions and the alarm detail view.

import { ApiError, can, get, post, query } from "./api.js";
import { timeChart } from "./chart.js";
import { PRIORITIES, age, clear, clock, dateTime, dialog, h, label, num, parseTime, prioBadge, prioRank, replace, toast } from "./dom.js";
import { local, t, tv } from "./i18n.js";
import { deviceName, dropMembers, groupMembers, memberOf, store, subscribe, upsertAlarm, zoneName } from "./store.js";
import { journalWho, openTicket } from "./tickets.js";

const STATE_ICON = { active_unacked: "●", active_acked: "◐", cleared_unacked: "○", closed: "·" };

/** where the keyboard goes back to after a dialog: the alarm's row, else the list's first */
const rowOf = (a) => () =>
  document.querySelector(`tr.alarm-row[data-alarm-id="${CSS.escape(String(a.id))}"]`) || document.querySelector("tr.alarm-row");
const ackable = (a) => a.state === "active_unacked" || a.state === "cleared_unacked";
const masked = (a) => a.shelved || a.suppressed || a.out_of_service;
const when = (a) => parseTime(a.activated_at) ?? parseTime(a.raised_at) ?? 0;

export function sortAlarms(list) {
  return list.sort((a, b) => prioRank(a.priority) - prioRank(b.priority) || when(b) - when(a) || String(b.id).localeCompare(String(a.id)));
}


const msgOf = (a) => local(a, "message") || label(a.rule);
const valueText = (a) => (a.value === null || a.value === undefined ? "—" : typeof a.value === "number" ? num(a.value, 2) : String(a.value));

function stateCell(a) {
  const flags = [];
  if (a.shelved) flags.push(h("span", { class: "flag shelved" }, t("flag.shelved")));
  if (a.suppressed) flags.push(h("span", { class: "flag" }, t("flag.suppressed")));
  if (a.out_of_service) flags.push(h("span", { class: "flag oos" }, t("flag.oos")));
  if (a.chattering) flags.push(h("span", { class: "flag chatter" }, t("flag.chattering")));
  return h(
    "div",
    { class: ["state", `s-${a.state}`] },
    h("span", { class: "state-icon", "aria-hidden": "true" }, STATE_ICON[a.state] || "·"),
    h("span", { class: "state-text" }, tv("state", a.state)),
    flags,
  );
}

function ticketChips(a) {
  const ids = Array.isArray(a.ticket_ids) ? a.ticket_ids : [];
  if (!ids.length) return h("span", { class: "muted" }, "—");
  return ids.map((id) =>
    h("button", { type: "button", class: "chip ticket-link", "aria-label": t("ticket.title", { id }), on: { click: (e) => { e.stopPropagation(); openTicket(id); } } }, `#${id}`),
  );
}

// ---- actions ----------------------------------------------------------------------------
export async function ackAlarm(a, note) {
  try {
    const res = await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/ack`, note ? { note } : {});
    upsertAlarm(res, { live: false });
    toast(t("ack.done", { id: a.id }), "ok");
  } catch (err) {
    toast(t("ack.failed", { error: err.message }), "error");
  }
}

/** acknowledge with a note (the keyboard's `A`): the note goes into the alarm's journal */
export async function ackDialog(a) {
  const body = h(
    "div",
    { class: "form-grid" },
    h("p", { class: "dialog-lead" }, `${deviceName(a.device)}: ${msgOf(a)}`),
    h("label", { for: "ack-note" }, t("ack.note")),
    h("input", { id: "ack-note", name: "note", type: "text", maxlength: 2000, autocomplete: "off", placeholder: t("form.optional") }),
  );
  await dialog(t("ack.title", { id: a.id }), body, {
    submit: t("action.ack"),
    returnFocus: rowOf(a),
    onSubmit: async (fd) => {
      const note = String(fd.get("note") || "").trim();
      const res = await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/ack`, note ? { note } : {});
      upsertAlarm(res, { live: false });
      toast(t("ack.done", { id: a.id }), "ok");
    },
  });
}

export async function shelveAlarm(a) {
  const body = h(
    "div",
    { class: "form-grid" },
    h("p", { class: "dialog-lead" }, `${deviceName(a.device)}: ${msgOf(a)}`),
    h("label", { for: "shelve-minutes" }, t("shelve.for")),
    h(
      "select",
      { id: "shelve-minutes", name: "minutes" },
      [15, 30, 60, 120, 240, 480].map((m) => h("option", { value: m, selected: m === 60 }, m < 60 ? t("shelve.minutes", { n: m }) : t("shelve.hours", { n: m / 60 }))),
    ),
    h("label", { for: "shelve-reason" }, t("shelve.reason")),
    h("textarea", { id: "shelve-reason", name: "reason", rows: 3, required: true, maxlength: 2000, placeholder: t("shelve.reason_hint") }),
  );
  await dialog(t("shelve.title", { id: a.id }), body, {
    submit: t("shelve.submit"),
    returnFocus: rowOf(a),
    onSubmit: async (fd) => {
      const reason = String(fd.get("reason") || "").trim();
      if (!reason) throw new Error(t("shelve.reason_required"));
      const res = await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/shelve`, { minutes: Number(fd.get("minutes")), reason });
      upsertAlarm(res, { live: false });
      toast(t("shelve.done", { id: a.id }), "ok");
    },
  });
}

export async function unshelveAlarm(a) {
  try {
    upsertAlarm(await post(`/api/v1/alarms/${encodeURIComponent(a.id)}/unshelve`), { live: false });
    toast(t("unshelve.done", { id: a.id }), "ok");
  } catch (err) {
    toast(t("unshelve.failed", { error: err.message }), "error");
  }
}

function actionButtons(a, { big = false } = {}) {
  const out = [];
  const stop = (fn) => (e) => {
    e.stopPropagation();
    fn();
  };
  const cls = big ? "btn" : "btn small";
  if (can("ack") && ackable(a)) {
    out.push(h("button", { type: "button", class: [cls, "primary"], dataset: { action: "ack" }, "aria-keyshortcuts": big ? "A" : undefined, on: { click: stop(() => ackAlarm(a)) } }, t("action.ack")));
  }
  if (can("shelve")) {
    if (a.shelved) {
      out.push(h("button", { type: "button", class: [cls, "ghost"], dataset: { action: "unshelve" }, on: { click: stop(() => unshelveAlarm(a)) } }, t("action.unshelve")));
    } else if (a.priority !== "critical") {
      out.push(h("button", { type: "button", class: [cls, "ghost"], dataset: { action: "shelve" }, "aria-keyshortcuts": big ? "S" : undefined, on: { click: stop(() => shelveAlarm(a)) } }, t("action.shelve")));
    } else if (big) {
      out.push(h("span", { class: "hint" }, t("shelve.critical")));
    }
  }
  return out;
}

// ---- the view -----------------------------------------------------------------------------
// ---- the view -----------------------------------------------------------------------------
// Keys (when no field or dialog has the focus): ↑/↓ (or j/k), Home/End move through the
// alarms, Enter opens one, A acknowledges it with a note, S shelves it, Esc closes.
const typing = (el) => el && (el.closest("input, textarea, select, [contenteditable=true]") || el.closest("dialog[open]"));

export function mount(root) {
  const ui = {
    filter: new Set(),
    search: "",
    tab: "active",
    selected: null,
    open: new Map(), // group id -> cursor of its next page of members (null: none left)
  };
  const alarmById = (id) => store.alarms.get(id) || store.members.get(id) || null;
  const tiles = h("div", { class: "tiles" });
  const searchBox = h("input", {
    type: "search",
    class: "search",
    placeholder: t("control.search"),
    "aria-label": t("control.search_label"),
    on: { input: (e) => { ui.search = e.target.value.trim().toLowerCase(); render(); } },
  });
  const tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("control.tabs") });
  const tbody = h("tbody");
  const cols = [
    ["prio", t("col.priority")],
    ["state", t("col.state")],
    ["when", t("col.raised")],
    ["msg", t("col.alarm")],
    ["device", t("col.device")],
    ["zone", t("col.zone")],
    ["value", t("col.value")],
    ["ticket", t("col.ticket")],
    ["actions", t("col.actions")],
  ];
  const table = h(
    "table",
    { class: "alarm-table", "aria-label": t("control.table") },
    h("thead", null, h("tr", null, cols.map(([c, text]) => h("th", { scope: "col", class: `col-${c}` }, c === "actions" ? h("span", { class: "visually-hidden" }, text) : text)))),
    tbody,
  );
  const empty = h("div", { class: "empty", hidden: true });
  const keys = h("p", { class: "keys-hint", id: "cr-keys" }, t("control.keys"));
  const detail = h("aside", { class: "detail", "aria-label": t("detail.label") });
  const view = h(
    "section",
    { class: "control", "aria-describedby": "cr-keys" },
    h("h1", { class: "visually-hidden" }, t("view.control")),
    h("div", { class: "cr-main" }, tiles, h("div", { class: "toolbar" }, tabs, searchBox), h("div", { class: "table-wrap" }, table, empty), keys),
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
      if (ackable(a)) c.unacked++;
    }
    for (const g of store.groups.values()) {
      c[g.priority] = (c[g.priority] || 0) + g.active;
      c.unacked += g.unacked;
    }
    return c;
  }

  // ---- groups (EEMUA 191): one row for many alarms of one rule in one zone ----------------
  function groupText(g) {
    const zone = zoneName(g.zone);
    return g.rule === "device.offline"
      ? t("group.offline", { count: num(g.count, 0), zone })
      : t("group.alarms", { count: num(g.count, 0), rule: label(g.rule), zone });
  }

  function visibleGroups() {
    if (ui.tab === "masked") return [];
    return [...store.groups.values()].filter((g) => {
      if (ui.filter.size && !ui.filter.has(g.priority)) return false;
      if (!ui.search) return true;
      return [g.rule, g.zone, zoneName(g.zone), groupText(g), g.message, g.message_zh].join(" ").toLowerCase().includes(ui.search);
    });
  }

  async function toggleGroup(g) {
    const id = String(g.id);
    if (ui.open.has(id)) {
      ui.open.delete(id);
      dropMembers(g);
      render();
      return;
    }
    ui.open.set(id, null);
    await moreMembers(g);
  }

  async function moreMembers(g) {
    const id = String(g.id);
    try {
      ui.open.set(id, await groupMembers(g, ui.open.get(id)));
    } catch (err) {
      toast(t("group.failed", { error: err.message }), "error");
    }
    render();
  }

  function groupRows(g) {
    const id = String(g.id);
    const isOpen = ui.open.has(id);
    const since = g.raised_at || "";
    const head = h(
      "tr",
      { class: ["group-row", `p-${g.priority}`, isOpen && "open"], dataset: { groupId: id, priority: g.priority, count: String(g.count) } },
      h("td", { class: "col-prio" }, prioBadge(g.priority)),
      h("td", { class: "col-state" }, h("div", { class: "state" }, h("span", { class: "state-text" }, t("group.unacked", { count: num(g.unacked, 0) })))),
      h("td", { class: "col-when mono" }, h("div", null, clock(since)), h("div", { class: "sub age", dataset: { since } }, age(since))),
      h("td", { class: "col-msg msg" }, h("div", { class: "msg-text" }, groupText(g)), h("div", { class: "sub" }, g.rule, " · ", t("group.label"))),
      h("td", { class: "col-device device" }, t("group.devices", { count: num(g.count, 0) })),
      h("td", { class: "col-zone" }, zoneName(g.zone)),
      h("td", { class: "col-value mono" }, "—"),
      h("td", { class: "col-ticket" }, h("span", { class: "muted" }, "—")),
      h(
        "td",
        { class: "col-actions actions" },
        h("button", { type: "button", class: "btn small ghost", "aria-expanded": isOpen ? "true" : "false", dataset: { action: "members" }, on: { click: () => toggleGroup(g) } }, isOpen ? t("group.hide") : t("group.show")),
      ),
    );
    if (!isOpen) return [head];
    const members = sortAlarms([...store.members.values()].filter(memberOf(g))).map((a) => {
      const tr = row(a);
      tr.classList.add("member-row");
      return tr;
    });
    const next = ui.open.get(id);
    const tail = next
      ? [h("tr", { class: "member-more" }, h("td", { colspan: 9 }, h("button", { type: "button", class: "btn small ghost", on: { click: () => moreMembers(g) } }, t("group.more", { count: num(Math.max(0, g.count - members.length), 0) }))))]
      : [];
    return [head, ...members, ...tail];
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
            "aria-label": t("tile.filter", { n: c[p], prio: tv("prio", p) }),
            on: { click: () => { ui.filter.has(p) ? ui.filter.delete(p) : ui.filter.add(p); render(); } },
          },
          h("span", { class: "tile-n" }, String(c[p])),
          h("span", { class: ["tile-l", `p-${p}`] }, h("span", { class: "shape", "aria-hidden": "true" }), tv("prio", p)),
        ),
      ),
      h("div", { class: ["tile", "t-unacked", c.unacked > 0 && "lit"] }, h("span", { class: "tile-n" }, String(c.unacked)), h("span", { class: "tile-l" }, t("tile.unacked"))),
      h("div", { class: "tile t-masked" }, h("span", { class: "tile-n" }, String(c.masked)), h("span", { class: "tile-l" }, t("tile.masked"))),
    );
    replace(
      tabs,
      [["active", t("tab.active")], ["masked", t("tab.masked", { n: c.masked })]].map(([id, text]) =>
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
        const hay = [a.device, deviceName(a.device), a.zone, zoneName(a.zone), a.message, a.message_zh, a.rule, a.point].join(" ").toLowerCase();
        if (!hay.includes(ui.search)) continue;
      }
      out.push(a);
    }
    return sortAlarms(out);
  }

  function row(a) {
    const since = a.activated_at || a.raised_at || "";
    const id = String(a.id);
    // what a narrow screen folds away from its own column shows again under the message
    const fold = h(
      "div",
      { class: "fold" },
      h("span", { class: "fold-device" }, deviceName(a.device)),
      h("span", { class: "fold-zone" }, zoneName(a.zone)),
      h("span", { class: "fold-value" }, t("col.value"), " ", h("span", { class: "mono" }, valueText(a))),
      (a.ticket_ids || []).length ? h("span", { class: "fold-ticket" }, ticketChips(a)) : null,
    );
    return h(
      "tr",
      {
        class: ["alarm-row", `p-${a.priority}`, `s-${a.state}`, masked(a) && "masked", ui.selected === id && "selected"],
        dataset: { alarmId: id, state: a.state, priority: a.priority },
        tabindex: 0,
        "aria-selected": ui.selected === id ? "true" : undefined,
        on: {
          click: () => select(id),
          keydown: (e) => { if (e.key === "Enter" && e.target === e.currentTarget) select(id); },
        },
      },
      h("td", { class: "col-prio" }, prioBadge(a.priority)),
      h("td", { class: "col-state" }, stateCell(a)),
      h("td", { class: "col-when mono" }, h("div", null, clock(since)), h("div", { class: "sub age", dataset: { since } }, age(since))),
      h("td", { class: "col-msg msg" }, h("div", { class: "msg-text" }, msgOf(a)), h("div", { class: "sub" }, a.rule, a.point ? ` · ${t("alarm.point", { point: a.point })}` : ""), fold),
      h("td", { class: "col-device device" }, h("div", null, deviceName(a.device)), h("div", { class: "sub mono" }, a.device)),
      h("td", { class: "col-zone" }, zoneName(a.zone)),
      h("td", { class: "col-value mono" }, valueText(a)),
      h("td", { class: "col-ticket" }, ticketChips(a)),
      h("td", { class: "col-actions actions" }, actionButtons(a)),
    );
  }

  let rowCache = new Map();

  function focusedRowId() {
    const el = document.activeElement;
    const tr = el && tbody.contains(el) ? el.closest("tr.alarm-row") : null;
    return tr ? tr.dataset.alarmId : null;
  }

  function render() {
    renderTiles();
    const list = visible();
    const groups = visibleGroups();
    const focusId = focusedRowId();
    const focusOnRow = focusId !== null && document.activeElement.matches("tr.alarm-row");
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
    // the groups among the alarms, by priority (a group sorts by its newest change)
    for (const g of groups.sort((a, b) => prioRank(b.priority) - prioRank(a.priority))) {
      const at = list.findIndex((a) => a !== null && prioRank(a.priority) > prioRank(g.priority));
      const where = at < 0 ? els.length : at;
      const rows = groupRows(g);
      els.splice(where, 0, ...rows);
      list.splice(where, 0, ...rows.map(() => null)); // list and els stay aligned
    }
    const before = focusId !== null ? document.activeElement : null;
    tbody.replaceChildren(...els);
    // the keyboard's place survives a re-render (a rebuilt row, an acknowledged alarm)
    if (focusId !== null && keep.has(focusId)) {
      const tr = keep.get(focusId).el;
      if (focusOnRow || !before || !before.isConnected) tr.focus({ preventScroll: true });
    }
    empty.hidden = list.length > 0;
    if (!list.length) {
      replace(
        empty,
        store.stream === "unavailable"
          ? t("control.stream_unavailable", { error: store.streamError || t("control.no_alarm_service") })
          : ui.tab === "masked"
            ? t("control.none_masked")
            : store.alarms.size || ui.filter.size || ui.search
              ? t("control.none_match")
              : t("control.none_open"),
      );
    }
    renderDetail();
  }

  // ---- keyboard -------------------------------------------------------------------------
  function rows() {
    return [...tbody.querySelectorAll("tr.alarm-row")];
  }

  function current() {
    const id = focusedRowId() || ui.selected;
    return id ? alarmById(id) : null;
  }

  function focusRow(tr) {
    if (!tr) return;
    tr.focus();
    tr.scrollIntoView({ block: "nearest" });
  }

  function onKey(e) {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    const list = rows();
    const at = list.findIndex((tr) => tr.dataset.alarmId === (focusedRowId() || ui.selected));
    if (key === "ArrowDown" || key === "j" || e.code === "KeyJ") {
      focusRow(list[Math.min(list.length - 1, at + 1)]);
    } else if (key === "ArrowUp" || key === "k" || e.code === "KeyK") {
      focusRow(list[Math.max(0, at < 0 ? 0 : at - 1)]);
    } else if (key === "Home") {
      focusRow(list[0]);
    } else if (key === "End") {
      focusRow(list[list.length - 1]);
    } else if (key === "a" || e.code === "KeyA") {
      const a = current();
      if (!a) return;
      if (!can("ack")) toast(t("keys.no_ack"), "error");
      else if (!ackable(a)) toast(t("keys.already_acked", { id: a.id }), "info");
      else ackDialog(a);
    } else if (key === "s" || e.code === "KeyS") {
      const a = current();
      if (!a) return;
      if (!can("shelve")) toast(t("keys.no_shelve"), "error");
      else if (a.priority === "critical") toast(t("shelve.critical"), "error");
      else if (a.shelved) unshelveAlarm(a);
      else shelveAlarm(a);
    } else if (key === "Escape") {
      if (!ui.selected) return;
      const id = ui.selected;
      select(id);
      focusRow(rows().find((tr) => tr.dataset.alarmId === id));
    } else {
      return;
    }
    e.preventDefault();
  }
  document.addEventListener("keydown", onKey);

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
    replace(chartBox, h("p", { class: "muted" }, t("detail.loading_telemetry")));
    const at = parseTime(a.source_ts) ?? parseTime(a.raised_at) ?? Date.now();
    const cleared = parseTime(a.cleared_at);
    const start = at - 15 * 60_000;
    const end = Math.max(cleared ?? 0, at + 5 * 60_000);
    const q = query({ start: new Date(start).toISOString(), end: new Date(Math.min(end, Date.now() + 60_000)).toISOString() });
    try {
      const data = await get(`/api/v1/telemetry/${encodeURIComponent(a.device)}${q}`);
      drawChart(a, data && Array.isArray(data.items) ? data.items : [], start, end, at, cleared);
    } catch (err) {
      replace(chartBox, h("p", { class: "muted" }, err instanceof ApiError && err.status === 501 ? t("detail.no_tsdb") : t("detail.telemetry_failed", { error: err.message })));
    }
  }

  function drawChart(a, readings, start, end, at, cleared) {
    const by = new Map();
    for (const r of readings) {
      const v = typeof r.value === "boolean" ? (r.value ? 1 : 0) : r.value;
      if (typeof v !== "number" || !Number.isFinite(v)) continue;
      const ts = parseTime(r.ts);
      if (ts === null) continue;
      if (!by.has(r.field)) by.set(r.field, { name: r.field, points: [], step: typeof r.value === "boolean" });
      by.get(r.field).points.push([ts, v]);
    }
    clear(chartBox);
    if (!by.size) {
      chartBox.appendChild(h("p", { class: "muted" }, t("detail.no_readings", { device: a.device, from: clock(start), to: clock(end) })));
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
    const markers = [{ t: at, label: t("chart.alarm"), cls: `m-${a.priority}` }];
    if (cleared) markers.push({ t: cleared, label: t("chart.cleared"), cls: "m-cleared" });
    else if (Date.now() < end) markers.push({ t: Date.now(), label: t("chart.now"), cls: "m-now" });
    for (const sr of series) chartBox.appendChild(timeChart({ series: sr, markers, start, end, title: sr.name, width: 560, height: 130 }));
  }

  function byWhom(when, who) {
    return t("detail.at_by", { when: dateTime(when), who: who || "?" });
  }

  function renderDetail() {
    const a = ui.selected ? alarmById(ui.selected) : null;
    view.classList.toggle("has-detail", !!a);
    if (!a) {
      ui.selected = null;
      detail.classList.remove("open");
      replace(detail, h("div", { class: "detail-empty" }, h("p", null, t("detail.empty"))));
      return;
    }
    detail.classList.add("open");
    fetchDetail(a);
    fetchChart(a);
    const full = detailData && String(detailData.id) === String(a.id) ? detailData : null;
    const facts = [
      [t("col.device"), `${deviceName(a.device)} (${a.device})`],
      [t("col.zone"), zoneName(a.zone)],
      [t("fact.system"), tv("system", a.system)],
      [t("fact.point"), a.point || "—"],
      [t("fact.rule"), a.rule],
      [t("col.value"), valueText(a)],
      [t("col.raised"), dateTime(a.raised_at)],
      [t("fact.reading_time"), dateTime(a.source_ts)],
      [t("fact.acked"), a.acked_at ? byWhom(a.acked_at, a.acked_by) : t("fact.no")],
      [t("fact.cleared"), a.cleared_at ? dateTime(a.cleared_at) : t("fact.no")],
    ];
    if (a.shelved) facts.push([t("fact.shelved"), t("fact.shelved_until", { until: dateTime(a.shelved_until), who: a.shelved_by || "?", reason: a.shelve_reason || "" })]);
    if (a.suppressed && a.suppressed_reason) facts.push([t("fact.suppressed"), a.suppressed_reason]);
    if (a.count > 1) facts.push([t("fact.occurrences"), String(a.count)]);
    const journal = full && Array.isArray(full.journal) ? full.journal : null;
    const action = local(a, "action");
    const cause = local(a, "cause");
    const consequence = local(a, "consequence");
    replace(
      detail,
      h(
        "div",
        { class: ["detail-head", `p-${a.priority}`] },
        h("div", { class: "detail-top" }, prioBadge(a.priority), stateCell(a), h("button", { type: "button", class: "btn small ghost close", "aria-label": t("detail.close"), "aria-keyshortcuts": "Escape", on: { click: () => select(String(a.id)) } }, "✕")),
        h("h2", { class: "detail-title" }, msgOf(a)),
        h("div", { class: "detail-actions" }, actionButtons(a, { big: true })),
      ),
      action ? h("div", { class: "todo" }, h("h3", null, t("detail.todo")), h("p", null, action)) : null,
      cause || consequence
        ? h("div", { class: "why" }, cause ? h("p", null, h("strong", null, t("detail.cause")), " ", cause) : null, consequence ? h("p", null, h("strong", null, t("detail.consequence")), " ", consequence) : null)
        : null,
      h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
      h("div", { class: "tickets-line" }, h("span", { class: "k" }, t("detail.tickets")), ticketChips(a)),
      h("h3", null, t("detail.readings")),
      chartBox,
      h("h3", null, t("detail.journal")),
      full && full.error
        ? h("p", { class: "muted" }, t("detail.journal_failed", { error: full.error.message }))
        : !journal
          ? h("p", { class: "muted" }, t("common.loading"))
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
                      { dataset: { action: j.action || "" } },
                      h("span", { class: "j-time mono" }, dateTime(j.at)),
                      h("span", { class: "j-action" }, tv("journal", j.action)),
                      journalWho(j),
                      j.reason ? h("div", { class: "j-reason" }, j.reason) : null,
                    ),
                  ),
              )
            : h("p", { class: "muted" }, t("common.no_journal")),
    );
  }

  const tick = setInterval(() => {
    const now = Date.now();
    for (const el of tbody.querySelectorAll(".age")) el.textContent = age(el.dataset.since, now);
  }, 1000);
  const unsub = subscribe(render);
  render();
  return () => {
    clearInterval(tick);
    document.removeEventListener("keydown", onKey);
    unsub();
  };
}
