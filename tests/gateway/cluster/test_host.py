"""The multi-site host without a cluster (SQLite: one process serves every site), and how
it names each site's settings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.multisite import ELSEWHERE, OWNED, Host, site_files
from gateway.settings import load_settings


def test_sites_from_the_list_or_the_folder(tmp_path: Path) -> None:
    s = load_settings(sites="a1,b2", site_file="x.yaml")
    assert site_files(s) == {"a1": "x.yaml", "b2": "x.yaml"}
    (tmp_path / "c3.yaml").write_text("site: c3\n")
    (tmp_path / "d4.yml").write_text("site: d4\n")
    s = load_settings(sites_dir=str(tmp_path))
    assert site_files(s) == {"c3": str(tmp_path / "c3.yaml"), "d4": str(tmp_path / "d4.yml")}
    s = load_settings(sites="c3,zz", sites_dir=str(tmp_path), site_file="x.yaml")
    assert site_files(s) == {"c3": str(tmp_path / "c3.yaml"), "zz": "x.yaml"}
    with pytest.raises(ValueError):
        site_files(load_settings(sites_dir=str(tmp_path / "none")))


def test_a_host_on_sqlite_serves_every_site(tmp_path: Path, mosquitto_url: str) -> None:
    settings = load_settings(
        sites="hs1,hs2",
        db_url=f"sqlite:///{tmp_path}/state.db",
        telemetry_db=str(tmp_path / "tel.db"),
        mqtt_url=mosquitto_url,
        instance="solo",
    )
    host = Host(settings)
    assert not host.clustered and host.coordinator is None
    one = host.site_settings("hs1")
    assert one.mqtt_client_id == "sitewatch-hs1" and one.site == "hs1"
    assert one.db_url.endswith("state-hs1.db") and one.telemetry_db.endswith("tel-hs1.db")

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(host.run(stop))
        for _ in range(200):
            if len(host.served) == 2 and all(
                all(lk.connected for lk in v.runtime.links) for v in host.served.values()
            ):
                break
            await asyncio.sleep(0.05)
        assert host.states() == {"hs1": OWNED, "hs2": OWNED}
        h = host.health()
        assert h["instance"] == "solo" and h["status"] == "ok"
        assert host.site_runtime("hs2") is host.served["hs2"].runtime
        assert host.site_runtime("zz") is None
        assert host.primary() is host.served["hs1"].runtime
        assert host.site_id == "hs1"  # the single-site names mean the first site
        stop.set()
        await asyncio.wait_for(task, 30)
        assert host.served == {}
        assert host.states() == {"hs1": ELSEWHERE, "hs2": ELSEWHERE}

    asyncio.run(scenario())
    assert (tmp_path / "state-hs1.db").exists() and (tmp_path / "state-hs2.db").exists()
