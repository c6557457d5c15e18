"""A real sitewatch Runtime in a background thread, for browser tests and screenshots.

The gateway runs on its own event loop (MQTT links, rules, alarms, the HTTP API and the
page on a free port), optionally with the simulated building publishing to the same
broker. The test drives it from outside: MQTT publishes, HTTP calls and a browser.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt

from gateway.settings import load_settings
from gateway.site import Site
from tests.fixtures.mqtt import free_port

TOKENS = {
    "operator": "op-token-0123456789",
    "technician": "tech-token-0123456789",
    "viewer": "view-token-0123456789",
    "admin": "admin-token-0123456789",
}

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


class LiveGateway:
    def __init__(
        self,
        workdir: Path,
        *,
        mqtt_url: str,
        site_id: str,
        site: Site | None = None,
        simulate: bool = False,
        scenarios: tuple[str, ...] = (),
        mqtt_protocol: str = "5",
        port: int | None = None,
        embedded_broker: bool = False,
    ) -> None:
        self.workdir = workdir
        self.mqtt_url = mqtt_url
        self.site_id = site_id
        self.port = port or free_port()
        self.simulate = simulate
        self.scenarios = scenarios
        self.settings = load_settings(
            None,
            mqtt_url=mqtt_url,
            mqtt_client_id=f"gw-{site_id}",
            db_url=f"sqlite:///{workdir}/state.db",
            telemetry_db=str(workdir / "telemetry.db"),
            http_bind=f"127.0.0.1:{self.port}",
            site=site_id,
        )
        self._site = site
        self._protocol = mqtt_protocol
        # the demo's embedded broker (amqtt, MQTT 3.1.1) on mqtt_url's port, when no
        # Mosquitto is at hand
        self._embedded = embedded_broker
        if embedded_broker:
            self._protocol = "3.1.1"
        self.runtime: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle --------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> LiveGateway:
        self._thread = threading.Thread(target=self._main, name=f"gateway-{self.site_id}")
        self._thread.daemon = True
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the runtime did not get built")
        if self._error is not None:
            raise RuntimeError("the runtime failed to start") from self._error
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._error is not None:
                raise RuntimeError("the runtime stopped") from self._error
            try:
                h = httpx.get(f"{self.base}/healthz", timeout=1).json()
                if h.get("mqtt") and all(h["mqtt"].values()):
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the gateway did not become healthy")

    def _main(self) -> None:
        from sitewatch.bootstrap import build_runtime

        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            broker = None
            if self._embedded:
                from gateway.embedded_broker import start_broker

                host, _, port = self.mqtt_url.removeprefix("mqtt://").rpartition(":")
                broker = await start_broker(host, int(port))
            try:
                self.runtime = build_runtime(
                    self.settings,
                    site=self._site,
                    tokens={tok: role for role, tok in TOKENS.items()},
                    mqtt_protocol=self._protocol,
                )
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                raise
            self._ready.set()
            try:
                await self._serve()
            finally:
                if broker is not None:
                    await broker.shutdown()

        try:
            asyncio.run(run())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc

    async def _serve(self) -> None:
        assert self._stop is not None
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.runtime.run(self._stop))
            if self.simulate:
                from simulators.runner import simulate

                tg.create_task(
                    simulate(
                        self.mqtt_url,
                        self.runtime.site,
                        site_id=self.site_id,
                        stop=self._stop,
                        scenarios=self.scenarios,
                    )
                )

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> LiveGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- driving it -------------------------------------------------------------------
    def publish(
        self, system: str, device: str, kind: str, payload: Any, retain: bool = False
    ) -> None:
        """One message over real MQTT, QoS 1, as a device would send it."""
        host, _, port = self.mqtt_url.removeprefix("mqtt://").rpartition(":")
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.connect(host, int(port))
        client.loop_start()
        try:
            body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
            info = client.publish(
                f"sitewatch/{self.site_id}/{system}/{device}/{kind}", body, qos=1, retain=retain
            )
            info.wait_for_publish(5)
        finally:
            client.disconnect()
            client.loop_stop()

    def api(self, method: str, path: str, role: str = "admin", body: Any = None) -> Any:
        r = httpx.request(
            method,
            self.base + path,
            headers={"Authorization": f"Bearer {TOKENS[role]}"},
            json=body,
            timeout=10,
        )
        r.raise_for_status()
        return r.json()

    # -- people ---------------------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        password: str,
        *,
        roles: str = "operator",
        name: str | None = None,
        crew: str | None = None,
    ) -> None:
        """A person who signs in with ``password`` (``runtime.people.users``; Argon2 runs
        here, in the test's thread, as ``sitewatch users`` would beside the gateway)."""
        users = self.runtime.people.users
        users.add(user_id, roles=roles, name=name, crew=crew)
        users.set_password(user_id, password)

    def set_password(self, user_id: str, password: str) -> None:
        """A password for a user the gateway has (a crew member of the site file)."""
        self.runtime.people.users.set_password(user_id, password)

    def login(self, user: str, password: str) -> httpx.Response:
        """``POST /api/v1/auth/login`` from outside the browser (its cookies are not kept)."""
        return httpx.post(
            self.base + "/api/v1/auth/login",
            json={"user": user, "password": password},
            timeout=10,
        )

    def wait_for(self, fn: Any, timeout: float = 5.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.05)
        raise TimeoutError(f"timed out waiting for {what} (last: {last!r})")


def now_ms() -> int:
    return int(time.time() * 1000)


# the alarms the layout, language and accessibility tests look at: one of each priority and
# a few more, so the list is long enough for the keyboard and the folded columns
SEED = (
    ("fire", "fp-01", "event", {"type": "fire_alarm", "point": "L1-D03"}),
    ("access", "door-main", "event", {"type": "door_forced"}),
    ("hvac", "ahu-01", "telemetry", {"fault_code": 7, "fan": False}),
    ("hvac", "fcu-lobby-01", "telemetry", {"fault_code": 3}),
    ("lighting", "lt-office-01", "telemetry", {"lamp_fault": True, "on": True}),
    ("lighting", "lt-lobby-01", "telemetry", {"lamp_fault": True, "on": True}),
)


def seed_alarms(gw: LiveGateway, count: int = len(SEED)) -> list[dict[str, Any]]:
    """Raise the first ``count`` of SEED's alarms over MQTT; returns the open alarms."""
    for system, device, kind, body in SEED[:count]:
        gw.publish(system, device, kind, {"ts": now_ms(), **body})

    def raised() -> list[dict[str, Any]]:
        items = gw.api("GET", "/api/v1/alarms?state=open&limit=100")
        items = items["items"] if isinstance(items, dict) else items
        return items if len(items) >= count else []

    return list(gw.wait_for(raised, timeout=10, what=f"{count} open alarms"))
