"""An in-process gateway for integration tests: a real :class:`gateway.runtime.Runtime` against a
real Mosquitto, its own site id and client id, SQLite state and the embedded telemetry store
in a temp dir, the HTTP API on a free port, one token per role.

The runtime runs on an event loop of its own in a background thread, so tests stay plain
synchronous functions that talk to it as users do: MQTT in (paho, QoS 1), HTTP and SSE out
(httpx). White-box peeks (``h.rt.engine``, ``h.rt.alarms``) are allowed but go through
:meth:`RuntimeHarness.call` so they run on the runtime's own loop.

    with RuntimeHarness(tmp_path, mosquitto_url, unique_site) as h:
        h.telemetry("hvac", "fcu-lobby-01", {"zone_temp": 27, "setpoint": 22}, ts=h.now_ms())
        alarm = h.wait_alarm("fcu-lobby-01", rule="hvac.zone_temp_high")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import paho.mqtt.client as mqtt

from gateway.clock import Clock, SystemClock
from gateway.runtime import Runtime
from gateway.settings import Settings, parse_mqtt_url
from sitewatch.bootstrap import build_runtime
from tests.fixtures.mqtt import free_port

TOKENS = {
    "viewer": "viewer-token-1234",
    "operator": "operator-token-1234",
    "technician": "technician-token-1234",
    "integrator": "integrator-token-1234",
    "admin": "admin-token-1234",
}
WAIT_S = 20.0  # generous: shared machines are noisy; functional checks only
_T = TypeVar("_T")


class OffsetClock:
    """The system clock moved by ``offset_s`` (e.g. to put the gateway at night, site time)."""

    __slots__ = ("offset_s",)

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def now(self) -> float:
        return time.time() + self.offset_s

    def now_ms(self) -> int:
        return int(round((time.time() + self.offset_s) * 1000))

    def monotonic(self) -> float:
        return time.monotonic()


def wait_for(pred: Callable[[], _T | None], timeout: float = WAIT_S, what: str = "condition") -> _T:
    """Poll ``pred`` until it returns something truthy; that value, or TimeoutError."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        time.sleep(0.05)


