"""A cluster on one machine for the fail-over test and ``bench/failover.py``.

Lifecycle: :class:`Cluster` makes a cluster schema of its own on the test PostgreSQL, a
private Mosquitto with persistence, ``n_sites`` small site files (two air handlers and a
fire panel; long reporting intervals, so no device goes silent within a run) and
``n_procs`` ``sitewatch run`` processes serving them all (``SITEWATCH_SITES_DIR``),
writing their readings to an InfluxDB 1.x database of the cluster's own when given
``influx_url`` (else each site's embedded telemetry file).
:class:`Publisher` sends every site's readings (each with a timestamp of its own, so
"stored once" is checkable point by point: site, device, time) and the scripted faults
(``fault_code`` on ``ahu-01``: one alarm, a ticket to ``hvac``; a ``fire_alarm`` event:
one alarm, tickets to ``security`` and ``fire-safety``).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import sqlalchemy as sa

from tests.fixtures.mqtt import Broker, start_private_mosquitto
from tests.integration.gateway_proc import GatewayProc, influx_query
from tests.pg import PG_URL


def skip_without_services() -> None:
    """Skip the calling test when Mosquitto or PostgreSQL (at :data:`PG_URL`) is absent."""
    import shutil

    import pytest

    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("no mosquitto")
    try:
        with sa.create_engine(PG_URL).connect():
            pass
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")


SITE_FILE = """\
site: {site}
name: Building {site}
timezone: UTC
site_manager: Manager {site}
zones:
  - {{id: lobby, name: Lobby, floor: "1F"}}
  - {{id: plant-room, name: Plant room, floor: "B1"}}
devices:
  - {{id: ahu-01, system: hvac, type: ahu, zone: plant-room, name: AHU 1, interval_s: 3600}}
  - {{id: ahu-02, system: hvac, type: ahu, zone: lobby, name: AHU 2, interval_s: 3600}}
  - {{id: fp-01, system: fire, type: fire_panel, zone: plant-room, name: Panel, interval_s: 3600,
     points: [L1-MCP01]}}
