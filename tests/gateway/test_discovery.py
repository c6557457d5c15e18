"""Home Assistant discovery: configs that validate against the documented schema
(``ha_mqtt_discovery_schema.json``), states that follow the site, removal on change."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.discovery import HaDiscovery, States, ha_id
from gateway.site import load_site
from rules.site import Site

SCHEMA = json.loads((Path(__file__).parent / "ha_mqtt_discovery_schema.json").read_text())


def problems(topic: str, cfg: dict[str, Any]) -> list[str]:
    """Everything Home Assistant would refuse in one discovery message."""
    out: list[str] = []
    m = re.fullmatch(SCHEMA["topic_pattern"], topic)
    if m is None:
        return [f"{topic}: not a discovery topic"]
    comp = SCHEMA["components"].get(m["component"])
    if comp is None:
        return [f"{topic}: component {m['component']} is not one sitewatch may use"]
    allowed = set(SCHEMA["common"]) | set(comp["keys"])
    out += [f"unknown key {k}" for k in cfg if k not in allowed]
    out += [f"missing {k}" for k in comp["required"] if k not in cfg]
    for enum in ("device_class", "state_class"):
        if enum in cfg and cfg[enum] not in comp.get(enum, ()):
            out.append(f"{enum} {cfg[enum]!r} is not one of the component's")
    if "entity_category" in cfg and cfg["entity_category"] not in SCHEMA["entity_category"]:
        out.append("bad entity_category")
    if cfg.get("qos", 0) not in SCHEMA["qos"]:
        out.append("bad qos")
    for k in (
        "state_topic",
        "availability_topic",
        "name",
        "unique_id",
        "payload_on",
        "payload_off",
        "unit_of_measurement",
        "icon",
    ):
        if k in cfg and (not isinstance(cfg[k], str) or not cfg[k]):
            out.append(f"{k} is not a non-empty string")
    for k in ("state_topic", "availability_topic"):
        if k in cfg and ("+" in cfg[k] or "#" in cfg[k]):
            out.append(f"{k} has a wildcard")
    dev = cfg.get("device")
    if dev is not None:
        out += [f"unknown device key {k}" for k in dev if k not in SCHEMA["device"]["keys"]]
        if not any(dev.get(k) for k in SCHEMA["device"]["one_of_required"]):
            out.append("device without identifiers")
        if not all(isinstance(i, str) for i in dev.get("identifiers", [])):
            out.append("identifiers are not strings")
    org = cfg.get("origin")
    if org is not None:
        out += [f"unknown origin key {k}" for k in org if k not in SCHEMA["origin"]["keys"]]
        out += [f"origin without {k}" for k in SCHEMA["origin"]["required"] if k not in org]
    return [f"{topic}: {p}" for p in out]


class Broker:
    """What was published, and what stays retained (an empty payload removes)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes, int, bool]] = []
        self.retained: dict[str, bytes] = {}

    def __call__(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.log.append((topic, payload, qos, retain))
        if retain:
            if payload:
                self.retained[topic] = payload
            else:
                self.retained.pop(topic, None)

    def configs(self) -> dict[str, dict[str, Any]]:
        return {t: json.loads(p) for t, p in self.retained.items() if t.endswith("/config")}


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(None)


def test_every_config_validates_against_home_assistants_schema(site: Site) -> None:
    b = Broker()
    HaDiscovery("sc01", site, b).sync()
    configs = b.configs()
    assert len(configs) == len(site.zones) + len(site.crews) + 1
    errors = [p for t, c in configs.items() for p in problems(t, c)]
    assert errors == []
    assert all(retain and qos == 1 for _t, _p, qos, retain in b.log)
    ids = [c["unique_id"] for c in configs.values()]
    assert len(ids) == len(set(ids))
    lobby = configs["homeassistant/binary_sensor/sitewatch_sc01/zone_lobby_alarm/config"]
    assert lobby["device"]["suggested_area"] == "Lobby"
    assert lobby["state_topic"] == "sitewatch-ha/sc01/zone/lobby/alarm"
    hvac = configs["homeassistant/sensor/sitewatch_sc01/crew_hvac_open_tickets/config"]
    assert hvac["state_class"] == "measurement"


def test_the_validator_refuses_what_home_assistant_refuses() -> None:
    """The fixture is a real check: each mistake is caught."""
    ok = {"state_topic": "a/b", "name": "x", "unique_id": "u", "device_class": "problem"}
    assert problems("homeassistant/binary_sensor/n/o/config", ok) == []
    assert problems("homeassistant/binary_sensor/n/o.x/config", ok)  # '.' in object id
    assert problems("homeassistant/binary_sensor/n/o/config", {**ok, "colour": 1})
    assert problems("homeassistant/binary_sensor/n/o/config", {**ok, "device_class": "fire"})
    assert problems(
        "homeassistant/sensor/n/o/config", {**ok, "device_class": None, "state_class": "sum"}
    )
    assert problems("homeassistant/sensor/n/o/config", {"name": "x"})  # no state_topic
    assert problems("homeassistant/binary_sensor/n/o/config", {**ok, "device": {"name": "d"}})
    assert problems("homeassistant/light/n/o/config", ok)


def test_ids_that_home_assistant_would_refuse_are_made_safe() -> None:
    assert ha_id("vip.1/b") == "vip_1_b"
    site = Site.model_validate(
        {
            "site": "a.b",
            "name": "Odd",
            "timezone": "UTC",
            "zones": [{"id": "f1.east", "name": "East"}],
            "devices": [],
        }
    )
    b = Broker()
    HaDiscovery("a.b", site, b).sync()
    assert [p for t, c in b.configs().items() for p in problems(t, c)] == []
    assert "homeassistant/binary_sensor/sitewatch_a_b/zone_f1_east_alarm/config" in b.retained


def test_states_follow_alarms_tickets_and_health(site: Site) -> None:
    b = Broker()
    d = HaDiscovery("sc01", site, b)
    d.sync()
    assert (
        d.update(States({"lobby": 2}, {"hvac": 3}, healthy=True))
        == len(site.zones) + len(site.crews) + 1
    )
    assert b.retained["sitewatch-ha/sc01/zone/lobby/alarm"] == b"ON"
    assert b.retained["sitewatch-ha/sc01/zone/offices/alarm"] == b"OFF"
    assert b.retained["sitewatch-ha/sc01/crew/hvac/open_tickets"] == b"3"
    assert b.retained["sitewatch-ha/sc01/gateway/health"] == b"OFF"
    # only what changed goes out again
    assert d.update(States({}, {"hvac": 3}, healthy=False)) == 2
    assert b.retained["sitewatch-ha/sc01/zone/lobby/alarm"] == b"OFF"
    assert b.retained["sitewatch-ha/sc01/gateway/health"] == b"ON"
    d.online(True)
    assert b.retained["sitewatch-ha/sc01/availability"] == b"online"


def test_a_removed_zone_is_removed_from_home_assistant(site: Site) -> None:
    b = Broker()
    d = HaDiscovery("sc01", site, b)
    d.sync()
    d.update(States())
    before = len(b.log)
    d.sync()
    assert len(b.log) == before  # nothing changed, nothing re-sent
    smaller = site.model_copy(
        update={
            "zones": [z for z in site.zones if z.id != "car-park"],
            "devices": [x for x in site.devices if x.zone != "car-park"],
        }
    )
    d.set_site(smaller)
    gone = "homeassistant/binary_sensor/sitewatch_sc01/zone_car-park_alarm/config"
    assert gone not in b.retained
    assert (gone, b"", 1, True) in b.log  # the empty retained payload that removes it
    assert "sitewatch-ha/sc01/zone/car-park/alarm" not in b.retained
    assert len(b.configs()) == len(smaller.zones) + len(smaller.crews) + 1


def test_run_announces_updates_and_says_offline_when_cancelled(site: Site) -> None:
    asyncio.run(_run(site))


async def _run(site: Site) -> None:
    b = Broker()
    d = HaDiscovery("sc01", site, b)
    calls = 0

    def states() -> States:
        nonlocal calls
        calls += 1
        return States({"vip-1": 1} if calls > 1 else {}, {}, True)

    task = asyncio.create_task(d.run(states, interval_s=0.01))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if b.retained.get("sitewatch-ha/sc01/zone/vip-1/alarm") == b"ON":
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b.retained["sitewatch-ha/sc01/zone/vip-1/alarm"] == b"ON"
    assert b.retained["sitewatch-ha/sc01/availability"] == b"offline"
    assert len(b.configs()) == len(site.zones) + len(site.crews) + 1