class Publisher:
    """A paho client (MQTT 5) that publishes at QoS 1 and waits for each PUBACK."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        t = parse_mqtt_url(url)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pub-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.max_inflight_messages_set(100)
        self.client.connect(t.host, t.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(WAIT_S)
            assert info.is_published(), f"no PUBACK for {topic}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """Collects the messages of ``topic`` (retained ones included) in a queue."""

    def __init__(self, url: str, topic: str) -> None:
        t = parse_mqtt_url(url)
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"sub-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(t.host, t.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        if not subscribed.wait(WAIT_S):
            raise TimeoutError(f"no SUBACK for {topic}")

    def take(
        self, pred: Callable[[mqtt.MQTTMessage], bool], timeout: float = WAIT_S
    ) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching MQTT message")
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if pred(m):
                return m

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def clear_retained(url: str, site: str, pub: Publisher | None = None) -> None:
    """Remove every retained message under ``sitewatch/<site>/`` (a test's leftovers on a
    shared broker: device statuses, the gateway's alarm topics)."""
    sub = Subscriber(url, f"sitewatch/{site}/#")
    time.sleep(0.3)
    topics = set()
    while not sub.messages.empty():
        m = sub.messages.get()
        if m.retain and m.payload:
            topics.add(m.topic)
    sub.close()
    own = pub is None
    pub = pub or Publisher(url)
    try:
        for t in topics:
            pub.publish(t, b"", qos=1, retain=True)
    finally:
        if own:
            pub.close()


@dataclass
class SseEvent:
    id: int | None
    event: str | None
    data: Any


@dataclass
class SseClient:
    """Reads ``GET /api/v1/alarms/stream`` in a thread; events and comment lines land in
    queues. ``ended`` is set when the server closes the stream."""

    base: str
    token: str | None = None
    query_token: str | None = None
    last_event_id: int | None = None
    events: queue.Queue[SseEvent] = field(default_factory=queue.Queue)
    comments: queue.Queue[str] = field(default_factory=queue.Queue)
    ended: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = None
    _client: httpx.Client | None = None
    _opened: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SseClient:
        self._thread = threading.Thread(target=self._run, daemon=True, name="sse-client")
        self._thread.start()
        if not self._opened.wait(WAIT_S):
            raise TimeoutError("SSE stream did not open")
        return self

    def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        params = {"access_token": self.query_token} if self.query_token else None
        try:
            with httpx.Client(timeout=httpx.Timeout(5.0, read=None)) as client:
                self._client = client
                with client.stream(
                    "GET", self.base + "/api/v1/alarms/stream", headers=headers, params=params
                ) as r:
                    self.status = r.status_code
                    self._opened.set()
                    if r.status_code != 200:
                        return
                    ev: dict[str, Any] = {}
                    for line in r.iter_lines():
                        if line == "":
                            if "data" in ev or "event" in ev:
                                self.events.put(
                                    SseEvent(
                                        int(ev["id"]) if ev.get("id") else None,
                                        ev.get("event"),
                                        json.loads(ev["data"]) if "data" in ev else None,
                                    )
                                )
                            ev = {}
                        elif line.startswith(":"):
                            self.comments.put(line)
                        else:
                            name, _, value = line.partition(":")
                            value = value[1:] if value.startswith(" ") else value
                            ev[name] = ev.get(name, "") + value if name == "data" else value
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self._opened.set()
            self.ended.set()

    def next(
        self, pred: Callable[[SseEvent], bool] = lambda e: True, timeout: float = WAIT_S
    ) -> SseEvent:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching SSE event")
            try:
                e = self.events.get(timeout=min(left, 0.2))
            except queue.Empty:
                if self.ended.is_set() and self.events.empty():
                    raise AssertionError(f"SSE stream ended ({self.error!r})") from None
                continue
            if pred(e):
                return e

    def drain(self, quiet_s: float = 0.5) -> list[SseEvent]:
        out = []
        while True:
            try:
                out.append(self.events.get(timeout=quiet_s))
            except queue.Empty:
                return out

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        if self._thread is not None:
            self._thread.join(5)


class RuntimeHarness:
    """One in-process gateway. ``start()``/``stop()`` may be called again (a restart on
    the same database, session and telemetry store)."""

    def __init__(
        self,
        tmp_path: Path,
        mqtt_url: str,
        site: str | None = None,
        *,
        clock: Clock | None = None,
        client_id: str | None = None,
        **settings: Any,
    ) -> None:
        self.tmp = tmp_path
        self.mqtt_url = mqtt_url
        self.site = site or "t" + uuid.uuid4().hex[:10]
        self.clock: Clock = clock or SystemClock()
        self.port = free_port()
        self.settings_kw: dict[str, Any] = dict(
            mqtt_url=mqtt_url,
            mqtt_client_id=client_id or f"gw-{self.site}",
            site=self.site,
            db_url=f"sqlite:///{tmp_path}/state.db",
            telemetry_db=str(tmp_path / "telemetry.db"),
            http_bind=f"127.0.0.1:{self.port}",
            api_tokens=",".join(f"{r}={t}" for r, t in TOKENS.items()),
        )
        self.settings_kw.update(settings)
        self.rt: Runtime | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._pub: Publisher | None = None
        self._sync = 0
        self.http = httpx.Client(base_url=self.base, timeout=10.0)

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RuntimeHarness:
        ready = threading.Event()
        self._error = None

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self.rt = build_runtime(Settings(**self.settings_kw), clock=self.clock)
            ready.set()
            await self.rt.run(self._stop)

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # noqa: BLE001 - surfaced by stop()/start()
                self._error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=target, daemon=True, name=f"runtime-{self.site}")
        self._thread.start()
        ready.wait(WAIT_S)
        if self._error is not None:
            raise RuntimeError("runtime failed to start") from self._error
        wait_for(self._healthy, what="gateway healthy")
        # the subscriptions are in place once a probe on each link has come through
        for system in ("lighting", "fire"):
            self.sync(system)
        return self

    def _healthy(self) -> bool:
        if self._error is not None:
            raise RuntimeError("runtime died") from self._error
        try:
            return self.http.get("/healthz").json().get("status") == "ok"
        except httpx.HTTPError:
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful stop, as Ctrl-C: links paused, sink flushed, rule state saved."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        alive = self._thread.is_alive()
        self._thread = None
        assert not alive, "the runtime did not stop"
        if self._error is not None:
            raise RuntimeError("runtime failed") from self._error

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self._pub is not None:
                self._pub.close()
                self._pub = None
            self.http.close()

    def __enter__(self) -> RuntimeHarness:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, fn: Callable[[], _T], timeout: float = 10.0) -> _T:
        """Run ``fn()`` on the runtime's event loop (the runtime is not thread-safe)."""
        assert self._loop is not None
        fut: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001
                fut.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    # -- MQTT in -----------------------------------------------------------------------
    def now_ms(self) -> int:
        return self.clock.now_ms()

    @property
    def publisher(self) -> Publisher:
        if self._pub is None:
            self._pub = Publisher(self.mqtt_url)
        return self._pub

    def topic(self, system: str, device: str, kind: str) -> str:
        return f"sitewatch/{self.site}/{system}/{device}/{kind}"

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        self.publisher.publish(topic, body, qos=1, retain=retain)

    def telemetry(self, system: str, device: str, values: dict[str, Any], ts: int) -> None:
        self.publish(self.topic(system, device, "telemetry"), {"ts": ts, "values": values})

    def event(self, system: str, device: str, type_: str, ts: int, **extra: Any) -> None:
        self.publish(self.topic(system, device, "event"), {"ts": ts, "type": type_, **extra})

    def status(self, system: str, device: str, online: bool) -> None:
        self.publish(
            self.topic(system, device, "status"), "online" if online else "offline", retain=True
        )

    def sync(self, system: str) -> None:
        """Return once the gateway has handled everything published so far on ``system``'s
        link: a marker reading goes the same way and is waited for (one link, one order)."""
        self._sync += 1
        n = self._sync
        dev = f"zz-sync-{system}"
        self.telemetry(system, dev, {"sync": n}, ts=self.now_ms())

        def seen() -> bool:
            r = self.http.get(f"/api/v1/devices/{dev}", headers=self.auth("viewer"))
            return r.status_code == 200 and r.json()["values"].get("sync") == n

        wait_for(seen, what=f"sync marker {n} on {system}")

    def clear_retained(self) -> None:
        """Remove the retained messages this test left on the shared broker (statuses,
        the gateway's alarm topics)."""
        clear_retained(self.mqtt_url, self.site, self.publisher)

    # -- HTTP --------------------------------------------------------------------------
    @staticmethod
    def auth(role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKENS[role]}"}

    def get(self, path: str, role: str = "admin", **params: Any) -> Any:
        r = self.http.get(path, headers=self.auth(role), params=params or None)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def post(self, path: str, body: Any = None, role: str = "operator") -> httpx.Response:
        return self.http.post(path, headers=self.auth(role), json=body)

    def alarms(self, device: str | None = None, **params: Any) -> list[dict[str, Any]]:
        if device is not None:
            params["device"] = device
        params.setdefault("limit", 1000)
        body = self.get("/api/v1/alarms", **params)
        assert body["total"] == len(body["items"])
        return list(body["items"])

    def open_alarms(self, device: str, rule: str | None = None) -> list[dict[str, Any]]:
        return [a for a in self.alarms(device, state="open") if rule is None or a["rule"] == rule]

    def wait_alarm(
        self,
        device: str,
        rule: str | None = None,
        pred: Callable[[dict[str, Any]], bool] = lambda a: True,
        timeout: float = WAIT_S,
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            for a in self.alarms(device):
                if (rule is None or a["rule"] == rule) and pred(a):
                    return a
            return None

        return wait_for(find, timeout, what=f"alarm {rule} on {device}")

    def sse(self, **kw: Any) -> SseClient:
        kw.setdefault("token", TOKENS["viewer"])
        return SseClient(self.base, **kw).start()


@contextlib.contextmanager
def running(tmp_path: Path, mqtt_url: str, site: str, **kw: Any) -> Iterator[RuntimeHarness]:
    h = RuntimeHarness(tmp_path, mqtt_url, site, **kw)
    try:
        h.start()
        yield h
    finally:
        try:
            h.clear_retained()
        finally:
            h.close()
