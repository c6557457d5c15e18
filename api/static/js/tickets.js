// Tickets: the board by status and crew, one ticket's detail, new tickets and moves.

import { can, get, hasRole, isPerson, items, post, session } from "./api.js";
import { dateTime, dialog, duration, h, prioBadge, parseTime, prioRank, replace, toast } from "./dom.js";
import { t as tr, tv } from "./i18n.js";
import { deviceName, store } from "./store.js";

export const BOARD_STATUSES = ["open", "assigned", "in_progress", "on_hold", "resolved"];
export const DONE_STATUSES = ["closed", "cancelled"];
const CATEGORIES = ["repair", "cleaning", "security", "complaint", "enquiry"];

/** the clock that runs in each status, and its name */
export function dueOf(t) {
  switch (t.status) {
    case "open":
      return ["assign", t.assign_by];
    case "assigned":
      return ["respond", t.respond_by];
    case "in_progress":
    case "on_hold":
      return ["resolve", t.resolve_by];
    case "resolved":
      return t.source === "person" ? ["callback", t.callback_by] : [null, null];
    default:
      return [null, null];
  }
}

export function breachedList(t) {
  if (Array.isArray(t.breached)) return t.breached.map(String);
  if (t.breached && typeof t.breached === "object") return Object.keys(t.breached).filter((k) => t.breached[k]);
  return [];
}

export function dueChip(t, now = Date.now()) {
  const [what, due] = dueOf(t);
  const ms = parseTime(due);
  if (!what || ms === null) return null;
  const left = ms - now;
  const late = left < 0;
  const soon = !late && left < 15 * 60_000;
  return h(
    "span",
    { class: ["due", late && "late", soon && "soon"], dataset: { due: due } },
    late ? tr("due.late", { what: tv("clock", what), left: duration(left) }) : tr("due.by", { what: tv("clock", what), when: dateTime(due), left: duration(left) }),
  );
}

export function memberName(id) {
  if (!id) return null;
  if (store.site) for (const c of store.site.crews || []) for (const m of c.members || []) if (m.id === id) return m.name;
  return id;
}

export function crewName(id) {
  if (!id) return tr("ticket.no_crew");
  if (store.site) for (const c of store.site.crews || []) if (c.id === id) return c.name;
  return id;
}

export async function transition(t, to, extra = {}) {
  const body = { to, ...extra };
  for (const k of Object.keys(body)) if (body[k] === undefined || body[k] === "") delete body[k];
  return post(`/api/v1/tickets/${encodeURIComponent(t.id)}/transition`, body);
}

/** moves a person may offer from each status (the server has the last word: 409) */
export function nextMoves(t) {
  switch (t.status) {
    case "open":
      return ["assigned", "in_progress", "cancelled"];
    case "assigned":
      return ["in_progress", "on_hold", "cancelled"];
    case "in_progress":
      return ["on_hold", "resolved"];
    case "on_hold":
      return ["in_progress", "resolved"];
    case "resolved":
      return ["closed", "in_progress"];
    default:
      return [];
  }
}

const moveText = (to) => tv("move", to); // the button that opens the move's dialog
const moveDone = (to) => tv("move_submit", to); // the dialog's own button

/** whether the signed-in person may hand ticket `t` to someone: operators and admins any,
 * a crew's lead one of their crew (the gateway has the last word: 403) */
function mayReassign(t) {
  if (!can("reassign")) return false;
  const me = session.me || {};
  return me.role === "admin" || me.role === "operator" || !isPerson() || t.crew === me.crew;
}

/** whom the signed-in person may assign to: everyone, or a lead's own crew */
function assignableCrews() {
  const crews = (store.site && store.site.crews) || [];
  const me = session.me || {};
  if (me.role === "admin" || me.role === "operator" || !isPerson()) return crews;
  return hasRole("lead") ? crews.filter((c) => c.id === me.crew) : [];
}

