"""Run ``sitewatch run`` as users do (a subprocess) for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.fixtures.mqtt import free_port

TOKEN = "test-admin-token"


class GatewayProc:
    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update(
            SITEWATCH_API_TOKENS=f"admin={TOKEN}",
            SITEWATCH_HTTP_BIND=f"127.0.0.1:{self.port}",
            SITEWATCH_DB_URL=f"sqlite:///{workdir}/state.db",
            SITEWATCH_TELEMETRY_DB=f"{workdir}/telemetry.db",
        )
        self.env.update(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "gateway.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sitewatch", "run"],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-3000:]}")
            try:
                if self.get("/healthz", auth=False)["status"] == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gateway not healthy: {self.log.read_text()[-3000:]}")

    def get(self, path: str, auth: bool = True) -> Any:
        req = urllib.request.Request(self.base + path)
        if auth:
            req.add_header("Authorization", f"Bearer {TOKEN}")
        with urllib.request.urlopen(req, timeout=5) as r:
            body = r.read().decode()
        return body if path.startswith("/metrics") else json.loads(body)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(30)
        return self.proc.returncode if self.proc else 0


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a Prometheus metric's samples that carry all of ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric_name, _, rest = head.partition("{")
        if metric_name != name:
            continue
        got = set(rest.rstrip("}").split(",")) if rest else set()
        if all(f'{k}="{v}"' in got for k, v in labels.items()):
            total += float(value)
    return total


def influx_query(url: str, q: str, db: str = "sitewatch") -> list[dict[str, Any]]:
    qs = urllib.parse.urlencode({"db": db, "q": q, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{qs}", timeout=10) as r:
        data = json.load(r)
    res = data["results"][0]
    if "error" in res:
        raise RuntimeError(res["error"])
    return list(res.get("series") or [])
