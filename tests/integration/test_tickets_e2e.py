"""Tickets end to end: readings through the real Mosquitto into an in-process gateway with a
driven clock, the HTTP API as users see it, ticket notifications on MQTT, and webhooks
that are down while tickets change (also across a gateway restart, `sitewatch run`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt
import pytest

from gateway.clock import ManualClock
from gateway.outbox import sign
from gateway.settings import Settings, parse_mqtt_url
from sitewatch.bootstrap import build_runtime
from tests.fixtures.mqtt import free_port
from tests.gateway.test_outbox import Receiver
from tests.integration.gateway_proc import TOKEN, GatewayProc

pytestmark = pytest.mark.integration

MON_10H = 1_767_578_400.0  # 2026-01-05T02:00:00Z: Monday 10:00 in Asia/Shanghai
TOKENS = {
    "op-token-12345": "operator",
    "tech-token-1234": "technician",
    "view-token-1234": "viewer",
    "admin-token-123": "admin",
}
SECRET = "e2e-webhook-secret"
_T = TypeVar("_T")


def wait_for(pred: Callable[[], _T], timeout: float = 20.0, what: str = "condition") -> _T:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.05)


class Gateway:
    """An in-process Runtime (own loop in a thread), real Mosquitto, HTTP on a free port."""

    def __init__(
        self, tmp: Path, mqtt_url: str, site: str, clock: ManualClock, webhooks: str = ""
    ) -> None:
        port = free_port()
        self.settings = Settings(
            mqtt_url=mqtt_url,
            mqtt_client_id=f"gw-{site}",
            site=site,
            db_url=f"sqlite:///{tmp}/state.db",
            telemetry_db=f"{tmp}/telemetry.db",
            http_bind=f"127.0.0.1:{port}",
            webhooks=webhooks,
            webhook_secret=SECRET,
            outbox_backoff_max_s=0.3,
        )
        self.clock = clock
        self.rt = build_runtime(self.settings, clock=clock, tokens=dict(TOKENS))
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def run() -> None:
            self._stop = asyncio.Event()
            await self.rt.run(self._stop)

        self._loop.run_until_complete(run())

    def start(self) -> Gateway:
        self._thread.start()

        def healthy() -> bool:
            try:
                return bool(self.http.get("/healthz").json()["status"] == "ok")
            except httpx.HTTPError:
                return False

        wait_for(healthy, what="gateway healthy")
        return self

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self.http.close()

    def call(self, method: str, path: str, role: str = "admin", **kw: Any) -> httpx.Response:
        token = next(t for t, r in TOKENS.items() if r == role)
        return self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)

    def tickets(self, **params: str) -> list[dict[str, Any]]:
        r = self.call("GET", "/api/v1/tickets", params=params)
        assert r.status_code == 200
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def move(self, tid: int, to: str, role: str = "technician", **body: Any) -> httpx.Response:
        return self.call("POST", f"/api/v1/tickets/{tid}/transition", role, json={"to": to, **body})


class Devices:
    """Devices publishing through Mosquitto at QoS 1."""

    def __init__(self, url: str, site: str) -> None:
        t = parse_mqtt_url(url)
        self.site = site
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"dev-{uuid.uuid4().hex}")
        self.c.connect(t.host, t.port)
        self.c.loop_start()

    def telemetry(self, system: str, device: str, ts_ms: int, **values: Any) -> None:
        info = self.c.publish(
            f"sitewatch/{self.site}/{system}/{device}/telemetry",
            json.dumps({"ts": ts_ms, "values": values}),
            qos=1,
        )
        info.wait_for_publish(10)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


class Listener:
    """Subscribed to the gateway's ticket notifications."""

    def __init__(self, url: str, site: str) -> None:
        t = parse_mqtt_url(url)
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"ls-{uuid.uuid4().hex}")
        ready = threading.Event()

        def on_connect(c: Any, u: Any, f: Any, rc: Any, p: Any = None) -> None:
            c.subscribe(f"sitewatch/{site}/tickets/#", qos=1)
            ready.set()

        self.c.on_connect = on_connect
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, json.loads(m.payload)))
        self.c.connect(t.host, t.port)
        self.c.loop_start()
        ready.wait(10)
        time.sleep(0.2)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MON_10H)


@pytest.fixture
def gw(
    tmp_path: Path, mosquitto_url: str, unique_site: str, clock: ManualClock
) -> Iterator[Gateway]:
    g = Gateway(tmp_path, mosquitto_url, unique_site, clock).start()
    yield g
    g.stop()