function memberSelect(t, name = "assignee") {
  const crews = assignableCrews();
  return h(
    "select",
    { name, id: `f-${name}` },
    h("option", { value: "" }, tr("form.choose")),
    crews.map((c) =>
      h(
        "optgroup",
        { label: c.name },
        (c.members || []).map((m) => h("option", { value: m.id, selected: t.assignee === m.id }, m.name)),
      ),
    ),
  );
}

/** ask what a move needs (note, assignee, satisfaction) and make it */
export async function moveDialog(t, to, onDone) {
  const fields = [];
  // a technician who may not assign takes the ticket: no assignee, the gateway makes it theirs
  const taking = to === "assigned" && !mayReassign(t);
  if (to === "assigned" && taking) fields.push(h("p", { class: "dialog-lead" }, tr("ticket.take_lead", { name: session.me.name })));
  else if (to === "assigned") fields.push(h("label", { for: "f-assignee" }, tr("ticket.assign_to")), memberSelect(t));
  if (to === "closed" && t.source === "person") {
    fields.push(
      h("p", { class: "dialog-lead" }, tr("ticket.callback_lead")),
      h("p", { class: "form-label", id: "f-satisfaction" }, tr("ticket.satisfaction")),
      h("div", { class: "score", role: "radiogroup", "aria-labelledby": "f-satisfaction" },
        Array.from({ length: 10 }, (_, i) =>
          h("label", { class: "score-opt" }, h("input", { type: "radio", name: "satisfaction", value: i + 1, required: true, "aria-label": String(i + 1) }), h("span", { "aria-hidden": "true" }, String(i + 1))),
        ),
      ),
    );
  }
  const noteNeeded = to === "resolved" || to === "on_hold" || to === "cancelled";
  fields.push(
    h("label", { for: "f-note" }, to === "resolved" ? tr("ticket.what_done") : tr("ticket.note")),
    h("textarea", { id: "f-note", name: "note", rows: 3, maxlength: 2000, required: noteNeeded, placeholder: noteNeeded ? tr("form.required") : tr("form.optional") }),
  );
  const title = `${moveDone(to)}: #${t.id}`;
  const res = await dialog(title, h("div", { class: "form-grid" }, h("p", { class: "dialog-lead" }, t.title || ""), fields), {
    submit: moveDone(to),
    danger: to === "cancelled",
    onSubmit: async (fd) => {
      const extra = { note: String(fd.get("note") || "").trim() };
      if (noteNeeded && !extra.note) throw new Error(tr("form.note_required"));
      if (to === "assigned" && !taking) {
        extra.assignee = String(fd.get("assignee") || "");
        if (!extra.assignee) throw new Error(tr("ticket.assignee_required"));
      }
      if (fd.has("satisfaction")) extra.satisfaction = Number(fd.get("satisfaction"));
      else if (to === "closed" && t.source === "person") throw new Error(tr("ticket.score_required"));
      return transition(t, to, extra);
    },
  });
  if (res) {
    toast(tr("ticket.moved", { id: t.id, status: tv("status", res.status || to) }), "ok");
    if (onDone) onDone(res);
  }
  return res;
}

/** who made a journal entry: the person's name (the user id on hover), else the user */
export function journalWho(j) {
  const name = j.detail && typeof j.detail.by_name === "string" ? j.detail.by_name : "";
  if (!j.user && !name) return null;
  return h("span", { class: "j-user", title: name && j.user && name !== j.user ? j.user : undefined }, name || j.user);
}

