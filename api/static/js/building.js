// The building view: the site's zones, floor by floor, with each device's state.

import { age, dateTime, dialog, duration, h, prioBadge, prioRank, replace } from "./dom.js";
import { local, t, tv } from "./i18n.js";
import { alarmIsActive, refreshDevices, store, subscribe } from "./store.js";

const stateText = (info) => (info.priority ? t("dev.prio_alarm", { prio: tv("prio", info.priority) }) : tv("dstate", info.state));

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
    h("p", { class: "dialog-lead" }, `${dev.id} · ${tv("system", dev.system)} · ${tv("devtype", dev.type)} · ${zone.name}`),
    h("p", null, h("span", { class: ["dstate", `ds-${info.state}`, info.priority && `p-${info.priority}`] }, h("span", { class: "dot", "aria-hidden": "true" }), stateText(info))),
    h("dl", { class: "facts" },
      h("dt", null, t("dev.last_message")), h("dd", null, d.last_seen ? t("dev.seen_ago", { when: dateTime(d.last_seen), ago: age(d.last_seen) }) : t("dev.never")),
      h("dt", null, t("dev.interval")), h("dd", null, d.interval_s ? duration(d.interval_s * 1000) : "—"),
      values.map(([k, v]) => [h("dt", null, k), h("dd", { class: "mono" }, String(v))]),
    ),
    info.alarms.length
      ? [h("h3", null, t("dev.open_alarms")), h("ul", { class: "dev-alarms" }, info.alarms.map((a) => h("li", null, prioBadge(a.priority, true), " ", local(a, "message") || a.rule, " — ", tv("state", a.state), a.out_of_service ? ` (${t("flag.oos")})` : "")))]
      : null,
  );
  dialog(dev.name || dev.id, body, { submit: t("dialog.close") });
}

export function mount(root) {
  const legend = h("div", { class: "legend-bar" });
  const floors = h("div", { class: "floors" });
  root.appendChild(h("section", { class: "building" }, h("div", { class: "board-head" }, h("h1", { class: "page-title" }, t("view.building")), legend), floors));

  function render() {
    const site = store.site;
    if (!site) {
      replace(floors, h("p", { class: "muted" }, t("building.loading")));
      return;
    }
    const stateOf = deviceStates();
    const totals = { alarm: 0, oos: 0, offline: 0, online: 0, unseen: 0 };
    const byFloor = new Map();
    const zones = [...site.zones];
    if (site.unzoned && site.unzoned.length) zones.push({ id: "", name: t("building.unzoned"), floor: "—", devices: site.unzoned });
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
              title: `${dev.id}: ${stateText(info)}`,
              "aria-label": `${dev.name || dev.id}, ${tv("system", dev.system)}: ${stateText(info)}`,
              on: { click: () => showDevice(dev, info, z) },
            },
            h("span", { class: "dot", "aria-hidden": "true" }),
            h("span", { class: "dev-name" }, dev.name || dev.id),
            h("span", { class: "sys" }, tv("systag", dev.system)),
          );
        });
        if (worst) zoneState = "alarm";
        const alarmsHere = z.devices.reduce((n, d) => n + stateOf(d.id).alarms.filter((a) => alarmIsActive(a)).length, 0);
        return h(
          "div",
          { class: ["zone", `zs-${zoneState}`, worst && `p-${worst}`], dataset: { zone: z.id } },
          h("div", { class: "zone-head" },
            h("span", { class: "zone-name" }, z.name),
            worst ? h("span", { class: ["prio", "small", `p-${worst}`] }, h("span", { class: "shape", "aria-hidden": "true" }), t("building.zone_alarms", { n: alarmsHere, prio: tv("prio", worst) })) : h("span", { class: "zone-ok" }, zoneState === "online" ? t("building.normal") : tv("dstate", zoneState)),
          ),
          h("div", { class: "devs" }, tiles),
        );
      });
      floorEls.push(h("div", { class: "floor" }, h("div", { class: "floor-name" }, floor), h("div", { class: "zones" }, cards)));
    }
    replace(floors, floorEls);
    replace(
      legend,
      ["alarm", "oos", "offline", "online", "unseen"].map((k) =>
        h("span", { class: ["legend-item", `ds-${k}`] }, h("span", { class: "dot", "aria-hidden": "true" }), h("b", null, String(totals[k])), " ", tv("dstate", k)),
      ),
      store.deviceError ? h("span", { class: "bad" }, t("building.states_failed", { error: store.deviceError.message })) : null,
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