crews:
{crews}
"""
CREWS = ("hvac", "security", "fire-safety", "electrical")
ALL_WEEK = "[mon, tue, wed, thu, fri, sat, sun]"


def site_yaml(site: str) -> str:
    crews = "".join(
        f"  - id: {c}\n    name: {c}\n    lead: {c}-lead\n    on_call: {c}-lead\n"
        f"    members:\n      - id: {c}-lead\n        name: Lead {c}\n"
        f'        shifts: [{{days: {ALL_WEEK}, start: "00:00", end: "24:00"}}]\n'
        for c in CREWS
    )
    return SITE_FILE.format(site=site, crews=crews)


@dataclass
class Publisher:
    """Publishes ``sitewatch/<site>/hvac/ahu-0N/telemetry`` for every site every
    ``period_s``; remembers every (site, device, ts) sent."""

    url_port: int
    sites: list[str]
    period_s: float = 0.5
    sent: dict[str, set[tuple[str, int]]] = field(default_factory=dict)
    faults: dict[str, bool] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}"
        )
        self.client.connect("127.0.0.1", self.url_port)
        self.client.loop_start()
        self.lock = threading.Lock()
        for s in self.sites:
            self.sent[s] = set()

    def _send(self, topic: str, payload: dict[str, Any]) -> None:
        info = self.client.publish(topic, json.dumps(payload), qos=1)
        info.wait_for_publish(10)

    def reading(self, site: str, device: str, ts: int) -> None:
        fault = 3 if device == "ahu-01" and self.faults.get(site) else 0
        values = {"zone_temp": 21.0, "setpoint": 22.0, "fan": True, "fault_code": fault}
        self._send(f"sitewatch/{site}/hvac/{device}/telemetry", {"ts": ts, "values": values})
        with self.lock:
            self.sent[site].add((device, ts))

    def fire(self, site: str) -> None:
        ts = int(time.time() * 1000)
        event = {"ts": ts, "type": "fire_alarm", "point": "L1-MCP01"}
        self._send(f"sitewatch/{site}/fire/fp-01/event", event)

    def fault(self, site: str) -> None:
        self.faults[site] = True

    def _run(self) -> None:
        while not self._stop.is_set():
            ts = int(time.time() * 1000)
            for s in self.sites:
                for d in ("ahu-01", "ahu-02"):
                    self.reading(s, d, ts)
            self._stop.wait(self.period_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()

    def published(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.sent.values())


class Cluster:
    def __init__(
        self,
        tmp: Path,
        n_sites: int = 12,
        n_procs: int = 3,
        ttl_s: float = 9,
        influx_url: str = "",
    ) -> None:
        self.tmp = tmp
        self.base = f"fo_{uuid.uuid4().hex[:10]}"
        self.influx_url = influx_url.rstrip("/")
        store = {"SITEWATCH_INFLUX_URL": self.influx_url, "SITEWATCH_INFLUX_DB": self.base}
        self.db_url = f"{PG_URL}?options=-csearch_path%3D{self.base}"
        self.sites = [f"b{i:02d}" for i in range(1, n_sites + 1)]
        self.admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{self.base}"')
        sites_dir = tmp / "sites"
        sites_dir.mkdir()
        for s in self.sites:
            (sites_dir / f"{s}.yaml").write_text(site_yaml(s))
        (tmp / "broker").mkdir()
        self.broker: Broker = start_private_mosquitto(tmp / "broker")
        self.procs: dict[str, GatewayProc] = {}
        for i in range(1, n_procs + 1):
            name = f"p{i}"
            work = tmp / name
            work.mkdir()
            self.procs[name] = GatewayProc(
                work,
                SITEWATCH_SITES_DIR=str(sites_dir),
                SITEWATCH_DB_URL=self.db_url,
                SITEWATCH_MQTT_URL=self.broker.url,
                SITEWATCH_TELEMETRY_DB=str(tmp / "telemetry.db"),
                SITEWATCH_INSTANCE=name,
                SITEWATCH_LEASE_TTL_S=str(ttl_s),
                **(store if self.influx_url else {}),
            )
        self.engine = sa.create_engine(PG_URL)

    def start(self) -> None:
        """Start every process at once (they see each other before taking sites)."""
        errors: list[BaseException] = []

        def start(p: GatewayProc) -> None:
            try:
                p.start(timeout=60)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(p,)) for p in self.procs.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def wait_spread(self, timeout: float, procs: list[str] | None = None) -> float:
        """Until every site is served, by no process (of ``procs``, default all) above its
        fair share: nothing is being handed on any more."""
        t0 = time.monotonic()
        names = list(self.procs) if procs is None else procs
        share = -(-len(self.sites) // len(names))
        while time.monotonic() - t0 < timeout:
            try:
                served = [self.serving(n) for n in names]
            except OSError:
                served = []
            if served and sum(len(x) for x in served) == len(self.sites):
                if max(len(x) for x in served) <= share:
                    return time.monotonic() - t0
            time.sleep(0.3)
        raise TimeoutError(f"sites not spread after {timeout} s: {self.owners()}")

    def owners(self) -> dict[str, str]:
        """site -> owner of a running lease ('' when free or expired)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    f"SELECT site, owner, expires_at_ms > CAST(EXTRACT(EPOCH FROM "
                    f'clock_timestamp()) * 1000 AS BIGINT) AS live FROM "{self.base}".leases'
                )
            ).all()
        return {r.site: (r.owner if r.live else "") for r in rows}

    def epochs(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(f'SELECT site, epoch FROM "{self.base}".leases')).all()
        return {r.site: int(r.epoch) for r in rows}

    def wait_all_owned(self, timeout: float, exclude: str = "") -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            own = self.owners()
            if len(own) == len(self.sites) and all(o and o != exclude for o in own.values()):
                return time.monotonic() - t0
            time.sleep(0.2)
        raise TimeoutError(f"not every site owned after {timeout} s: {self.owners()}")

    def health(self, proc: str, timeout: float = 30) -> dict[str, Any]:
        """``/healthz`` of ``proc``, tried again while it does not answer (busy)."""
        t0 = time.monotonic()
        while True:
            try:
                h: dict[str, Any] = self.procs[proc].get("/healthz", auth=False)
                return h
            except OSError:
                if time.monotonic() - t0 > timeout:
                    raise
                time.sleep(0.5)

    def serving(self, proc: str) -> set[str]:
        """The sites ``proc`` owns and whose broker links are up: their sessions exist and
        are subscribed (a site's first owner creates its session, and until then the broker
        keeps nothing for it: the publisher waits for that)."""
        h = self.health(proc)
        per_site = h.get("health", {})
        return {
            s
            for s, v in h["sites"].items()
            if v == "owned" and all(per_site.get(s, {}).get("mqtt", {"-": False}).values())
        }

    def rows(self, sql: str, site: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql.replace("{s}", f'"{self.base}_{site}"'))).all())

    def stored(self) -> dict[str, list[tuple[str, int]]]:
        """Every ``zone_temp`` point stored, per site: (device, ts in ms); one InfluxDB
        query for the whole cluster (or each site's embedded file)."""
        if not self.influx_url:
            return {s: self.telemetry(s) for s in self.sites}
        out: dict[str, list[tuple[str, int]]] = {s: [] for s in self.sites}
        try:
            series = influx_query(
                self.influx_url,
                'SELECT "zone_temp" FROM "hvac" GROUP BY "site", "device"',
                self.base,
            )
        except RuntimeError as exc:  # no point written yet: no database either
            if "database not found" in str(exc):
                return out
            raise
        for ser in series:
            tags = ser["tags"]
            out.setdefault(tags["site"], []).extend(
                (tags["device"], int(row[0])) for row in ser["values"]
            )
        return out

    def telemetry(self, site: str) -> list[tuple[str, int]]:
        """The ``zone_temp`` rows of ``site``'s embedded telemetry file."""
        path = self.tmp / f"telemetry-{site}.db"
        with sqlite3.connect(path) as db:
            return [
                (d, int(ts))
                for d, ts in db.execute(
                    "SELECT device, ts_ms FROM telemetry WHERE field = 'zone_temp'"
                )
            ]

    def close(self) -> None:
        for p in self.procs.values():
            if p.proc is not None and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait(10)
        self.broker.stop()
        if self.influx_url:  # the run's database, on a server that may outlive the run
            body = urllib.parse.urlencode({"q": f'DROP DATABASE "{self.base}"'}).encode()
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{self.influx_url}/query", data=body, timeout=10).close()
        self.engine.dispose()
        with self.admin.connect() as conn:
            names = [self.base, *(f"{self.base}_{s}" for s in self.sites)]
            for n in names:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{n}" CASCADE')
        self.admin.dispose()