// ---- one ticket ---------------------------------------------------------------------------
export async function openTicket(id, onChange) {
  let t;
  try {
    t = await get(`/api/v1/tickets/${encodeURIComponent(id)}`);
  } catch (err) {
    toast(err.unavailable && err.status !== 404 ? tr("ticket.service_failed", { error: err.message }) : tr("ticket.failed", { id, error: err.message }), "error");
    return;
  }
  const breached = breachedList(t);
  const facts = [
    [tr("col.status"), tv("status", t.status)],
    [tr("col.priority"), tv("prio", t.priority)],
    [tr("ticket.category"), tv("category", t.category)],
    [tr("ticket.crew"), crewName(t.crew)],
    [tr("ticket.assignee"), memberName(t.assignee) || "—"],
    [tr("col.device"), t.device ? `${deviceName(t.device)} (${t.device})` : "—"],
    [tr("ticket.raised_by"), t.source === "rule" ? tr("ticket.by_rule", { rule: t.rule || "" }) : tr("ticket.by_person")],
    [tr("ticket.created"), dateTime(t.created_at)],
    [tr("ticket.assign_by"), dateTime(t.assign_by)],
    [tr("ticket.respond_by"), dateTime(t.respond_by)],
    [tr("ticket.resolve_by"), dateTime(t.resolve_by)],
  ];
  if (t.callback_by) facts.push([tr("ticket.callback_by"), dateTime(t.callback_by)]);
  if (t.resolved_at) facts.push([tr("ticket.resolved"), dateTime(t.resolved_at)]);
  if (t.closed_at) facts.push([tr("ticket.closed"), dateTime(t.closed_at)]);
  if (t.satisfaction !== null && t.satisfaction !== undefined) facts.push([tr("ticket.satisfaction"), tr("ticket.score", { n: t.satisfaction })]);
  if (t.repeat_of) facts.push([tr("ticket.repeat_of"), `#${t.repeat_of}`]);
  if (t.alarm_id) facts.push([tr("ticket.alarm"), `#${t.alarm_id}`]);
  const journal = Array.isArray(t.journal) ? t.journal : [];
  // who may reassign (operators, a crew's lead) may also hand an assigned ticket on; a
  // technician who is no lead only takes an unassigned one
  const offered = t.status === "assigned" && mayReassign(t) ? ["assigned", ...nextMoves(t)] : nextMoves(t);
  const moves = can("ticket_transition") ? offered.filter((m) => m !== "assigned" || !t.assignee || mayReassign(t)) : [];
  let chosen = null;
  const body = h(
    "div",
    { class: "ticket-detail" },
    h("div", { class: "td-head" }, prioBadge(t.priority), h("span", { class: "status-pill" }, tv("status", t.status)), dueChip(t)),
    h("h3", { class: "td-title" }, t.title || tr("ticket.untitled")),
    t.description ? h("p", { class: "td-desc" }, t.description) : null,
    breached.length ? h("p", { class: "breached-line" }, tr("ticket.missed"), " ", breached.map((b) => h("span", { class: "chip breach" }, tv("clock", b)))) : null,
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    h("h3", null, tr("detail.journal")),
    journal.length
      ? h("ol", { class: "journal" }, journal.slice().reverse().map((j) =>
          h("li", null, h("span", { class: "j-time mono" }, dateTime(j.at)), h("span", { class: "j-action" }, tv("journal", j.action)), journalWho(j), j.reason ? h("div", { class: "j-reason" }, j.reason) : null),
        ))
      : h("p", { class: "muted" }, tr("common.no_journal")),
    moves.length
      ? h("div", { class: "move-row" }, moves.map((m) => h("button", { type: "button", class: ["btn", m === "cancelled" ? "ghost danger-text" : "ghost"], dataset: { move: m }, on: { click: (e) => { chosen = m; e.target.closest("dialog").querySelector("[data-act=cancel]").click(); } } }, moveText(m))))
      : null,
  );
  await dialog(tr("ticket.title", { id: t.id }), body, { submit: tr("dialog.done") });
  if (chosen) await moveDialog(t, chosen, onChange);
}

