"""Every panel of the Grafana dashboard (deploy/grafana) against a real InfluxDB 1.6
holding two hours of the simulated site's data: each InfluxQL query returns rows; each
Prometheus query names a metric the gateway's ``/metrics`` exposes. The provisioning
files name the data sources the panels use."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gateway.decode import ContractDecoder
from gateway.metrics import Metrics
from gateway.sinks.influx_v1 import InfluxV1Sink
from gateway.site import load_site
from rules.model import Event, Telemetry
from simulators.engine import Simulation

pytestmark = pytest.mark.anyio
GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "sitewatch.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def targets(kind: str) -> list[tuple[str, dict[str, Any]]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        (p["title"], t)
        for p in dash["panels"]
        for t in p["targets"]
        if t["datasource"]["type"] == kind
    ]


def grafana_macros(q: str, site: str) -> str:
    """What Grafana substitutes before sending an InfluxQL query."""
    return (
        q.replace("$timeFilter", "time > now() - 6h")
        .replace("$__interval", "1m")
        .replace("$site", re.escape(site))
    )


async def load_simulated_site(url: str, db: str) -> str:
    site = load_site()
    now = time.time()
    sim = Simulation(site, seed=7, start=now - 2 * 3600)
    # a bad afternoon: a forced door and a fire alarm, so the event panels have rows
    decoder = ContractDecoder(site.site)
    sink = InfluxV1Sink(url, db, Metrics(), batch_size=5000, flush_interval=0.05)
    await sink.start()
    seq = 0

    def push(until: float) -> None:
        nonlocal seq
        for topic, payload, _qos, _retain in sim.generate(until):
            msg = decoder.decode(topic, payload, int(now * 1000))
            if isinstance(msg, Telemetry | Event):
                dev = site.device(msg.device)
                if dev is not None and msg.zone is None:
                    msg.zone = dev.zone
                seq += 1
                sink.submit(msg, seq)

    push(now - 3600)
    sim.inject("door_forced")
    sim.inject("fire_alarm")
    push(now - 60)
    await sink.flush()
    await sink.stop()
    return site.site


async def test_every_influxql_panel_returns_rows(influx_url: str) -> None:
    db = "grafana_" + uuid.uuid4().hex[:8]
    site = await load_simulated_site(influx_url, db)
    queries = targets("influxdb")
    assert len(queries) >= 7
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variable = dash["templating"]["list"][0]["query"]
    async with httpx.AsyncClient(base_url=influx_url, timeout=30) as http:
        answers = [
            (title, q, await http.get("/query", params={"db": db, "q": q, "epoch": "ms"}))
            for title, q in [
                (title, grafana_macros(t["query"], site))
                for title, t in [("$site variable", {"query": variable}), *queries]
            ]
        ]
    for title, q, r in answers:
        assert r.status_code == 200, (title, r.text)
        result = r.json()["results"][0]
        assert "error" not in result, (title, q, result)
        rows = sum(len(s.get("values") or []) for s in result.get("series") or [])
        assert rows > 0, (title, q)


def test_every_prometheus_panel_names_a_gateway_metric() -> None:
    families = {m.name for m in Metrics().registry.collect()}
    exposed = families | {f"{n}_total" for n in families}
    for title, t in targets("prometheus"):
        names = set(re.findall(r"\bsitewatch_[a-z_]+", t["expr"]))
        assert names and names <= exposed, (title, names - exposed)


def test_provisioning_names_the_panels_data_sources() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning/datasources/sitewatch.yaml").read_text())
    uids = {d["uid"]: d["type"] for d in ds["datasources"]}
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for p in dash["panels"]:
        for t in p["targets"]:
            assert uids[t["datasource"]["uid"]] == t["datasource"]["type"], p["title"]
    assert uids["sitewatch-influxdb"] == "influxdb"