def clog(dev: Devices, clock: ManualClock, device: str = "ahu-01") -> None:
    now = clock.now_ms()
    dev.telemetry("hvac", device, now - 700_000, filter_dp=300.0)
    dev.telemetry("hvac", device, now - 50_000, filter_dp=310.0)


def test_tickets_through_mosquitto_and_the_api(
    gw: Gateway, mosquitto_url: str, unique_site: str, clock: ManualClock
) -> None:
    dev = Devices(mosquitto_url, unique_site)
    heard = Listener(mosquitto_url, unique_site)
    try:
        # -- filter clogging: one hvac ticket, assigned to the member on shift ---------
        clog(dev, clock)
        [t1] = wait_for(lambda: gw.tickets(rule="hvac.filter_clogged"), what="filter ticket")
        assert t1["crew"] == "hvac" and t1["status"] == "assigned"
        assert t1["assignee"] == "hvac-zhang"  # Monday 10:00: on shift Mon-Fri 08-20
        assert t1["created_at"].endswith("Z") and t1["alarm_id"] is None
        dev.telemetry("hvac", "ahu-01", clock.now_ms() - 10_000, filter_dp=320.0)
        time.sleep(0.5)
        assert len(gw.tickets(rule="hvac.filter_clogged")) == 1  # one ticket per fault
        wait_for(
            lambda: any(m["ticket"]["id"] == t1["id"] for _, m in heard.got),
            what="the ticket on MQTT",
        )
        topic, msg = next((tp, m) for tp, m in heard.got if m["ticket"]["id"] == t1["id"])
        assert topic == f"sitewatch/{unique_site}/tickets/hvac" and msg["change"] == "create"

        # -- fixed: back to normal, resolved -> closed; the same fault again = a repeat -
        dev.telemetry("hvac", "ahu-01", clock.now_ms() - 5_000, filter_dp=90.0)
        wait_for(
            lambda: (
                gw.call("GET", f"/api/v1/tickets/{t1['id']}").json()["condition_active"] is False
            ),
            what="condition back to normal",
        )
        assert gw.move(t1["id"], "in_progress").status_code == 200
        done = gw.move(t1["id"], "resolved").json()
        assert done["status"] == "closed" and done["closed_at"] is not None
        clock.advance(86_400)
        clog(dev, clock)
        t2 = wait_for(
            lambda: [t for t in gw.tickets(rule="hvac.filter_clogged") if t["id"] != t1["id"]],
            what="repeat ticket",
        )[0]
        assert t2["repeat_of"] == t1["id"] and t2["crew"] == "hvac"

        # -- a complaint from a person goes to customer service ------------------------
        r = gw.call(
            "POST",
            "/api/v1/tickets",
            "operator",
            json={
                "title": "Too cold in VIP room 1",
                "category": "complaint",
                "priority": "low",
                "description": "customer waiting",
            },
        )
        assert r.status_code == 201, r.text
        comp = r.json()
        assert comp["crew"] == "customer-service" and comp["source"] == "person"
        assert comp["status"] == "assigned" and comp["assignee"] == "cs-lin"  # Tue 10:00
        assert (
            gw.call(
                "POST",
                "/api/v1/tickets",
                "viewer",
                json={"title": "x", "category": "complaint", "priority": "low"},
            ).status_code
            == 403
        )
        bad = gw.call(
            "POST",
            "/api/v1/tickets",
            "technician",
            json={"title": "x", "category": "repair", "priority": "low"},
        )
        assert bad.status_code == 422

        # -- illegal transitions: 409 with the allowed moves ---------------------------
        r = gw.move(comp["id"], "resolved")
        assert r.status_code == 409
        assert r.json()["detail"]["allowed"] == ["assigned", "in_progress", "cancelled"]
        assert gw.move(comp["id"], "closed", "operator").status_code == 409

        # -- escalation when a clock nearly runs out (driven clock) --------------------
        clock.advance(0.81 * 4 * 3600)  # low: in progress within 4 h
        esc = wait_for(
            lambda: (
                (t := gw.call("GET", f"/api/v1/tickets/{comp['id']}").json())["escalation"] >= 1
                and t
            ),
            what="escalation",
        )
        assert esc["escalated_to"] == "cs-lin"  # the crew lead
        assert any(
            j["action"] == "escalate" and j["detail"]["clock"] == "respond" for j in esc["journal"]
        )
        wait_for(
            lambda: any(
                m["ticket"]["id"] == comp["id"] and m["change"] == "escalate" for _, m in heard.got
            ),
            what="escalation on MQTT",
        )

        # -- closed loop: no resolve while the alarm is active (unless a note says why) -
        dev.telemetry("hvac", "fcu-lobby-01", clock.now_ms() - 1000, fault_code=5)
        [ft] = wait_for(lambda: gw.tickets(rule="hvac.fault"), what="fault ticket")
        assert ft["alarm_id"] is not None
        assert gw.move(ft["id"], "in_progress").status_code == 200
        alarm = gw.call("GET", f"/api/v1/alarms/{ft['alarm_id']}").json()
        assert alarm["out_of_service"] is True and ft["id"] in alarm["ticket_ids"]
        r = gw.move(ft["id"], "resolved")
        assert r.status_code == 409 and r.json()["detail"]["closed_loop"] is True
        dev.telemetry("hvac", "fcu-lobby-01", clock.now_ms(), fault_code=0)
        wait_for(
            lambda: (
                gw.call("GET", f"/api/v1/alarms/{ft['alarm_id']}").json()["state"]
                != "active_unacked"
            ),
            what="alarm cleared",
        )
        r = gw.move(ft["id"], "resolved")
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert gw.call("GET", f"/api/v1/alarms/{ft['alarm_id']}").json()["out_of_service"] is False

        # -- figures ---------------------------------------------------------------------
        k = gw.call("GET", "/api/v1/kpis", "viewer").json()
        assert "activations" in k["alarms"]
        m = k["maintenance"]
        assert m["overall"]["repeat_fault_pct"] is not None
        assert {"hvac", "customer-service"} <= set(m["by_crew"])
        assert "hvac-zhang" in m["by_technician"]
    finally:
        dev.close()
        heard.close()


