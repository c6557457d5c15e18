"""Crews told through their own channels, end to end and across a restart: ``sitewatch
run`` as a subprocess (real Mosquitto, SQLite state), a real SMTP server started here
(aiosmtpd) and a local HTTP receiver standing in for a WeCom group robot and a Slack
incoming webhook.

A ticket is raised while neither the SMTP server nor the receiver is up: its
notifications wait in the durable outbox. The gateway is stopped, the two services come
up, the gateway starts again: exactly one e-mail and one POST in each documented format
arrive. A further restart sends nothing more."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.clock import SystemClock
from gateway.notify import Profiles
from gateway.store import open_store
from gateway.store.models import outbox
from tests.fixtures.mqtt import free_port
from tests.integration.gateway_proc import TOKEN, GatewayProc

pytestmark = pytest.mark.integration
aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

CLEANERS = ("clean-ma", "clean-hu", "clean-guo")
START_S = 90.0  # a start migrates, syncs the users and connects: slow on a busy machine


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


class Receiver:
    """Records every POST (path, JSON body); answers like the services do."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.posts: list[tuple[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                posts.append((self.path.split("?")[0], body))
                answer = b'{"errcode":0,"errmsg":"ok"}' if "wecom" in self.path else b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def wait(pred: Any, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def test_one_mail_and_one_post_each_across_a_restart(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    smtp_port, hook_port = ports
    site = "t" + uuid.uuid4().hex[:10]
    wecom = f"http://127.0.0.1:{hook_port}/wecom/cgi-bin/webhook/send?key=k-123"
    slack = f"http://127.0.0.1:{hook_port}/slack/services/T1/B1/xyz"
    db_url = f"sqlite:///{tmp_path}/state.db"
    engine = open_store(db_url)  # migrated; the profiles exist before the first start
    profiles = Profiles(engine, SystemClock())
    for uid in CLEANERS:
        profiles.set(
            uid,
            email=f"{uid}@example.com",
            browser=True,
            chats=[{"kind": "wecom", "url": wecom}, {"kind": "slack", "url": slack}],
        )
    env = {
        "SITEWATCH_SITE": site,
        "SITEWATCH_MQTT_CLIENT_ID": f"sitewatch-{site}",
        "SITEWATCH_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "SITEWATCH_SMTP_FROM": "sitewatch@example.com",
        "SITEWATCH_OUTBOX_BACKOFF_MAX_S": "1",
        "SITEWATCH_PUBLIC_URL": "https://sw.example",
    }
    gw = GatewayProc(tmp_path, **env)
    mailbox, receiver = Mailbox(), Receiver(hook_port)
    smtp = aiosmtpd_controller.Controller(mailbox, hostname="127.0.0.1", port=smtp_port)

    def pending() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(outbox.c.dest, outbox.c.attempts)).all()
        out: dict[str, int] = {}
        for dest, attempts in rows:
            kind = str(dest).split(":")[0]
            out[kind] = out.get(kind, 0) + 1
            out[f"{kind}_attempts"] = out.get(f"{kind}_attempts", 0) + int(attempts)
        return out

    gw.start(timeout=START_S)
    try:
        import urllib.request

        req = urllib.request.Request(
            gw.base + "/api/v1/tickets",
            data=json.dumps(
                {"title": "Spill by the sand table", "category": "cleaning", "priority": "medium"}
            ).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            ticket = json.loads(r.read())
        assert ticket["assignee"] in CLEANERS
        # nothing is listening: the rows wait, tried and retried
        wait(
            lambda: (
                pending().get("email_attempts", 0) >= 1 and pending().get("chat_attempts", 0) >= 2
            ),
            what="failed attempts",
        )
        assert pending()["email"] == 1 and pending()["chat"] == 2
    finally:
        assert gw.stop() == 0

    smtp.start()
    receiver.start()
    try:
        gw.start(timeout=START_S)
        try:
            wait(lambda: len(mailbox.messages) >= 1 and len(receiver.posts) >= 2, what="delivery")
            wait(lambda: not pending().get("email") and not pending().get("chat"), what="drain")
            time.sleep(1.5)  # anything more would come now
        finally:
            assert gw.stop() == 0
        gw.start(timeout=START_S)  # once more: nothing is sent again
        try:
            time.sleep(3)
        finally:
            assert gw.stop() == 0

        assert len(mailbox.messages) == 1
        mail = mailbox.messages[0]
        assert mail.rcpt_tos == [f"{ticket['assignee']}@example.com"]
        text = mail.content.decode()
        assert f"#{ticket['id']}" in text and "Spill by the sand table" in text
        assert TOKEN not in text and "k-123" not in text

        by_path = {p: b for p, b in receiver.posts}
        assert sorted(p for p, _ in receiver.posts) == [
            "/slack/services/T1/B1/xyz",
            "/wecom/cgi-bin/webhook/send",
        ]
        w = by_path["/wecom/cgi-bin/webhook/send"]
        assert w["msgtype"] == "text" and set(w) == {"msgtype", "text"}
        assert f"#{ticket['id']}" in w["text"]["content"]
        s = by_path["/slack/services/T1/B1/xyz"]
        assert set(s) == {"text"} and f"#{ticket['id']}" in s["text"]
    finally:
        smtp.stop()
        receiver.stop()
        engine.dispose()
