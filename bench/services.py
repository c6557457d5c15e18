"""Real services for benchmarks: a private Mosquitto and a private InfluxDB 1.6 on free ports.

Benchmarks build backlogs, so they never use the machine's Mosquitto (Debian's defaults
drop past 1,000 queued messages per client).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.mqtt import free_port, mosquitto_conf, wait_port


@dataclass
class Service:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_mosquitto(tmp: Path) -> Service:
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(mosquitto_conf(port, tmp, persistence=False))
    proc = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)])
    wait_port(port)
    return Service(f"mqtt://127.0.0.1:{port}", port, proc)


INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc}"
[meta]
  dir = "{dir}/meta"
[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false
  cache-max-memory-size = "1g"
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
"""


def start_influxd(tmp: Path) -> Service:
    http, rpc = free_port(), free_port()
    conf = tmp / "influxdb.conf"
    conf.write_text(INFLUXD_CONF.format(dir=tmp, http=http, rpc=rpc))
    log = open(tmp / "influxd.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [shutil.which("influxd") or "/usr/bin/influxd", "-config", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{http}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/ping", timeout=1)
            return Service(url, http, proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"influxd did not start: see {tmp}/influxd.log")
