"""The durable outbox: in order per destination, retried with backoff, signed, surviving a
restart. A real local HTTP receiver (stopped and started), SQLite in a temp dir."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import threading
from collections.abc import Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from gateway.clock import ManualClock
from gateway.outbox import Outbox, parse_webhooks, sign
from gateway.store import make_engine, migrate
from tests.fixtures.mqtt import free_port

SECRET = "webhook-secret"
_T = TypeVar("_T")


class Receiver:
    """A webhook receiver that can be down (nothing listens) or answer an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer._lock:
                    if outer.fail_next > 0:
                        outer.fail_next -= 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    outer.got.append((dict(self.headers.items()), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _, b in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(free_port())
    yield r
    r.stop()


class FakeLink:
    def __init__(self) -> None:
        self.connected = False
        self.sent: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        assert isinstance(payload, bytes)
        self.sent.append((topic, payload, qos, retain))


def make(tmp_path: Path, **kw: Any) -> tuple[sa.Engine, Outbox]:
    engine = make_engine(f"sqlite:///{tmp_path}/o.db")
    migrate(engine)
    kw.setdefault("secret", SECRET)
    kw.setdefault("backoff_min_s", 0.02)
    kw.setdefault("backoff_max_s", 0.1)
    return engine, Outbox(engine, ManualClock(), "sc01", **kw)


def queue(engine: sa.Engine, box: Outbox, n: int, start: int = 0, crew: str = "hvac") -> None:
    for i in range(start, start + n):
        with engine.begin() as conn:
            box.add(
                conn,
                crew=crew,
                ticket_id=i,
                now_ms=i,
                message={"n": i, "ticket": {"id": i, "crew": crew}},
            )


async def until(cond: Any, limit_s: float = 20.0) -> None:
    """Poll ``cond`` every 20 ms until it holds (TimeoutError after ``limit_s``)."""
    for _ in range(int(limit_s / 0.02)):
        if cond():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")


async def run_until(box: Outbox, cond: Any, limit_s: float = 20.0) -> None:
    task = asyncio.create_task(box.run())
    try:
        await until(cond, limit_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def arun(coro: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run`` on a thread of its own: correct even when the calling thread already
    has a running loop (a session-wide Playwright fixture keeps one)."""
    box: dict[str, Any] = {}

    def main() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            box["error"] = exc

    t = threading.Thread(target=main)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    result: _T = box["result"]
    return result


def test_signature_and_urls() -> None:
    body = b'{"a":1}'
    assert sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert parse_webhooks(" http://a/x, https://b ,,") == ["http://a/x", "https://b"]
    with pytest.raises(ValueError):
        parse_webhooks("ftp://a")


def test_webhook_down_gets_every_message_in_order_once_back(
    tmp_path: Path, receiver: Receiver
) -> None:
    engine, box = make(tmp_path, webhooks=[receiver.url])

    async def main() -> None:
        task = asyncio.create_task(box.run())
        queue(engine, box, 50)
        box.wake()
        await asyncio.sleep(0.5)  # down: several failed attempts on the first row
        assert receiver.got == []
        rows = box.rows()
        assert len(rows) == 50 and rows[0]["attempts"] >= 1 and rows[0]["last_error"]
        assert all(r["attempts"] == 0 for r in rows[1:])  # strictly in order: no skipping
        receiver.start()
        # the receiver records a body before it answers: wait for the outbox's own count
        await until(lambda: len(receiver.got) >= 50 and box.delivered >= 50)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    arun(main())
    assert [b["n"] for b in receiver.bodies()] == list(range(50))
    for headers, body in receiver.got:
        assert headers["X-Sitewatch-Signature"] == sign(SECRET, body)
        assert headers["Content-Type"] == "application/json"
    ids = [int(h["X-Sitewatch-Delivery"]) for h, _ in receiver.got]
    assert ids == sorted(ids)
    assert box.pending() == {}


def test_outbox_survives_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    engine, box = make(tmp_path, webhooks=[receiver.url])
    queue(engine, box, 20)

    async def first() -> None:  # the receiver is down for the whole first life
        task = asyncio.create_task(box.run())
        await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    arun(first())
    engine.dispose()
    engine, box2 = make(tmp_path, webhooks=[receiver.url])  # the gateway starts again
    queue(engine, box2, 20, start=20)
    receiver.start()
    arun(run_until(box2, lambda: len(receiver.got) >= 40))
    assert [b["n"] for b in receiver.bodies()] == list(range(40))


def test_an_error_answer_is_retried_before_anything_later(
    tmp_path: Path, receiver: Receiver
) -> None:
    engine, box = make(tmp_path, webhooks=[receiver.url])
    receiver.start()
    receiver.fail_next = 3
    queue(engine, box, 5)
    arun(run_until(box, lambda: len(receiver.got) >= 5 and box.delivered >= 5))
    assert [b["n"] for b in receiver.bodies()] == [0, 1, 2, 3, 4]
    assert box.failures == 3 and box.delivered == 5


def test_mqtt_waits_for_the_link_and_keeps_order(tmp_path: Path, receiver: Receiver) -> None:
    link = FakeLink()
    engine, box = make(tmp_path, mqtt=link, webhooks=[receiver.url])
    receiver.start()
    queue(engine, box, 3, crew="cleaning")
    queue(engine, box, 2, start=3, crew="security")

    async def main() -> None:
        task = asyncio.create_task(box.run())
        await until(lambda: len(receiver.got) >= 5)  # the webhook does not wait for MQTT
        assert link.sent == []
        link.connected = True
        box.wake()
        await until(lambda: len(link.sent) >= 5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    arun(main())
    assert [t for t, *_ in link.sent] == ["sitewatch/sc01/tickets/cleaning"] * 3 + [
        "sitewatch/sc01/tickets/security"
    ] * 2
    assert [json.loads(p)["n"] for _, p, _, _ in link.sent] == [0, 1, 2, 3, 4]
    assert {(q, r) for _, _, q, r in link.sent} == {(1, False)}


def test_deliver_pending_stops_at_the_first_failure(tmp_path: Path, receiver: Receiver) -> None:
    engine, box = make(tmp_path, webhooks=[receiver.url])
    queue(engine, box, 3)
    assert arun(box.deliver_pending()) == 0
    receiver.start()
    assert arun(box.deliver_pending()) == 3
    assert box.pending() == {}
