"""Real services for benchmarks: the tests' own private Mosquitto (no queue limit) and
private InfluxDB 1.6, on free ports.

Benchmarks build backlogs, so they never use the machine's Mosquitto (Debian's defaults
drop past 1,000 queued messages per client).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.fixtures.influx import InfluxServer
from tests.fixtures.mqtt import Broker, start_private_mosquitto

__all__ = ["Broker", "InfluxServer", "start_influxd", "start_mosquitto"]


def start_mosquitto(tmp: Path) -> Broker:
    return start_private_mosquitto(tmp, persistence=False)


def start_influxd(tmp: Path) -> InfluxServer:
    server = InfluxServer(shutil.which("influxd") or "/usr/bin/influxd", tmp)
    server.start()
    return server
