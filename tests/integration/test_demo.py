"""`sitewatch demo` as the README promises it: embedded broker on 127.0.0.1:11883, the
simulated sales centre, healthy within 10 s, fresh devices, a clean stop on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fixtures.mqtt import free_port

pytestmark = pytest.mark.integration


def _get(url: str, token: str | None = None) -> dict:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=3) as r:
        return json.load(r)


def test_demo_healthy_within_10s_with_fresh_devices_and_clean_stop(tmp_path: Path) -> None:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 11883)) == 0:
            pytest.fail("something already listens on 127.0.0.1:11883, the demo broker's port")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITEWATCH_")}
    env["SITEWATCH_HTTP_BIND"] = f"127.0.0.1:{port}"
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sitewatch", "demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        healthy_after = None
        while time.monotonic() - t0 < 10:
            try:
                if _get(f"http://127.0.0.1:{port}/healthz")["status"] == "ok":
                    healthy_after = time.monotonic() - t0
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert healthy_after is not None, "demo not healthy within 10 s"
        # the printed tokens work; the admin one lists the building
        assert proc.stdout is not None
        token = None
        deadline = time.monotonic() + 5
        while token is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            parts = line.split()
            if len(parts) == 2 and parts[0] == "admin":
                token = parts[1]
        assert token, "the demo did not print an admin token"
        time.sleep(3)  # every simulated device has announced itself and reported
        devices = _get(f"http://127.0.0.1:{port}/api/v1/devices", token)
        assert devices["total"] >= 58
        now = datetime.now(UTC)
        fresh = [
            d
            for d in devices["items"]
            if d["last_seen"]
            and (
                now - datetime.fromisoformat(d["last_seen"].replace("Z", "+00:00"))
            ).total_seconds()
            < 30
        ]
        assert len(fresh) >= 58
        assert all(d["online"] for d in fresh)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0
    out = proc.stdout.read() if proc.stdout else ""
    assert "sitewatch demo stopped." in out
    assert "Traceback" not in out