export async function newTicketDialog(onDone) {
  const devices = [];
  if (store.site) for (const z of store.site.zones) for (const d of z.devices) devices.push([d.id, `${d.name} · ${z.name}`]);
  const body = h(
    "div",
    { class: "form-grid" },
    h("label", { for: "nt-title" }, tr("ticket.f_title")),
    h("input", { id: "nt-title", name: "title", required: true, maxlength: 200, placeholder: tr("ticket.f_title_hint") }),
    h("label", { for: "nt-category" }, tr("ticket.category")),
    h("select", { id: "nt-category", name: "category" }, CATEGORIES.map((c) => h("option", { value: c }, tv("category", c)))),
    h("label", { for: "nt-priority" }, tr("col.priority")),
    h("select", { id: "nt-priority", name: "priority" }, ["low", "medium", "high", "critical"].map((p) => h("option", { value: p, selected: p === "medium" }, tv("prio", p)))),
    h("label", { for: "nt-device" }, tr("col.device")),
    h("select", { id: "nt-device", name: "device" }, h("option", { value: "" }, tr("form.none")), devices.map(([id, text]) => h("option", { value: id }, text))),
    h("label", { for: "nt-desc" }, tr("ticket.f_description")),
    h("textarea", { id: "nt-desc", name: "description", rows: 3, maxlength: 4000 }),
  );
  const res = await dialog(tr("ticket.new"), body, {
    submit: tr("ticket.create"),
    onSubmit: async (fd) => {
      const payload = {
        title: String(fd.get("title") || "").trim(),
        category: fd.get("category"),
        priority: fd.get("priority"),
      };
      if (!payload.title) throw new Error(tr("ticket.title_required"));
      if (fd.get("device")) payload.device = fd.get("device");
      const desc = String(fd.get("description") || "").trim();
      if (desc) payload.description = desc;
      return post("/api/v1/tickets", payload);
    },
  });
  if (res) {
    toast(tr("ticket.created_for", { id: res.id, crew: crewName(res.crew) }), "ok");
    if (onDone) onDone(res);
  }
}

/** what: "tickets" or "figures" (the catalogue's unavailable.<what>) */
export function unavailableNote(err, what) {
  const name = tr(`unavailable.${what}`);
  return h(
    "div",
    { class: "unavailable", role: "status" },
    h("h2", null, tr("unavailable.title", { what: name })),
    h("p", null, err.status === 404 ? tr("unavailable.404", { what: name }) : tr("unavailable.down", { what: name, error: err.message })),
    h("p", { class: "muted" }, tr("unavailable.retry")),
  );
}

