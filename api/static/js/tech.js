// The technician's phone view: my tickets; start, pause and resolve with a note; the
// follow-up call with the satisfaction score.

import { can, get, items } from "./api.js";
import { dateTime, h, label, parseTime, prioRank, replace, toast } from "./dom.js";
import { deviceInfo, deviceName, store, subscribe, zoneName } from "./store.js";
import { DONE_STATUSES, breachedList, crewName, dueChip, dueOf, memberName, openTicket, transition, unavailableNote } from "./tickets.js";

const MEMBER_KEY = "sitewatch.member";

function memberCrew(id) {
  if (!id || !store.site) return null;
  for (const c of store.site.crews || []) for (const m of c.members || []) if (m.id === id) return c.id;
  return null;
}

export function mount(root) {
  const ui = { member: localStorage.getItem(MEMBER_KEY) || "", tickets: [], error: null, open: new Map(), busy: false };
  const who = h("div", { class: "tech-who" });
  const list = h("div", { class: "tech-list" });
  root.appendChild(h("section", { class: "tech" }, who, list));

  async function load() {
    try {
      ui.tickets = items(await get("/api/v1/tickets?limit=1000"));
      ui.error = null;
    } catch (err) {
      ui.error = err;
    }
    render();
  }

  function renderWho() {
    const crews = (store.site && store.site.crews) || [];
    replace(
      who,
      h("label", { for: "tech-member", class: "who-label" }, "I am"),
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
        h("option", { value: "" }, "Everyone (all open work)"),
        crews.map((c) => h("optgroup", { label: c.name }, (c.members || []).map((m) => h("option", { value: m.id, selected: ui.member === m.id }, m.name)))),
      ),
    );
  }

  async function act(t, to, extra, doneText) {
    if (ui.busy) return;
    ui.busy = true;
    try {
      let cur = t;
      if (to === "in_progress" && cur.status === "open") {
        // a ticket nobody has yet: take it, then start
        cur = await transition(cur, "assigned", { assignee: ui.member || undefined, note: "taken on the phone" });
      }
      const res = await transition(cur, to, extra);
      ui.open.delete(String(t.id));
      const i = ui.tickets.findIndex((x) => String(x.id) === String(t.id));
      if (i >= 0 && res && res.id !== undefined) ui.tickets[i] = res;
      toast(doneText, "ok");
    } catch (err) {
      toast(err.message, "error");
    } finally {
      ui.busy = false;
      render();
      load();
    }
  }

  function noteForm(t, kind) {
    const note = h("textarea", { class: "tech-note", name: "note", rows: 3, maxlength: 2000, placeholder: kind === "resolve" ? "What did you do? (required)" : kind === "hold" ? "Why on hold? (required)" : "Note from the call (optional)", "aria-label": "Note" });
    const parts = [note];
    let score = 0;
    if (kind === "callback") {
      const scale = h("div", { class: "score big", role: "radiogroup", "aria-label": "Satisfaction 1 to 10" });
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
      parts.unshift(h("p", { class: "tech-hint" }, "How satisfied is the person who raised it? 1 = not at all, 10 = completely"), scale);
    }
    const submitText = { resolve: "Mark resolved", hold: "Put on hold", callback: "Close after call" }[kind];
    const submit = h("button", {
      type: "button",
      class: ["btn", "big", kind === "hold" ? "ghost" : "primary"],
      dataset: { action: `confirm-${kind}` },
      on: {
        click: () => {
          const text = note.value.trim();
          if ((kind === "resolve" || kind === "hold") && !text) {
            toast("Please write a note first.", "error");
            note.focus();
            return;
          }
          if (kind === "resolve") act(t, "resolved", { note: text }, `#${t.id} resolved`);
          else if (kind === "hold") act(t, "on_hold", { note: text }, `#${t.id} on hold`);
          else {
            if (!score) {
              toast("Choose a score from 1 to 10.", "error");
              return;
            }
            act(t, "closed", { satisfaction: score, note: text || undefined }, `#${t.id} closed, satisfaction ${score}/10`);
          }
        },
      },
    }, submitText);
    const cancel = h("button", { type: "button", class: "btn big ghost", on: { click: () => { ui.open.delete(String(t.id)); render(); } } }, "Back");
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
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "start" }, on: { click: () => act(t, "in_progress", {}, `#${t.id} in progress`) } }, t.status === "on_hold" ? "Resume" : "Start"));
      }
      if (t.status === "in_progress") {
        buttons.push(h("button", { type: "button", class: "btn big ghost", dataset: { action: "hold" }, on: { click: show("hold") } }, "Hold"));
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "resolve" }, on: { click: show("resolve") } }, "Resolve"));
      }
      if (t.status === "resolved" && t.source === "person") {
        buttons.push(h("button", { type: "button", class: "btn big primary", dataset: { action: "callback" }, on: { click: show("callback") } }, "Follow-up call"));
      }
    }
    return h(
      "article",
      { class: ["tcard", `p-${t.priority}`, breached.length && "breached"], dataset: { ticketId: String(t.id), status: t.status } },
      h("div", { class: "tcard-top" }, h("span", { class: ["prio", "small", `p-${t.priority}`] }, label(t.priority)), h("span", { class: "status-pill", dataset: { role: "status" } }, label(t.status)), h("span", { class: "card-id mono" }, `#${t.id}`)),
      h("h3", { class: "tcard-title" }, t.title || "(untitled)"),
      t.device ? h("p", { class: "tcard-sub" }, `${deviceName(t.device)} · ${zoneName(d && d.zone)}`) : null,
      h("p", { class: "tcard-sub" }, `${crewName(t.crew)}${t.assignee ? ` · ${memberName(t.assignee)}` : " · unassigned"}`),
      t.description ? h("p", { class: "tcard-desc" }, t.description) : null,
      dueChip(t, now),
      breached.length ? h("div", { class: "card-breach" }, breached.map((b) => h("span", { class: "chip breach" }, `${label(b)} missed`))) : null,
      openForm ? noteForm(t, openForm) : null,
      buttons.length ? h("div", { class: "tech-buttons" }, buttons) : null,
      h("button", { type: "button", class: "linkish", on: { click: () => openTicket(t.id, load) } }, "History & details"),
    );
  }

  function render() {
    renderWho();
    if (ui.error) {
      replace(list, unavailableNote(ui.error, "Tickets"));
      return;
    }
    const now = Date.now();
    const myCrew = memberCrew(ui.member);
    const active = ui.tickets.filter((t) => !DONE_STATUSES.includes(t.status));
    const mine = ui.member ? active.filter((t) => t.assignee === ui.member) : active;
    const queue = ui.member ? active.filter((t) => !t.assignee && t.crew === myCrew) : [];
    const order = (a, b) => (parseTime(dueOf(a)[1]) ?? Infinity) - (parseTime(dueOf(b)[1]) ?? Infinity) || prioRank(a.priority) - prioRank(b.priority);
    const groups = [
      ["Working on", mine.filter((t) => t.status === "in_progress")],
      ["To start", mine.filter((t) => t.status === "open" || t.status === "assigned")],
      ["On hold", mine.filter((t) => t.status === "on_hold")],
      ["Follow-up calls", mine.filter((t) => t.status === "resolved" && t.source === "person")],
      [`Unassigned in ${crewName(myCrew)}`, queue],
    ];
    const sections = [];
    for (const [title, ts] of groups) {
      if (!ts.length) continue;
      sections.push(h("h2", { class: "tech-group" }, title, h("span", { class: "count" }, String(ts.length))), ts.sort(order).map((t) => card(t, now)));
    }
    if (!sections.length) {
      sections.push(h("div", { class: "empty" }, ui.member ? `Nothing for ${memberName(ui.member)} right now.` : "No open tickets."));
    }
    sections.push(h("p", { class: "tech-foot muted" }, `Updated ${dateTime(now)}`));
    replace(list, sections);
  }

  render();
  load();
  const poll = setInterval(() => {
    if (!ui.open.size && !ui.busy) load();
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
