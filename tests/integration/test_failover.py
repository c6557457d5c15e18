"""Three ``sitewatch run`` processes, one PostgreSQL, one Mosquitto, twelve sites: one
process is killed in the middle, another paused past its lease; nothing is lost, nothing
doubled (issue 17).

What it shows (the scenario is ``tests.integration.failover_rig.run_failover``; the
figures are printed by ``bench/failover.py``):

- the killed process's sites are owned again within 15 s (lease time 9 s);
- every reading published is stored exactly once in InfluxDB (1.x, ``influxd`` of the
  fixture ``tests.fixtures.influx``; each site's embedded telemetry file where no
  ``influxd`` is installed): none missing, none stored under another key, also the
  readings published while sites were handed back to the resumed process;
- every scripted fault (half raised before the kill, half while the dead process's sites
  had no owner) raised exactly one alarm and one ticket per crew;
- the paused process, resumed after another took its sites over, had its writes refused
  (the fence) and stopped serving them.

Skipped when PostgreSQL (127.0.0.1:5432, database ``test``) is not reachable.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.influx import INFLUXD_CANDIDATES
from tests.integration.failover_rig import (
    Cluster,
    Publisher,
    run_failover,
    skip_without_services,
)

pytestmark = pytest.mark.integration

TTL_S = 9.0


def _influx_available() -> bool:
    if os.environ.get("SITEWATCH_TEST_INFLUX_URL", "").strip():
        return True
    return any(os.access(c, os.X_OK) for c in INFLUXD_CANDIDATES) or bool(shutil.which("influxd"))


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    skip_without_services()
    influx = request.getfixturevalue("influx_url") if _influx_available() else ""
    c = Cluster(tmp_path, n_sites=12, n_procs=3, ttl_s=TTL_S, influx_url=influx)
    try:
        yield c
    finally:
        c.close()


def test_failover_loses_and_doubles_nothing(cluster: Cluster) -> None:
    cluster.start()
    cluster.wait_spread(90)
    pub = Publisher(cluster.broker.port, cluster.sites)
    fig = run_failover(cluster, pub)
    print(fig)
    assert fig.victim_sites, "the killed process served nothing"
    assert fig.takeover_s <= 15, fig.takeover_s
    assert fig.published > 500
    assert fig.duplicates == 0 and fig.unexpected == 0, fig
    for site in cluster.sites:
        assert fig.alarms[site] == ["fire.alarm", "hvac.fault"], (site, fig.alarms[site])
        assert fig.tickets[site] == ["fire-safety", "hvac", "security"], (site, fig.tickets)
    assert fig.paused_sites
    assert fig.fenced >= 1  # the resumed process tried to write and was refused
    log = (cluster.procs[fig.paused].workdir / "gateway.log").read_text()
    assert "is no longer held" in log and "lease lost" in log
    # the API per site: the owner answers from its runtime, another process forwards to it
    live = [n for n in cluster.procs if n != fig.victim]
    cluster.wait_spread(60, procs=live)  # the hand-back over: no site between owners
    owners = cluster.owners()
    for site in cluster.sites[:3]:
        owner = owners[site]
        got = cluster.procs[owner].get(f"/api/v1/sites/{site}/alarms")
        assert got["total"] == 2, got
        other = next(n for n in live if n != owner)
        assert cluster.procs[other].get(f"/api/v1/sites/{site}/alarms")["total"] == 2
        assert cluster.health(owner)["sites"][site] == "owned"
        assert cluster.health(other)["sites"][site] == "elsewhere"
    # every reading stored, those of the sites handed back to the resumed process too (a
    # stale runtime's drain once stopped the reads of the link that had been given its
    # socket's number: tests/gateway/cluster/test_handover.py)
    assert fig.missing == 0, fig
    assert fig.stored == fig.published, fig
