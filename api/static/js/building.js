// The building view: the site's zones, floor by floor, with each device's state.

import { age, dateTime, dialog, h, label, prioRank, replace } from "./dom.js";
import { alarmIsActive, refreshDevices, store, subscribe } from "./store.js";

const SYSTEM_TAG = { lighting: "LGT", hvac: "HVAC", access: "ACC", fire: "FIRE" };
const STATE_TEXT = { alarm: "in alarm", oos: "out of service", offline: "offline", online: "online", unseen: "no data yet" };

/** each device's state: alarm (worst priority) > out of service > offline > online */
export function deviceStates() {
  const byDevice = new Map();
  for (const a of store.alarms.values()) {
    const e = byDevice.get(a.device) || { alarms: [], worst: null, oos: false };
    e.alarms.push(a);
    if (a.out_of_service) e.oos = true;
    else if (alarmIsActive(a) && !a.shelved && !a.suppressed) {
      if (!e.worst || prioRank(a.priority) < prioRank(e.worst)) e.worst = a.priority;
    }
    byDevice.set(a.device, e);
  }
  return (id) => {
    const e = byDevice.get(id) || { alarms: [], worst: null, oos: false };
    const d = store.devices.get(id);
    let state;
    if (e.worst) state = "alarm";
    else if (e.oos) state = "oos";
    else if (!d || !d.last_seen) state = d && d.online === false && d.status === "offline" ? "offline" : "unseen";
    else state = d.online ? "online" : "offline";
    return { state, priority: e.worst, alarms: e.alarms, device: d };
  };
}

function showDevice(dev, info, zone) {
  const d = info.device || {};
  const values = d.values ? Object.entries(d.values) : [];
  const body = h(
    "div",
    { class: "device-detail" },
    h("p", { class: "dialog-lead" }, `${dev.id} · ${label(dev.system)} · ${label(dev.type)} · ${zone.name}`),
    h("p", null, h("span", { class: ["dstate", `ds-${info.state}`, info.priority && `p-${info.priority}`] }, info.priority ? `${info.priority} alarm` : STATE_TEXT[info.state])),
    h("dl", { class: "facts" },
      h("dt", null, "Last message"), h("dd", null, d.last_seen ? `${dateTime(d.last_seen)} (${age(d.last_seen)} ago)` : "never"),
      h("dt", null, "Reports every"), h("dd", null, d.interval_s ? `${d.interval_s} s` : "—"),
      values.map(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, String(v))]),
    ),
    info.alarms.length
      ? [h("h3", null, "Open alarms"), h("ul", { class: "dev-alarms" }, info.alarms.map((a) => h("li", null, h("span", { class: ["prio", "small", `p-${a.priority}`] }, a.priority), " ", a.message || a.rule, " — ", label(a.state), a.out_of_service ? " (out of service)" : "")))]
      : null,
  );
  dialog(dev.name || dev.id, body, { submit: "Close" });
}

export function mount(root) {
  const legend = h("div", { class: "legend-bar" });
  const floors = h("div", { class: "floors" });
  root.appendChild(h("section", { class: "building" }, h("div", { class: "board-head" }, h("h1", { class: "page-title" }, "Building"), legend), floors));

  function render() {
    const site = store.site;
    if (!site) {
      replace(floors, h("p", { class: "muted" }, "Loading the site layout…"));
      return;
    }
    const stateOf = deviceStates();
    const totals = { alarm: 0, oos: 0, offline: 0, online: 0, unseen: 0 };
    const byFloor = new Map();
    const zones = [...site.zones];
    if (site.unzoned && site.unzoned.length) zones.push({ id: "", name: "Not in a zone", floor: "—", devices: site.unzoned });
    for (const z of zones) {
      const f = z.floor || "—";
      if (!byFloor.has(f)) byFloor.set(f, []);
      byFloor.get(f).push(z);
    }
    const floorEls = [];
    for (const [floor, zs] of byFloor) {
      const cards = zs.map((z) => {
        let worst = null;
        let zoneState = "online";
        const tiles = z.devices.map((dev) => {
          const info = stateOf(dev.id);
          totals[info.state]++;
          if (info.priority && (!worst || prioRank(info.priority) < prioRank(worst))) worst = info.priority;
          if (info.state === "offline" && zoneState === "online") zoneState = "offline";
          if (info.state === "oos" && zoneState !== "alarm") zoneState = "oos";
          return h(
            "button",
            {
              type: "button",
              class: ["dev", `ds-${info.state}`, info.priority && `p-${info.priority}`],
              dataset: { device: dev.id, state: info.state },
              title: `${dev.id}: ${info.priority ? `${info.priority} alarm` : STATE_TEXT[info.state]}`,
              on: { click: () => showDevice(dev, info, z) },
            },
            h("span", { class: "dot", "aria-hidden": "true" }),
            h("span", { class: "dev-name" }, dev.name || dev.id),
            h("span", { class: "sys" }, SYSTEM_TAG[dev.system] || label(dev.system)),
          );
        });
        if (worst) zoneState = "alarm";
        const alarmsHere = z.devices.reduce((n, d) => n + stateOf(d.id).alarms.filter((a) => alarmIsActive(a)).length, 0);
        return h(
          "div",
          { class: ["zone", `zs-${zoneState}`, worst && `p-${worst}`], dataset: { zone: z.id } },
          h("div", { class: "zone-head" },
            h("span", { class: "zone-name" }, z.name),
            worst ? h("span", { class: ["prio", "small", `p-${worst}`] }, `${alarmsHere} alarm${alarmsHere === 1 ? "" : "s"}`) : h("span", { class: "zone-ok" }, zoneState === "online" ? "normal" : STATE_TEXT[zoneState]),
          ),
          h("div", { class: "devs" }, tiles),
        );
      });
      floorEls.push(h("div", { class: "floor" }, h("div", { class: "floor-name" }, floor), h("div", { class: "zones" }, cards)));
    }
    replace(floors, floorEls);
    replace(
      legend,
      [["alarm", "in alarm"], ["oos", "out of service"], ["offline", "offline"], ["online", "online"], ["unseen", "no data yet"]].map(([k, t]) =>
        h("span", { class: ["legend-item", `ds-${k}`] }, h("span", { class: "dot" }), h("b", null, String(totals[k])), ` ${t}`),
      ),
      store.deviceError ? h("span", { class: "bad" }, `device states unavailable: ${store.deviceError.message}`) : null,
    );
  }

  const unsub = subscribe(render);
  render();
  refreshDevices();
  const poll = setInterval(refreshDevices, 5000);
  return () => {
    clearInterval(poll);
    unsub();
  };
}
