"""Any process answers for every site: a request for a site another member owns is
forwarded to it (``gateway.cluster.forward`` behind ``api.main.SitePaths``).

Two fake hosts (``tests.api.fakes`` runtimes) each served by a real uvicorn on a free port:
``p1`` serves ``b01``, ``p2`` serves ``b02``; a fake lease table says who owns what and at
which URL. The owner answers everything (authentication included); the front process only
carries the request and the answer, streams too."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from api.main import create_app
from gateway.cluster import LeaseStore
from gateway.cluster.forward import FORWARDED, Forwarder, member_url
from gateway.cluster.leases import Owner
from gateway.store import make_engine, migrate
from tests.api.fakes import FakeRuntime, alarm, auth
from tests.fixtures.mqtt import free_port


class FakeOwners:
    """The lease table as the forwarder reads it (``LeaseStore.owner_of``)."""

    def __init__(self, instance: str, owners: dict[str, Owner]) -> None:
        self.instance = instance
        self.ttl_ms = 9000
        self.owners = owners
        self.reads = 0

    def owner_of(self, site: str) -> Owner | None:
        self.reads += 1
        return self.owners.get(site)


class FakeHost:
    """What ``gateway.multisite.Host`` offers the HTTP layer, clustered (``leases``)."""

    def __init__(self, order: list[str], served: dict[str, FakeRuntime], leases: Any) -> None:
        self.served = served
        self.sites = {s: "" for s in order}
        self.leases = leases
        self.instance = leases.instance
        self.settings = next(iter(served.values())).settings

    def site_runtime(self, site: str) -> FakeRuntime | None:
        return self.served.get(site)

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "instance": self.instance, "sites": {}}

    def extra_routers(self) -> list[Any]:
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(next(iter(self.served.values())), name)


class Served:
    """An ASGI app on a real uvicorn in a thread of its own (its loop reachable)."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )
        self.thread.start()
        wait_until(lambda: self.server.started)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def wait_until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _runtime(site: str, alarms: list[int]) -> FakeRuntime:
    rt = FakeRuntime()
    rt.site_id = site
    assert rt.alarms is not None
    rt.alarms.alarms = {i: alarm(i, site=site) for i in alarms}
    return rt


class Pair:
    def __init__(self) -> None:
        self.b01, self.b02 = _runtime("b01", [1]), _runtime("b02", [1, 2, 3])
        self.l1 = FakeOwners("p1", {})
        self.l2 = FakeOwners("p2", {})
        self.h1 = FakeHost(["b01", "b02"], {"b01": self.b01}, self.l1)
        self.h2 = FakeHost(["b01", "b02"], {"b02": self.b02}, self.l2)
        self.app1, self.app2 = create_app(self.h1), create_app(self.h2)  # type: ignore[arg-type]
        self.p1, self.p2 = Served(self.app1), Served(self.app2)
        self.l1.owners.update(b01=Owner("p1", self.p1.url), b02=Owner("p2", self.p2.url))
        self.l2.owners.update(b01=Owner("p1", self.p1.url), b02=Owner("p2", self.p2.url))

    def forwarder(self, app: Any) -> Forwarder:
        # the middleware stack (SitePaths and its forwarder) is built on the first request
        stack = app.middleware_stack
        while not hasattr(stack, "forwarder"):
            stack = stack.app
        f: Forwarder = stack.forwarder
        return f

    def close(self) -> None:
        self.p1.stop()
        self.p2.stop()


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def test_a_read_and_a_write_through_the_process_that_does_not_own_the_site(
    pair: Pair,
) -> None:
    h = auth("operator")
    with httpx.Client(base_url=pair.p1.url, timeout=10) as c:
        got = c.get("/api/v1/sites/b02/alarms", headers=h, params={"state": "active_unacked"})
        assert got.status_code == 200 and got.json()["total"] == 3
        assert pair.b02.alarms is not None and pair.b01.alarms is not None
        assert pair.b02.alarms.calls[-1][1]["state"] == "active_unacked"  # the query came
        assert got.headers.get_list("x-content-type-options") == ["nosniff"]  # once
        acked = c.post("/api/v1/sites/b02/alarms/2/ack", headers=h, json={"note": "on it"})
        assert acked.status_code == 200, acked.text
        assert acked.json()["state"] == "active_acked" and acked.json()["site"] == "b02"
        assert pair.b02.alarms.alarms[2]["state"] == "active_acked"
        assert pair.b01.alarms.alarms[1]["state"] == "active_unacked"  # not b01's alarm 2
        # the owner does the authentication and the roles
        assert c.get("/api/v1/sites/b02/alarms").status_code == 401
        viewer = c.post("/api/v1/sites/b02/alarms/1/ack", headers=auth("viewer"), json={})
        assert viewer.status_code == 403
        assert c.post("/api/v1/sites/b02/alarms/2/ack", headers=h, json={}).status_code == 409
        assert c.get("/api/v1/sites/b01/alarms", headers=h).json()["total"] == 1  # its own
        assert c.get("/api/v1/sites/zz/alarms", headers=h).status_code == 404
    assert pair.forwarder(pair.app1).forwarded == 5
    assert pair.l1.reads == 1  # the owner read once, then cached