def test_webhook_down_during_50_changes_gets_all_in_order(
    tmp_path: Path, mosquitto_url: str, unique_site: str, clock: ManualClock
) -> None:
    hook = Receiver(free_port())
    gw = Gateway(tmp_path, mosquitto_url, unique_site, clock, webhooks=hook.url).start()
    try:
        t = gw.call(
            "POST",
            "/api/v1/tickets",
            json={"title": "w0", "category": "cleaning", "priority": "low"},
        ).json()  # change 1
        assert gw.move(t["id"], "in_progress").status_code == 200  # change 2
        for i in range(48):  # changes 3..50
            to = "on_hold" if i % 2 == 0 else "in_progress"
            assert gw.move(t["id"], to, note=f"step {i}").status_code == 200
        rows = gw.rt.outbox.rows(f"webhook:{hook.url}")  # (MQTT rows go out meanwhile)
        assert len(rows) == 50 and hook.got == []
        expected = [r["payload"] for r in rows]
        hook.start()
        wait_for(lambda: len(hook.got) >= 50, what="50 webhook deliveries")
        assert [b.decode() for _, b in hook.got] == expected
        assert all(h["X-Sitewatch-Signature"] == sign(SECRET, b) for h, b in hook.got)
    finally:
        gw.stop()
        hook.stop()


def _post(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        result: dict[str, Any] = json.loads(r.read())
        return result


def test_webhook_gets_all_50_in_order_across_a_gateway_restart(
    tmp_path: Path, mosquitto_url: str, unique_site: str
) -> None:
    hook = Receiver(free_port())
    gw = GatewayProc(
        tmp_path,
        SITEWATCH_SITE=unique_site,
        SITEWATCH_MQTT_CLIENT_ID=f"gw-{unique_site}",
        SITEWATCH_MQTT_URL=mosquitto_url,
        SITEWATCH_WEBHOOKS=hook.url,
        SITEWATCH_WEBHOOK_SECRET=SECRET,
        SITEWATCH_OUTBOX_BACKOFF_MAX_S="0.5",
    )
    gw.start()
    try:
        for i in range(25):
            _post(
                gw.base,
                "/api/v1/tickets",
                {"title": f"t{i:02d}", "category": "cleaning", "priority": "low"},
            )
        gw.kill()  # no clean shutdown: the outbox is in the database
        gw.start()
        for i in range(25, 50):
            _post(
                gw.base,
                "/api/v1/tickets",
                {"title": f"t{i:02d}", "category": "enquiry", "priority": "low"},
            )
        assert hook.got == []
        hook.start()
        wait_for(lambda: len(hook.got) >= 50, timeout=30, what="50 webhook deliveries")
        time.sleep(0.5)
        bodies = hook.bodies()
        assert [b["ticket"]["title"] for b in bodies] == [f"t{i:02d}" for i in range(50)]
        assert len(bodies) == 50 and {b["change"] for b in bodies} == {"create"}
        assert all(h["X-Sitewatch-Signature"] == sign(SECRET, b) for h, b in hook.got)
        assert bodies[30]["ticket"]["crew"] == "customer-service"
    except urllib.error.HTTPError as exc:
        raise AssertionError(exc.read().decode()) from exc
    finally:
        gw.stop()
        hook.stop()
