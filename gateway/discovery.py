"""Home Assistant MQTT discovery (setting ``ha_discovery``): the site shows up in Home
Assistant with no YAML.

What it announces, as retained config topics
``homeassistant/<component>/sitewatch_<site>/<object>/config`` (the topic form Home
Assistant's discovery matches, ``[a-zA-Z0-9_-]`` in node and object ids):

* per zone, ``binary_sensor`` ``zone_<zone>_alarm`` (device class ``problem``): on while
  an alarm of the zone is active; one Home Assistant device per zone, its suggested area
  the zone's name;
* per crew, ``sensor`` ``crew_<crew>_open_tickets``: its tickets not yet resolved;
* ``binary_sensor`` ``gateway_health`` (``problem``, diagnostic): on while ``/healthz``
  says degraded.

State topics live under ``sitewatch-ha/<site>/`` (outside ``sitewatch/<site>/``, which
the gateway reads as input); every state is retained, and ``sitewatch-ha/<site>/
availability`` says ``online`` while the gateway runs, ``offline`` after it stopped.

Lifecycle: the runtime builds one :class:`HaDiscovery` when the setting is on and runs
:meth:`HaDiscovery.run` as a task: it publishes availability and every config (:meth:`sync`),
then every ``interval_s`` the states that changed; :meth:`set_site` (devices placed, the
site changed) announces what is new and removes what is gone (an empty retained payload
on its config topic, which is how Home Assistant removes an entity). Cancelled at stop, it
publishes ``offline``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rules.site import Site
from rules.vocab import ACTIVE_STATES, TicketStatus

log = logging.getLogger("sitewatch.discovery")

PREFIX = "homeassistant"
STATE_ROOT = "sitewatch-ha"
ORIGIN = {"name": "sitewatch", "sw_version": "0.1.0"}
_BAD = re.compile(r"[^a-zA-Z0-9_-]")

Publish = Callable[[str, bytes, int, bool], None]


def ha_id(text: str) -> str:
    """An id as Home Assistant's discovery topics take it (``[a-zA-Z0-9_-]+``)."""
    return _BAD.sub("_", text) or "_"


@dataclass(slots=True)
class States:
    """What the entities show: active alarms per zone, open tickets per crew, health."""

    zone_alarms: Mapping[str, int] = field(default_factory=dict)
    crew_open: Mapping[str, int] = field(default_factory=dict)
    healthy: bool = True


