"""The demo site file, gateway/sites/sc01.yaml."""

from __future__ import annotations

from collections import Counter

from gateway.site import load_site

CREWS = ["hvac", "electrical", "security", "fire-safety", "cleaning", "customer-service"]
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def test_site_file_loads_and_describes_the_sales_centre() -> None:
    site = load_site()
    assert site.site == "sc01"
    assert site.name == "Sales Centre"
    assert site.timezone == "Asia/Shanghai"
    assert site.site_manager
    assert 55 <= len(site.devices) <= 65
    types = Counter(d.type for d in site.devices)
    assert types["ahu"] == 1 and types["fire_panel"] == 1
    assert 18 <= types["lighting_circuit"] <= 24
    assert 8 <= types["fcu"] <= 12
    assert 6 <= types["door"] <= 10
    assert 10 <= types["smoke_detector"] <= 14
    assert 2 <= types["heat_detector"] <= 4
    zones = {z.id for z in site.zones}
    for wanted in (
        "lobby",
        "sand-table",
        "negotiation",
        "meeting",
        "offices",
        "plant-room",
        "car-park",
    ):
        assert wanted in zones
    assert sum(1 for z in zones if z.startswith("model-flat")) in (2, 3)
    assert sum(1 for z in zones if z.startswith("vip")) >= 1


def test_devices_have_names_intervals_and_systems() -> None:
    site = load_site()
    system_of = {
        "lighting_circuit": "lighting",
        "ahu": "hvac",
        "fcu": "hvac",
        "door": "access",
        "smoke_detector": "fire",
        "heat_detector": "fire",
        "fire_panel": "fire",
    }
    for d in site.devices:
        assert d.name, d.id
        assert d.system == system_of[d.type], d.id
    intervals = {d.type: d.interval_s for d in site.devices}
    assert intervals["lighting_circuit"] == 60
    assert intervals["ahu"] == 30
    assert intervals["fcu"] == 60
    assert intervals["door"] == 300
    assert intervals["smoke_detector"] == 60
    assert intervals["fire_panel"] == 60
    assert site.device("ahu-01") and site.device("door-main") and site.device("fp-01")


def test_fire_panel_points_name_the_detectors() -> None:
    site = load_site()
    panel = site.device("fp-01")
    assert panel is not None
    smoke = [d for d in site.devices if d.type == "smoke_detector"]
    heat = [d for d in site.devices if d.type == "heat_detector"]
    assert [p for p in panel.points if "-D" in p] == [
        f"L1-D{i:02d}" for i in range(1, len(smoke) + 1)
    ]
    assert [p for p in panel.points if "-H" in p] == [
        f"L1-H{i:02d}" for i in range(1, len(heat) + 1)
    ]
    assert "L1-D01" in (smoke[0].name or "")


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def test_crews_always_have_someone_on_duty() -> None:
    site = load_site()
    assert [c.id for c in site.crews] == CREWS
    for crew in site.crews:
        assert 2 <= len(crew.members) <= 4, crew.id
        assert crew.lead in {m.id for m in crew.members}
        for m in crew.members:
            assert m.phone and m.phone.startswith("+86")
        if crew.on_call:
            continue  # someone is on call outside the shifts
        for day in DAYS:
            covered = [False] * (24 * 60)
            for m in crew.members:
                for s in m.shifts:
                    if day in s.days:
                        for minute in range(_minutes(s.start), _minutes(s.end)):
                            covered[minute] = True
            assert all(covered), f"{crew.id} has nobody on {day}"
    security = site.crew("security")
    assert security is not None
    for day in DAYS:  # security also covers every minute by shifts alone
        covered = [False] * (24 * 60)
        for m in security.members:
            for s in m.shifts:
                if day in s.days:
                    for minute in range(_minutes(s.start), _minutes(s.end)):
                        covered[minute] = True
        assert all(covered), day
