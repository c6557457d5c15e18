// The technician's phone view: my tickets; start, pause and resolve with a note; the
// follow-up call with the satisfaction score; a preventive ticket's checklist
// (checklist.js), its unanswered items highlighted when resolving is refused (409); the
// signed-in person's notification settings (notifyprefs.js) below the list.
//
// Whose tickets: a person signed in as themselves sees theirs (assignee=me) and the
// unassigned ones of their crew (crew=me), and takes one by moving it to "assigned" with
// no assignee (the gateway makes it theirs). Operators and admins see all open work. A
// shared technician token names a role, not a person: the picker "tickets of" chooses
// whose list to show (the gateway keeps the token's rights on every ticket).

import { can, get, hasRole, isPerson, items, session } from "./api.js";
import { checklistBlock, refusedItems } from "./checklist.js";
import { dateTime, h, parseTime, prioBadge, prioRank, replace, toast } from "./dom.js";
import { t as tr, tv } from "./i18n.js";
import { notifyPanel } from "./notifyprefs.js";
import { deviceInfo, deviceName, store, subscribe, zoneName } from "./store.js";
import { DONE_STATUSES, breachedList, crewName, dueChip, dueOf, memberName, openTicket, transition, unavailableNote } from "./tickets.js";

const MEMBER_KEY = "sitewatch.member";

function memberCrew(id) {
  if (!id || !store.site) return null;
  for (const c of store.site.crews || []) for (const m of c.members || []) if (m.id === id) return c.id;
  return null;
}

/** mine: the signed-in technician's own list; all: every open ticket (an operator, an
 * admin); pick: a shared token's list, of the member picked */
function whose() {
  if (!isPerson()) return "pick";
  return session.me.role === "technician" ? "mine" : "all";
}

async function fetchTickets(mode) {
  if (mode !== "mine") return items(await get("/api/v1/tickets?status=open_any&limit=1000"));
  const mine = get("/api/v1/tickets?assignee=me&status=open_any&limit=1000");
  const crew = session.me.crew ? get("/api/v1/tickets?crew=me&status=open_any&limit=1000") : null;
  const list = items(await mine);
  const seen = new Set(list.map((t) => String(t.id)));
  if (crew) for (const t of items(await crew)) if (!t.assignee && !seen.has(String(t.id))) list.push(t);
  return list;
}

