"""Connection limits: live alarm streams per process, concurrent connections, the time and
size of a request's headers. The server tests run a real uvicorn on a free port, built
as the runtime builds it: with the options the app carries (``app.state.server_options``,
from ``api.server.server_options`` and the runtime's settings)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.server import SSE_MAX_CLIENTS, server_options
from tests.api.fakes import FakeRuntime, auth, make_app
from tests.fixtures.mqtt import free_port

STREAM = "/api/v1/alarms/stream"


# ------------------------------------------------------------------- SSE clients
def test_the_stream_past_the_cap_is_503_with_retry_after() -> None:
    rt = FakeRuntime()
    rt.stopping.set()  # an admitted stream sends its snapshot and ends
    rt.settings = SimpleNamespace(sse_max_clients=3)
    app, _ = make_app(rt)
    live = [rt.alarm_hub.subscribe() for _ in range(3)]  # three streams open
    with TestClient(app) as c:
        full = c.get(STREAM, headers=auth("viewer"))
        assert full.status_code == 503
        assert full.headers["retry-after"] == "10"
        assert full.headers["x-content-type-options"] == "nosniff"
        assert "3 live alarm streams" in full.json()["detail"]
        live.pop().close()  # one goes: the next is admitted
        r = c.get(STREAM, headers=auth("viewer"))
        assert r.status_code == 200 and r.text.startswith("retry: ")


def test_the_default_cap_is_200() -> None:
    assert SSE_MAX_CLIENTS == 200
    rt = FakeRuntime()  # no setting: the default
    rt.stopping.set()
    app, _ = make_app(rt)
    live = [rt.alarm_hub.subscribe() for _ in range(199)]
    with TestClient(app) as c:
        assert c.get(STREAM, headers=auth("viewer")).status_code == 200
        live.append(rt.alarm_hub.subscribe())
        assert c.get(STREAM, headers=auth("viewer")).status_code == 503
        # other routes are not limited by it
        assert c.get("/api/v1/alarms", headers=auth("viewer")).status_code == 200


# ------------------------------------------------------------------ the server
Serve = Callable[..., tuple[int, uvicorn.Server]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a uvicorn with ``server_options(settings)`` in a thread; stops them all."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(**settings: Any) -> tuple[int, uvicorn.Server]:
        rt = FakeRuntime()
        rt.settings = SimpleNamespace(**settings)
        app, _ = make_app(rt)
        port = free_port()
        # as the runtime serves the app: its own server options
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="off",
            log_level="error",
            timeout_graceful_shutdown=3,
            **app.state.server_options,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return port, server

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(10)


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    return s


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    return out


def test_a_request_past_the_connection_limit_is_503(serve: Serve) -> None:
    port, server = serve(http_max_connections=4, http_header_timeout_s=30)
    url = f"http://127.0.0.1:{port}/healthz"
    assert httpx.get(url).status_code == 200
    idle = [connect(port) for _ in range(3)]  # three held open, sending nothing
    wait_until(lambda: len(server.server_state.connections) == 3)
    r = httpx.get(url)  # the fourth connection
    assert r.status_code == 503
    for s in idle:
        s.close()
    wait_until(lambda: not server.server_state.connections)
    assert httpx.get(url).status_code == 200


def test_slow_headers_are_cut_off(serve: Serve) -> None:
    port, server = serve(http_header_timeout_s=0.5)
    silent = connect(port)
    drip = connect(port)
    t0 = time.monotonic()
    drip.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for i in range(4):  # a header line every 0.2 s does not keep it open
        time.sleep(0.2)
        try:
            drip.sendall(b"X-Slow-%d: 1\r\n" % i)
        except OSError:
            break
    answer = read_all(drip)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert read_all(silent) == b""  # nothing came: closed without a word
    assert time.monotonic() - t0 < 3
    wait_until(lambda: not server.server_state.connections)
    # a prompt client is served, also a second request on its kept-alive connection
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
        assert c.get("/healthz").status_code == 200
        time.sleep(0.3)
        assert c.get("/healthz").status_code == 200


def test_oversized_headers_are_431(serve: Serve) -> None:
    port, server = serve(http_max_header_bytes=8192)
    url = f"http://127.0.0.1:{port}/healthz"
    assert httpx.get(url, headers={"X-Pad": "a" * 4000}).status_code == 200
    # at once (h11's own limit lets a whole header block through) or in pieces
    assert httpx.get(url, headers={"X-Pad": "a" * 10_000}).status_code == 431
    s = connect(port)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    for _ in range(3):
        try:
            s.sendall(b"X-Pad: " + b"a" * 4000 + b"\r\n")
        except OSError:
            break
    assert read_all(s).startswith(b"HTTP/1.1 431 ")
    # a body does not count: headers under the limit, a larger body is fine
    r = httpx.post(url.replace("/healthz", "/api/v1/tickets"), content=b"{" + b" " * 20_000 + b"}")
    assert r.status_code == 401


def test_the_defaults() -> None:
    opts = server_options(SimpleNamespace())
    assert opts["limit_concurrency"] == 1000
    assert opts["timeout_keep_alive"] == 5
    assert opts["h11_max_incomplete_event_size"] == 16 * 1024
    assert opts["http"].header_timeout_s == 10.0
    assert opts["http"].max_header_bytes == 16 * 1024
    set_ = server_options(SimpleNamespace(http_max_connections=50, http_header_timeout_s=2.5))
    assert set_["limit_concurrency"] == 50 and set_["http"].header_timeout_s == 2.5