class HaDiscovery:
    def __init__(self, site_id: str, site: Site, publish: Publish, *, prefix: str = PREFIX) -> None:
        self.site_id = site_id
        self.site = site
        self.publish = publish
        self.prefix = prefix
        self.node = f"sitewatch_{ha_id(site_id)}"
        self.root = f"{STATE_ROOT}/{site_id}"
        self.availability = f"{self.root}/availability"
        self._announced: dict[str, bytes] = {}  # config topic -> payload last published
        self._states: dict[str, bytes] = {}  # state topic -> payload last published

    # -- what is announced --------------------------------------------------------------
    def _gateway_device(self) -> dict[str, Any]:
        return {
            "identifiers": [self.node],
            "name": f"sitewatch {self.site.name}",
            "manufacturer": "sitewatch",
            "model": "gateway",
            "sw_version": ORIGIN["sw_version"],
        }

    def _config(self, object_id: str, name: str, state_topic: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "unique_id": f"{self.node}_{object_id}",
            "state_topic": state_topic,
            "availability_topic": self.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "qos": 1,
            "origin": ORIGIN,
            **extra,
        }

    def zone_state_topic(self, zone: str) -> str:
        return f"{self.root}/zone/{zone}/alarm"

    def crew_state_topic(self, crew: str) -> str:
        return f"{self.root}/crew/{crew}/open_tickets"

    @property
    def health_topic(self) -> str:
        return f"{self.root}/gateway/health"

    def configs(self) -> dict[str, dict[str, Any]]:
        """Every config topic and its config, for the current site."""
        out: dict[str, dict[str, Any]] = {}
        bs, sensor = f"{self.prefix}/binary_sensor/{self.node}", f"{self.prefix}/sensor/{self.node}"
        for z in self.site.zones:
            oid = f"zone_{ha_id(z.id)}_alarm"
            out[f"{bs}/{oid}/config"] = self._config(
                oid,
                "Alarm",
                self.zone_state_topic(z.id),
                device_class="problem",
                payload_on="ON",
                payload_off="OFF",
                device={
                    "identifiers": [f"{self.node}_zone_{ha_id(z.id)}"],
                    "name": z.name,
                    "manufacturer": "sitewatch",
                    "model": "zone",
                    "suggested_area": z.name,
                    "via_device": self.node,
                },
            )
        for c in self.site.crews:
            oid = f"crew_{ha_id(c.id)}_open_tickets"
            out[f"{sensor}/{oid}/config"] = self._config(
                oid,
                f"{c.name} open tickets",
                self.crew_state_topic(c.id),
                state_class="measurement",
                unit_of_measurement="tickets",
                icon="mdi:ticket-outline",
                device=self._gateway_device(),
            )
        out[f"{bs}/gateway_health/config"] = self._config(
            "gateway_health",
            "Gateway problem",
            self.health_topic,
            device_class="problem",
            entity_category="diagnostic",
            payload_on="ON",
            payload_off="OFF",
            device=self._gateway_device(),
        )
        return out

    # -- publishing ---------------------------------------------------------------------
    def _send(self, topic: str, payload: bytes) -> bool:
        try:
            self.publish(topic, payload, 1, True)
        except Exception:  # noqa: BLE001 - Home Assistant is a guest: never stop the gateway
            log.exception("cannot publish %s", topic)
            return False
        return True

    def sync(self) -> None:
        """Publish configs that are new or changed; remove (empty retained payload) the
        ones announced before that the site no longer has."""
        want = {
            t: json.dumps(c, separators=(",", ":"), sort_keys=True).encode()
            for t, c in self.configs().items()
        }
        for topic in [t for t in self._announced if t not in want]:
            if self._send(topic, b""):
                del self._announced[topic]
                log.info("Home Assistant: removed %s", topic)
        for topic, payload in want.items():
            if self._announced.get(topic) != payload and self._send(topic, payload):
                self._announced[topic] = payload
        gone = {self.zone_state_topic(z.id) for z in self.site.zones} | {
            self.crew_state_topic(c.id) for c in self.site.crews
        }
        for topic in [t for t in self._states if t != self.health_topic and t not in gone]:
            self._send(topic, b"")  # a removed entity's retained state goes too
            del self._states[topic]

    def set_site(self, site: Site) -> None:
        self.site = site
        self.sync()

    def update(self, states: States) -> int:
        """Publish the states that changed; returns how many were published."""
        want: dict[str, bytes] = {}
        for z in self.site.zones:
            want[self.zone_state_topic(z.id)] = b"ON" if states.zone_alarms.get(z.id) else b"OFF"
        for c in self.site.crews:
            want[self.crew_state_topic(c.id)] = str(int(states.crew_open.get(c.id, 0))).encode()
        want[self.health_topic] = b"OFF" if states.healthy else b"ON"
        n = 0
        for topic, payload in want.items():
            if self._states.get(topic) != payload and self._send(topic, payload):
                self._states[topic] = payload
                n += 1
        return n

    def online(self, up: bool) -> None:
        self._send(self.availability, b"online" if up else b"offline")

    async def run(self, states: Callable[[], States], interval_s: float = 2.0) -> None:
        """Announce, then keep the states current until cancelled (then ``offline``)."""
        self.sync()
        self.online(True)
        try:
            while True:
                try:
                    self.update(states())
                except Exception:  # noqa: BLE001
                    log.exception("Home Assistant states failed; going on")
                await asyncio.sleep(interval_s)
        finally:
            self.online(False)


def service_states(services: Any, healthy: Callable[[], bool]) -> States:
    """The :class:`States` of a site's services (``gateway.services.SiteServices``)."""
    zones: dict[str, int] = {}
    for a in services.alarms.open_alarms():
        if a["state"] in ACTIVE_STATES and a.get("zone"):
            zones[a["zone"]] = zones.get(a["zone"], 0) + 1
    open_statuses = [
        TicketStatus.OPEN,
        TicketStatus.ASSIGNED,
        TicketStatus.IN_PROGRESS,
        TicketStatus.ON_HOLD,
    ]
    crews: dict[str, int] = {}
    for c in services.site.crews:
        _items, total = services.tickets.list(status=open_statuses, crew=c.id, limit=1)
        crews[c.id] = total
    return States(zones, crews, healthy())