// ---- the board ------------------------------------------------------------------------------
export function mount(root) {
  const ui = { crew: "", showDone: false, tickets: [], error: null };
  const head = h("div", { class: "board-head" });
  const board = h("div", { class: "board" });
  root.appendChild(h("section", { class: "tickets" }, head, board));

  async function load() {
    try {
      const data = await get("/api/v1/tickets?limit=1000");
      ui.tickets = items(data);
      ui.error = null;
    } catch (err) {
      ui.error = err;
    }
    render();
  }

  function crewsInView() {
    const ids = [];
    for (const c of (store.site && store.site.crews) || []) ids.push(c.id);
    for (const t of ui.tickets) if (t.crew && !ids.includes(t.crew)) ids.push(t.crew);
    if (ui.tickets.some((t) => !t.crew)) ids.push("");
    return ui.crew ? ids.filter((c) => c === ui.crew) : ids;
  }

  function card(t, now) {
    const breached = breachedList(t);
    return h(
      "button",
      {
        type: "button",
        class: ["card", `p-${t.priority}`, breached.length && "breached"],
        dataset: { ticketId: String(t.id), status: t.status },
        on: { click: () => openTicket(t.id, load) },
      },
      h("div", { class: "card-top" }, prioBadge(t.priority, true), h("span", { class: "card-id mono" }, `#${t.id}`), t.repeat_of ? h("span", { class: "chip" }, tr("ticket.repeat")) : null),
      h("div", { class: "card-title" }, t.title || tr("ticket.untitled")),
      t.device ? h("div", { class: "card-sub" }, deviceName(t.device)) : null,
      h("div", { class: "card-sub" }, t.assignee ? tr("ticket.assignee_is", { name: memberName(t.assignee) }) : tr("ticket.unassigned")),
      dueChip(t, now),
      breached.length ? h("div", { class: "card-breach" }, breached.map((b) => h("span", { class: "chip breach" }, tr("ticket.clock_missed", { clock: tv("clock", b) })))) : null,
    );
  }

  function render() {
    const now = Date.now();
    const active = ui.tickets.filter((t) => !DONE_STATUSES.includes(t.status));
    const breachedN = active.filter((t) => breachedList(t).length).length;
    const crewOptions = (store.site && store.site.crews) || [];
    replace(
      head,
      h("h1", { class: "page-title" }, tr("view.tickets")),
      h("div", { class: "board-stats" },
        h("span", { class: "stat" }, h("b", null, String(active.length)), " ", tr("board.open")),
        h("span", { class: ["stat", breachedN && "bad"] }, h("b", null, String(breachedN)), " ", tr("board.missed")),
        h("span", { class: "stat" }, h("b", null, String(ui.tickets.length - active.length)), " ", tr("board.done")),
      ),
      h("div", { class: "board-tools" },
        h("select", { "aria-label": tr("ticket.crew"), on: { change: (e) => { ui.crew = e.target.value; render(); } } },
          h("option", { value: "" }, tr("board.all_crews")),
          crewOptions.map((c) => h("option", { value: c.id, selected: ui.crew === c.id }, c.name)),
        ),
        h("label", { class: "toggle" }, h("input", { type: "checkbox", checked: ui.showDone, on: { change: (e) => { ui.showDone = e.target.checked; render(); } } }), " ", tr("board.show_done")),
        can("ticket_create") ? h("button", { type: "button", class: "btn primary", on: { click: () => newTicketDialog(load) } }, tr("ticket.new")) : null,
      ),
    );
    if (ui.error) {
      replace(board, unavailableNote(ui.error, "tickets"));
      return;
    }
    const statuses = ui.showDone ? [...BOARD_STATUSES, ...DONE_STATUSES] : BOARD_STATUSES;
    board.style.setProperty("--cols", String(statuses.length));
    const cells = [h("div", { class: "bh corner" }, tr("ticket.crew"))];
    for (const st of statuses) {
      const n = ui.tickets.filter((t) => t.status === st && (!ui.crew || t.crew === ui.crew)).length;
      cells.push(h("div", { class: ["bh", `st-${st}`] }, tv("status", st), h("span", { class: "count" }, String(n))));
    }
    for (const crew of crewsInView()) {
      const mine = ui.tickets.filter((t) => (t.crew || "") === crew);
      const late = mine.filter((t) => !DONE_STATUSES.includes(t.status) && breachedList(t).length).length;
      cells.push(h("div", { class: "lane" }, h("div", { class: "lane-name" }, crewName(crew)), h("div", { class: "lane-sub" }, tr("board.lane_open", { n: mine.filter((t) => !DONE_STATUSES.includes(t.status)).length }), late ? h("span", { class: "bad" }, " · ", tr("board.lane_late", { n: late })) : null)));
      for (const st of statuses) {
        const list = mine
          .filter((t) => t.status === st)
          .sort((a, b) => prioRank(a.priority) - prioRank(b.priority) || (parseTime(dueOf(a)[1]) ?? Infinity) - (parseTime(dueOf(b)[1]) ?? Infinity));
        cells.push(h("div", { class: "cell", dataset: { crew, status: st } }, list.map((t) => card(t, now))));
      }
    }
    replace(board, cells);
  }

  render();
  load();
  const poll = setInterval(load, 10_000);
  return () => clearInterval(poll);
}