@dataclass
class Figures:
    victim: str = ""
    victim_sites: list[str] = field(default_factory=list)
    takeover_s: float = 0.0  # SIGKILL -> every one of its sites owned again
    serving_again_s: float = 0.0  # SIGKILL -> every one of its sites served (runtime up)
    backlog: int = 0  # messages the new owners got from the sessions kept for the dead one
    paused: str = ""
    paused_sites: list[str] = field(default_factory=list)
    paused_takeover_s: float = 0.0
    fenced: int = 0  # writes refused to the paused process once resumed
    store: str = ""  # where the readings were counted: "influxdb" or "embedded"
    published: int = 0
    stored: int = 0
    duplicates: int = 0  # a reading stored twice (a second row or point of one key)
    unexpected: int = 0  # a point stored that no published reading explains
    missing: int = 0
    alarms: dict[str, list[str]] = field(default_factory=dict)
    tickets: dict[str, list[str]] = field(default_factory=dict)
    missing_detail: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    settle_s: float = 0.0  # publisher stopped -> every reading stored


def run_failover(cluster: Cluster, pub: Publisher) -> Figures:
    """The scenario (see the module doc): faults, a SIGKILL, faults while the dead
    process's sites have no owner, a SIGSTOP past the lease, a SIGCONT."""
    import signal

    fig = Figures()
    sites = cluster.sites
    pub.start()
    time.sleep(3)
    first, rest = sites[: len(sites) // 2], sites[len(sites) // 2 :]
    for s in first:  # raised while every site has an owner
        pub.fault(s)
        pub.fire(s)
    time.sleep(3)
    owners = cluster.owners()
    fig.victim = victim = max(cluster.procs, key=lambda n: list(owners.values()).count(n))
    fig.victim_sites = sorted(s for s, o in owners.items() if o == victim)
    cluster.procs[victim].kill()
    killed_at = time.monotonic()
    killed_wall = time.time() * 1000
    for s in rest:  # raised while the victim's sites have nobody
        pub.fault(s)
        pub.fire(s)
    cluster.wait_all_owned(30, exclude=victim)
    fig.takeover_s = time.monotonic() - killed_at
    live = [n for n in cluster.procs if n != victim]
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        served = set().union(*(cluster.serving(n) for n in live))
        if set(fig.victim_sites) <= served:
            break
        time.sleep(0.2)
    fig.serving_again_s = time.monotonic() - killed_at
    # published to the dead process's sites while nobody served them: kept by the broker
    # in the sessions sitewatch-<site> and delivered to the new owners
    gap = (killed_wall, killed_wall + fig.serving_again_s * 1000)
    fig.backlog = sum(
        1 for s in fig.victim_sites for _, ts in pub.sent[s] if gap[0] <= ts <= gap[1]
    )
    # the paused process: SIGSTOP past its lease, another takes over, SIGCONT
    owners = cluster.owners()
    fig.paused = paused = live[0]
    fig.paused_sites = sorted(s for s, o in owners.items() if o == paused)
    proc = cluster.procs[paused].proc
    assert proc is not None
    proc.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    other = live[1]
    while time.monotonic() - stopped_at < 60:
        own = cluster.owners()
        if all(own.get(s) == other for s in fig.paused_sites):
            break
        time.sleep(0.2)
    fig.paused_takeover_s = time.monotonic() - stopped_at
    time.sleep(1)
    proc.send_signal(signal.SIGCONT)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 20:
        h = cluster.health(paused)
        if not any(v == "owned" for s, v in h["sites"].items() if s in fig.paused_sites):
            break
        time.sleep(0.2)
    time.sleep(4)
    fig.fenced = int(cluster.health(paused)["fenced"])
    pub.stop()
    # the last readings stored; sites handed back to the resumed process in the meantime
    # are stored once their new runtime has started (the broker kept them)
    fig.store = "influxdb" if cluster.influx_url else "embedded"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 45:
        stored = cluster.stored()
        if all(pub.sent[s] <= set(stored[s]) for s in sites):
            break
        time.sleep(0.5)
    fig.settle_s = time.monotonic() - t0
    stored = cluster.stored()
    fig.missing_detail = {s: sorted(pub.sent[s] - set(stored[s]))[:5] for s in sites}
    for s in sites:
        rows = stored[s]
        fig.published += len(pub.sent[s])
        fig.stored += len(set(rows))
        fig.duplicates += len(rows) - len(set(rows))
        fig.unexpected += len(set(rows) - pub.sent[s])
        fig.missing += len(pub.sent[s] - set(rows))
        fig.alarms[s] = sorted(r.rule for r in cluster.rows("SELECT rule FROM {s}.alarms", s))
        fig.tickets[s] = sorted(r.crew for r in cluster.rows("SELECT crew FROM {s}.tickets", s))
    return fig