def test_the_single_site_routes_follow_the_first_site_to_its_owner(pair: Pair) -> None:
    with httpx.Client(timeout=10) as c:
        # p2 does not serve b01, the first site: its /api/v1/alarms is b01's, from p1
        assert c.get(pair.p2.url + "/api/v1/alarms", headers=auth("viewer")).json()["total"] == 1
        assert c.get(pair.p1.url + "/api/v1/alarms", headers=auth("viewer")).json()["total"] == 1
        assert c.get(pair.p2.url + "/healthz").json()["instance"] == "p2"  # never forwarded


def test_the_alarm_stream_of_a_site_flows_through_and_ends_with_its_client(pair: Pair) -> None:
    hub = pair.b02.alarm_hub
    url = pair.p1.url + "/api/v1/sites/b02/alarms/stream"
    with (
        httpx.Client(timeout=10) as c,
        c.stream("GET", url, headers=auth("viewer")) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        snapshot = [next(lines) for _ in range(2 + 3 * 4)]  # retry, then 3 alarms
        assert sum(line.startswith("event: alarm") for line in snapshot) == 3
        wait_until(lambda: hub.clients == 1)
        changed = {**alarm(2, site="b02"), "state": "active_acked"}
        pair.p2.call(hub.publish, 10, changed)
        frame = []
        for line in lines:
            frame.append(line)
            if line.startswith("data: "):
                break
        assert frame[0] == "id: 10" and frame[1] == "event: alarm"
        assert json.loads(frame[2][6:])["state"] == "active_acked"
    # the client went: the forwarded stream on the owner ends as well
    wait_until(lambda: hub.clients == 0)


def test_a_forwarded_request_is_never_forwarded_again(pair: Pair) -> None:
    # p1 believes p2 owns b02; p2 has handed it on and believes p1 owns it: no ping-pong
    del pair.h2.served["b02"]
    pair.l2.owners["b02"] = Owner("p1", pair.p1.url)
    with httpx.Client(timeout=10) as c:
        r = c.get(pair.p1.url + "/api/v1/sites/b02/alarms", headers=auth("viewer"))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "moved" in r.json()["detail"]
        assert pair.forwarder(pair.app2).forwarded == 0
        assert pair.forwarder(pair.app2).refused == 1
        # the 503 made p1 forget the owner: the next request reads the leases again
        reads = pair.l1.reads
        c.get(pair.p1.url + "/api/v1/sites/b02/alarms", headers=auth("viewer"))
        assert pair.l1.reads == reads + 1
        # a client's own header cannot make a process forward
        own = c.get(
            pair.p1.url + "/api/v1/sites/b02/alarms",
            headers={**auth("viewer"), FORWARDED: "x"},
        )
        assert own.status_code == 503 and pair.forwarder(pair.app1).forwarded == 2


def test_no_owner_a_dead_owner_and_a_site_starting_here_are_503(pair: Pair) -> None:
    with httpx.Client(timeout=10) as c:
        del pair.l1.owners["b02"]
        r = c.get(pair.p1.url + "/api/v1/sites/b02/alarms", headers=auth("viewer"))
        assert r.status_code == 503 and r.headers["retry-after"] == "3"  # ttl 9 s / 3
        assert "no live owner" in r.json()["detail"]
        pair.forwarder(pair.app1).forget("b02")
        pair.l1.owners["b02"] = Owner("p2", "")  # alive but advertising no address
        assert c.get(pair.p1.url + "/api/v1/sites/b02/alarms").status_code == 503
        pair.forwarder(pair.app1).forget("b02")
        dead = f"http://127.0.0.1:{free_port()}"
        pair.l1.owners["b02"] = Owner("p2", dead)
        r = c.get(pair.p1.url + "/api/v1/sites/b02/alarms", headers=auth("viewer"))
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "b02" not in pair.forwarder(pair.app1)._cache  # asked again next time
        pair.l1.owners["b02"] = Owner("p1", pair.p1.url)  # won here, runtime not up yet
        r = c.get(pair.p1.url + "/api/v1/sites/b02/alarms", headers=auth("viewer"))
        assert r.status_code == 503 and "starting here" in r.json()["detail"]


async def _echo(scope: Any, receive: Any, send: Any) -> None:
    """An owner that answers with what it was sent (headers, body size and hash)."""
    body = hashlib.sha256()
    size = 0
    while True:
        m = await receive()
        body.update(m.get("body", b""))
        size += len(m.get("body", b""))
        if not m.get("more_body"):
            break
    seen = {
        "method": scope["method"],
        "path": scope["raw_path"].decode(),
        "query": scope["query_string"].decode(),
        "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]],
        "size": size,
        "sha": body.hexdigest(),
    }
    out = json.dumps(seen).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 207,
            "headers": [
                (b"content-type", b"application/json"),
                (b"set-cookie", b"a=1; HttpOnly"),
                (b"set-cookie", b"b=2; HttpOnly"),
                (b"x-csrf-token", b"t0k"),
                (b"keep-alive", b"timeout=5"),
                (b"content-length", str(len(out)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": out})


def test_what_crosses_to_the_owner_and_back() -> None:
    echo = Served(_echo)
    rt = _runtime("b01", [])
    leases = FakeOwners("p1", {"b02": Owner("p9", echo.url)})
    front = Served(create_app(FakeHost(["b01", "b02"], {"b01": rt}, leases)))  # type: ignore[arg-type]
    try:
        payload = bytes(range(256)) * 12_000  # 3 MB, streamed through
        with httpx.Client(timeout=20) as c:
            c.headers.clear()  # only what is given below: the forwarder adds no header of its own
            r = c.post(
                front.url + "/api/v1/sites/b02/photos?x=1&y=%20z",
                content=payload,
                headers={
                    "Authorization": "Bearer tok",
                    "Cookie": "session=s1",
                    "X-CSRF-Token": "c1",
                    "Connection": "keep-alive, X-Private",
                    "X-Private": "hop",
                    "TE": "trailers",
                    "Proxy-Authorization": "Basic eA==",
                    "X-Forwarded-For": "10.0.0.9",
                },
            )
        assert r.status_code == 207
        seen = r.json()
        assert seen["method"] == "POST"
        assert seen["path"] == "/api/v1/sites/b02/photos" and seen["query"] == "x=1&y=%20z"
        assert seen["size"] == len(payload)
        assert seen["sha"] == hashlib.sha256(payload).hexdigest()
        got = {k: v for k, v in seen["headers"]}
        assert got["authorization"] == "Bearer tok"
        assert got["cookie"] == "session=s1" and got["x-csrf-token"] == "c1"
        assert got[FORWARDED] == "p1"
        assert got["x-forwarded-for"] == "10.0.0.9"  # as the first proxy said
        assert got["x-forwarded-host"] == f"127.0.0.1:{front.port}"
        assert got["host"] == f"127.0.0.1:{echo.port}"
        for hop in ("x-private", "te", "proxy-authorization", "accept-encoding", "user-agent"):
            assert hop not in got, hop
        assert r.headers.get_list("set-cookie") == ["a=1; HttpOnly", "b=2; HttpOnly"]
        assert r.headers["x-csrf-token"] == "t0k"
        assert "keep-alive" not in r.headers
        with httpx.Client(timeout=20) as c:
            plain = c.get(front.url + "/api/v1/sites/b02/alarms").json()
        assert plain["method"] == "GET" and plain["size"] == 0
        got = {k: v for k, v in plain["headers"]}
        assert got["x-forwarded-for"] == "127.0.0.1"  # the client, as this process saw it
        assert "content-length" not in got and "transfer-encoding" not in got  # no body
    finally:
        front.stop()
        echo.stop()


def test_a_member_advertises_its_url_and_the_owner_is_found_with_it(tmp_path: Path) -> None:
    engine: sa.Engine = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(engine)
    a = LeaseStore(engine, "a", ttl_s=0.4, url="http://10.0.0.1:8000")
    b = LeaseStore(engine, "b", ttl_s=0.4)
    assert b.owner_of("sc01") is None  # no lease
    a.heartbeat()
    assert a.acquire("sc01") is not None
    assert b.owner_of("sc01") == Owner("a", "http://10.0.0.1:8000")
    a.url = "http://10.0.0.2:8000"  # a new address: the next beat says so
    a.heartbeat()
    assert b.owner_of("sc01") == Owner("a", "http://10.0.0.2:8000")
    time.sleep(0.5)  # a stops beating and renewing: nobody owns sc01
    assert b.owner_of("sc01") is None
    assert b.acquire("sc01") is not None
    assert a.owner_of("sc01") == Owner("b", "")  # b never beat: alive, but no address


def test_member_url() -> None:
    assert member_url("https://gw1.example/", "0.0.0.0:8000") == "https://gw1.example"
    assert member_url("", "10.1.2.3:8001") == "http://10.1.2.3:8001"
    assert member_url("", "[::1]:8000") == "http://[::1]:8000"
    assert member_url("", "0.0.0.0:8000").endswith(":8000")
    assert "0.0.0.0" not in member_url("", "0.0.0.0:8000")