export function mount(root) {
  const mode = whose();
  const ui = { member: mode === "pick" ? localStorage.getItem(MEMBER_KEY) || "" : "", tickets: [], error: null, open: new Map(), busy: false, missing: new Map(), notes: new Map() };
  const who = h("div", { class: "tech-who" });
  const list = h("div", { class: "tech-list" });
  const prefs = isPerson() ? notifyPanel() : null;
  root.appendChild(h("section", { class: "tech", dataset: { whose: mode } }, h("h1", { class: "visually-hidden" }, tr("view.tech")), who, list, prefs));

  async function load() {
    try {
      ui.tickets = await fetchTickets(mode);
      ui.error = null;
    } catch (err) {
      ui.error = err;
    }
    render();
  }

  function renderWho() {
    if (mode !== "pick") {
      who.hidden = true;
      return;
    }
    const crews = (store.site && store.site.crews) || [];
    replace(
      who,
      h("label", { for: "tech-member", class: "who-label" }, tr("tech.whose")),
      h(
        "select",
        {
          id: "tech-member",
          on: {
            change: (e) => {
              ui.member = e.target.value;
              localStorage.setItem(MEMBER_KEY, ui.member);
              render();
            },
          },
        },
        h("option", { value: "" }, tr("tech.everyone")),
        crews.map((c) => h("optgroup", { label: c.name }, (c.members || []).map((m) => h("option", { value: m.id, selected: ui.member === m.id }, m.name)))),
      ),
    );
  }

  /** the assignee a take names: none for a technician (the gateway makes it theirs), the
   * lead themselves (else the roster would pick), the member picked for a shared token */
  function taker() {
    if (mode === "pick") return ui.member || undefined;
    if (mode === "mine" && hasRole("lead")) return session.me.user;
    return undefined;
  }

  async function act(t, to, extra, doneText) {
    if (ui.busy) return;
    ui.busy = true;
    try {
      let cur = t;
      if (to === "in_progress" && cur.status === "open") {
        // a ticket nobody has yet: take it, then start
        cur = await transition(cur, "assigned", { assignee: taker(), note: tr("tech.taken_note") });
      }
      const res = await transition(cur, to, extra);
      ui.open.delete(String(t.id));
      for (const k of [...ui.notes.keys()]) if (k.startsWith(`${t.id}:`)) ui.notes.delete(k);
      const i = ui.tickets.findIndex((x) => String(x.id) === String(t.id));
      if (i >= 0 && res && res.id !== undefined) ui.tickets[i] = res;
      toast(doneText, "ok");
    } catch (err) {
      const unanswered = refusedItems(err);
      if (unanswered && to === "resolved") {
        // the checklist is not done: say which items, and show them
        ui.missing.set(String(t.id), unanswered);
        ui.focusMissing = String(t.id);
        toast(tr("checklist.refused", { n: unanswered.length }), "error");
      } else toast(err.message, "error");
    } finally {
      ui.busy = false;
      render();
      load();
    }
  }

  /** a checklist answer came back: the ticket as it is now */
  function saved(res) {
    if (!res || res.id === undefined) return;
    const i = ui.tickets.findIndex((x) => String(x.id) === String(res.id));
    if (i >= 0) ui.tickets[i] = res;
    render();
  }

  function noteForm(t, kind) {
    // the text typed so far outlives a redraw (a checklist answer redraws the card)
    const key = `${t.id}:${kind}`;
    const note = h("textarea", { class: "tech-note", name: "note", rows: 3, maxlength: 2000, value: ui.notes.get(key) || "", placeholder: tr(`tech.note_${kind}`), "aria-label": tr("ticket.note"), on: { input: (e) => ui.notes.set(key, e.target.value) } });
    const parts = [note];
    let score = 0;
    if (kind === "callback") {
      const scale = h("div", { class: "score big", role: "radiogroup", "aria-label": tr("tech.score_label") });
      for (let i = 1; i <= 10; i++) {
        scale.appendChild(
          h("button", {
            type: "button",
            class: "score-btn",
            role: "radio",
            "aria-checked": "false",
            dataset: { score: String(i) },
            on: {
              click: (e) => {
                score = i;
                for (const b of scale.children) b.setAttribute("aria-checked", b === e.currentTarget ? "true" : "false");
              },
            },
          }, String(i)),
        );
      }
      parts.unshift(h("p", { class: "tech-hint" }, tr("tech.score_hint")), scale);
    }
    const submitText = tr(`tech.submit_${kind}`);
    const submit = h("button", {
      type: "button",
      class: ["btn", "big", kind === "hold" ? "ghost" : "primary"],
      dataset: { action: `confirm-${kind}` },
      on: {
        click: () => {
          const text = note.value.trim();
          if ((kind === "resolve" || kind === "hold") && !text) {
            toast(tr("form.note_required"), "error");
            note.focus();
            return;
          }
          if (kind === "resolve") act(t, "resolved", { note: text }, tr("ticket.moved", { id: t.id, status: tv("status", "resolved") }));
          else if (kind === "hold") act(t, "on_hold", { note: text }, tr("ticket.moved", { id: t.id, status: tv("status", "on_hold") }));
          else {
            if (!score) {
              toast(tr("ticket.score_required"), "error");
              return;
            }
            act(t, "closed", { satisfaction: score, note: text || undefined }, tr("tech.closed_score", { id: t.id, n: score }));
          }
        },
      },
    }, submitText);
    const cancel = h("button", { type: "button", class: "btn big ghost", on: { click: () => { ui.open.delete(String(t.id)); render(); } } }, tr("tech.back"));
    return h("div", { class: "tech-form" }, parts, h("div", { class: "tech-buttons" }, cancel, submit));
  }

  function card(t, now) {
    const d = t.device ? deviceInfo(t.device) : null;
    const breached = breachedList(t);
    const mayMove = can("ticket_transition");
    const buttons = [];
    const openForm = ui.open.get(String(t.id));
    if (mayMove && !openForm) {
      const show = (kind) => () => {
        ui.open.set(String(t.id), kind);
        render();
      };
      if (t.status === "open" || t.status === "assigned" || t.status === "on_hold") {
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "start" }, on: { click: () => act(t, "in_progress", {}, tr("ticket.moved", { id: t.id, status: tv("status", "in_progress") })) } }, t.status === "on_hold" ? tr("tech.resume") : tr("tech.start")));
      }
      if (t.status === "in_progress") {
        buttons.push(h("button", { type: "button", class: "btn big ghost", dataset: { action: "hold" }, on: { click: show("hold") } }, tr("tech.hold")));
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "resolve" }, on: { click: show("resolve") } }, tr("tech.resolve")));
      }
      if (t.status === "resolved" && t.source === "person") {
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "callback" }, on: { click: show("callback") } }, tr("tech.callback")));
      }
    }
    return h(
      "article",
      { class: ["tcard", `p-${t.priority}`, breached.length && "breached"], dataset: { ticketId: String(t.id), status: t.status } },
      h("div", { class: "tcard-top" }, prioBadge(t.priority, true), h("span", { class: "status-pill", dataset: { role: "status" } }, tv("status", t.status)), h("span", { class: "card-id mono" }, `#${t.id}`)),
      h("h3", { class: "tcard-title" }, t.title || tr("ticket.untitled")),
      t.device ? h("p", { class: "tcard-sub" }, `${deviceName(t.device)} · ${zoneName(d && d.zone)}`) : null,
      h("p", { class: "tcard-sub" }, `${crewName(t.crew)} · ${t.assignee ? memberName(t.assignee) : tr("ticket.unassigned")}`),
      t.description ? h("p", { class: "tcard-desc" }, t.description) : null,
      dueChip(t, now),
      breached.length ? h("div", { class: "card-breach" }, breached.map((b) => h("span", { class: "chip breach" }, tr("ticket.clock_missed", { clock: tv("clock", b) })))) : null,
      Array.isArray(t.checklist) && t.checklist.length
        ? checklistBlock(t, { missing: ui.missing.get(String(t.id)) || [], editable: mayMove && ["open", "assigned", "in_progress", "on_hold"].includes(t.status), onSaved: saved })
        : null,
      openForm ? noteForm(t, openForm) : null,
      buttons.length ? h("div", { class: "tech-buttons" }, buttons) : null,
      h("button", { type: "button", class: "linkish", on: { click: () => openTicket(t.id, load) } }, tr("tech.details")),
    );
  }

  function render() {
    // the control being answered keeps the focus across a redraw (ids are stable)
    const focused = list.contains(document.activeElement) && document.activeElement.id ? document.activeElement.id : "";
    draw();
    const again = focused && document.getElementById(focused);
    if (again && again !== document.activeElement) again.focus();
    if (ui.focusMissing) {
      const first = list.querySelector(`article[data-ticket-id="${CSS.escape(ui.focusMissing)}"] .cl-item.missing`);
      ui.focusMissing = null;
      if (first) {
        first.scrollIntoView({ block: "center" });
        const control = first.querySelector("input, textarea");
        if (control) control.focus({ preventScroll: true });
      }
    }
  }

  function draw() {
    renderWho();
    if (ui.error) {
      replace(list, unavailableNote(ui.error, "tickets"));
      return;
    }
    const now = Date.now();
    const me = mode === "mine" ? session.me.user : ui.member;
    const myCrew = mode === "mine" ? session.me.crew : memberCrew(ui.member);
    const active = ui.tickets.filter((t) => !DONE_STATUSES.includes(t.status));
    const mine = me ? active.filter((t) => t.assignee === me) : active;
    const queue = me ? active.filter((t) => !t.assignee && myCrew && t.crew === myCrew) : [];
    const order = (a, b) => (parseTime(dueOf(a)[1]) ?? Infinity) - (parseTime(dueOf(b)[1]) ?? Infinity) || prioRank(a.priority) - prioRank(b.priority);
    const groups = [
      [tr("tech.g_working"), mine.filter((t) => t.status === "in_progress")],
      [tr("tech.g_start"), mine.filter((t) => t.status === "open" || t.status === "assigned")],
      [tr("tech.g_hold"), mine.filter((t) => t.status === "on_hold")],
      [tr("tech.g_callback"), mine.filter((t) => t.status === "resolved" && t.source === "person")],
      [tr("tech.g_queue", { crew: crewName(myCrew) }), queue],
    ];
    const sections = [];
    for (const [title, ts] of groups) {
      if (!ts.length) continue;
      sections.push(h("h2", { class: "tech-group" }, title, h("span", { class: "count" }, String(ts.length))), ts.sort(order).map((t) => card(t, now)));
    }
    if (!sections.length) {
      const name = mode === "mine" ? session.me.name : memberName(ui.member);
      sections.push(h("div", { class: "empty" }, me ? tr("tech.nothing_for", { name }) : tr("tech.no_tickets")));
    }
    sections.push(h("p", { class: "tech-foot muted" }, tr("tech.updated", { when: dateTime(now) })));
    replace(list, sections);
  }

  render();
  load();
  const poll = setInterval(() => {
    const typing = list.contains(document.activeElement) && document.activeElement.matches("input, textarea");
    if (!ui.open.size && !ui.busy && !typing) load();
  }, 10_000);
  let siteSeen = !!store.site;
  const unsub = subscribe(() => {
    if (!siteSeen && store.site) {
      siteSeen = true; // names of crews and members arrived
      render();
    }
  });
  return () => {
    clearInterval(poll);
    unsub();
  };
}
