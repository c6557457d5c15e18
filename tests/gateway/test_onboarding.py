"""Onboarding: a CSV file or an API call, every bad row named by its line, devices placed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from gateway.errors import Invalid
from gateway.onboarding import check, parse_csv, validate, write_site_file
from gateway.runtime import Runtime
from gateway.settings import Settings
from gateway.site import load_site
from rules.model import Telemetry
from rules.site import Site
from sitewatch.bootstrap import build_runtime
from sitewatch.cli import main

GOOD = """id,system,type,zone,name,interval
z2m-door-01,access,door,lobby,Front door (Zigbee),30
plug-07,lighting,lighting_circuit,offices,,
"""


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(None)


def test_a_good_file(site: Site) -> None:
    devices, errors = parse_csv(GOOD, site)
    assert errors == []
    assert [(d.id, d.system, d.zone, d.name, d.interval_s) for d in devices] == [
        ("z2m-door-01", "access", "lobby", "Front door (Zigbee)", 30.0),
        ("plug-07", "lighting", "offices", None, 60.0),
    ]


def test_every_bad_row_is_named_by_its_line(site: Site) -> None:
    text = (
        "id,system,type,zone,name,interval\n"
        "ok-1,access,door,lobby,,30\n"  # 2: fine
        "bad id!,access,door,lobby,,30\n"  # 3
        "x-2,plumbing,pipe,lobby,,30\n"  # 4
        "x-3,hvac,fcu,attic,,30\n"  # 5
        "x-4,hvac,fcu,lobby,,-5\n"  # 6
        "\n"  # 7: blank, skipped
        "ok-1,access,door,lobby,,30\n"  # 8: twice
        "x-5,hvac,,lobby,,30\n"  # 9
        "x-6,hvac,fcu,lobby,,30,extra\n"  # 10
        "x-7,hvac,fcu,lobby,,ten\n"  # 11
    )
    devices, errors = parse_csv(text, site)
    assert [d.id for d in devices] == ["ok-1"]
    by_line = {e.line: e.message for e in errors}
    assert sorted(by_line) == [3, 4, 5, 6, 8, 9, 10, 11]
    assert "id:" in by_line[3]
    assert "system:" in by_line[4]
    assert "zone 'attic' is not a zone of site sc01" in by_line[5]
    assert "interval:" in by_line[6]
    assert by_line[8] == "id 'ok-1' already on line 2"
    assert by_line[9] == "missing type"
    assert by_line[10] == "more than 6 values"
    assert "interval:" in by_line[11]
    with pytest.raises(Invalid, match=r"8 bad row\(s\), nothing imported: line 3: id"):
        check(errors)


def test_header_problems_are_line_1(site: Site) -> None:
    _, errors = parse_csv("id,system,zone,colour\n", site)
    assert [str(e) for e in errors] == [
        "line 1: missing column type; unknown column colour"
        " (expected id,system,type,zone,name,interval)"
    ]
    assert [str(e) for e in parse_csv("", site)[1]] == [
        "line 1: empty file: expected the header id,system,type,zone,name,interval"
    ]


def test_site_file_devices_and_devices_on_the_wire(site: Site) -> None:
    sd = site.devices[0]
    same = {
        "id": sd.id,
        "system": sd.system.value,
        "type": sd.type,
        "zone": sd.zone,
        "name": sd.name or "",
        "interval": sd.interval_s,
    }
    devices, errors = validate([same], site)
    assert (devices, errors) == ([], [])  # already there, identical: nothing to do
    moved = dict(same, zone="car-park" if sd.zone != "car-park" else "lobby")
    _, errors = validate([moved], site)
    assert "already in the site file" in errors[0].message
    known = {"z9": type("S", (), {"system": "hvac"})()}
    row = {"id": "z9", "system": "access", "type": "door", "zone": "lobby"}
    _, errors = validate([row], site, first=0, where="item", known=known)
    assert str(errors[0]) == "item 0: 'z9' already reports as a hvac device"


def test_write_site_file_keeps_a_backup(tmp_path: Path, site: Site) -> None:
    src = Path(__file__).parents[2] / "gateway" / "sites" / "sc01.yaml"
    p = tmp_path / "site.yaml"
    p.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    devices, _ = parse_csv(GOOD, site)
    new = write_site_file(p, devices)
    assert new.device("z2m-door-01") is not None
    again = load_site(p)
    assert again.device("plug-07").zone == "offices"  # type: ignore[union-attr]
    assert len(again.devices) == len(site.devices) + 2
    assert (tmp_path / "site.yaml.bak").read_text(encoding="utf-8") == src.read_text("utf-8")
    raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    assert raw["devices"][-1] == {
        "id": "plug-07",
        "system": "lighting",
        "type": "lighting_circuit",
        "zone": "offices",
    }


def test_cli_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = Path(__file__).parents[2] / "gateway" / "sites" / "sc01.yaml"
    sitef = tmp_path / "site.yaml"
    sitef.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    csvf = tmp_path / "devices.csv"
    csvf.write_text(GOOD + "bad,hvac,fcu,nowhere,,\n", encoding="utf-8")
    monkeypatch.delenv("SITEWATCH_SITE_FILE", raising=False)
    assert main(["devices", "import", str(csvf), "--site-file", str(sitef)]) == 1
    out = capsys.readouterr()
    assert f"{csvf}: line 4: zone 'nowhere' is not a zone of site sc01" in out.out
    assert load_site(sitef).device("plug-07") is None  # nothing imported
    csvf.write_text(GOOD, encoding="utf-8")
    assert main(["devices", "import", str(csvf), "--site-file", str(sitef)]) == 0
    assert load_site(sitef).device("plug-07") is not None
    capsys.readouterr()
    # the same file again: every row is already there, identical; nothing to do
    assert main(["devices", "import", str(csvf), "--site-file", str(sitef)]) == 0
    assert "OK: 0 new device(s)" in capsys.readouterr().out
    # no site file: the shipped demo site is not written
    assert main(["devices", "import", str(csvf)]) == 2
    assert "no site file to add them to" in capsys.readouterr().err


# -- POST /api/v1/devices on a real runtime (no broker needed: nothing connects) ----------
TOKENS = {"integrator": "integrator-token-1", "operator": "operator-token-1"}


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    s = Settings(
        db_url=f"sqlite:///{tmp_path}/state.db",
        telemetry_db=str(tmp_path / "tel.db"),
        api_tokens=",".join(f"{r}={t}" for r, t in TOKENS.items()),
    )
    return build_runtime(s, serve_http=False)


def post(client: TestClient, body: Any, role: str = "integrator") -> Any:
    return client.post(
        "/api/v1/devices", json=body, headers={"Authorization": f"Bearer {TOKENS[role]}"}
    )


def test_post_devices_places_new_and_unzoned_devices(rt: Runtime) -> None:
    # a device seen on the wire but not in the site file: unzoned on the Building page
    rt.engine.on_telemetry(Telemetry("sc01", "access", "z2m-door-9", 1, {"door_open": False}, 1))
    with TestClient(rt.make_app()) as client:
        site = client.get("/api/v1/site", headers={"Authorization": "Bearer operator-token-1"})
        assert "z2m-door-9" in [d["id"] for d in site.json()["unzoned"]]
        r = post(
            client,
            {
                "devices": [
                    {
                        "id": "z2m-door-9",
                        "system": "access",
                        "type": "door",
                        "zone": "lobby",
                        "name": "Side door",
                        "interval": 30,
                    },
                    {"id": "plug-new", "system": "lighting", "type": "plug", "zone": "offices"},
                ]
            },
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["total"] == 2
        door = body["items"][0]
        assert (door["zone"], door["name"], door["type"], door["interval_s"]) == (
            "lobby",
            "Side door",
            "door",
            30.0,
        )
        assert body["items"][1]["registered"] == "site_file"
        layout = client.get("/api/v1/site", headers={"Authorization": "Bearer operator-token-1"})
        lobby = next(z for z in layout.json()["zones"] if z["id"] == "lobby")
        assert "z2m-door-9" in [d["id"] for d in lobby["devices"]]
        assert "z2m-door-9" not in [d["id"] for d in layout.json()["unzoned"]]
    assert rt.site.device("plug-new") is not None
    assert {"z2m-door-9", "plug-new"} <= rt.engine.take_dirty()


def test_post_devices_names_every_bad_item_and_places_nothing(rt: Runtime) -> None:
    with TestClient(rt.make_app()) as client:
        r = post(
            client,
            {
                "devices": [
                    {"id": "ok-9", "system": "access", "type": "door", "zone": "lobby"},
                    {"id": "x", "system": "access", "type": "door", "zone": "mars"},
                    {"id": "y", "system": "water", "type": "door", "zone": "lobby"},
                ]
            },
        )
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert "item 1: zone 'mars'" in detail and "item 2: system" in detail
        assert "ok-9" not in rt.registry.devices
        assert (
            post(
                client,
                {"devices": [{"id": "a", "system": "access", "type": "door", "zone": "lobby"}]},
                role="operator",
            ).status_code
            == 403
        )
        assert post(client, {"devices": []}).status_code == 422
