"""The walking skeleton end to end: mosquitto_pub -> real Mosquitto -> sitewatch run -> real
InfluxDB 1.6, as the issue's "done when" states it."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.integration.gateway_proc import GatewayProc, influx_query, metric

pytestmark = pytest.mark.integration

T0 = 1_767_225_600_000


def _count(influx_url: str, site: str) -> int:
    series = influx_query(influx_url, f"SELECT count(zone_temp) FROM hvac WHERE site='{site}'")
    return int(series[0]["values"][0][1]) if series else 0


def _wait_count(influx_url: str, site: str, n: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        got = _count(influx_url, site)
        if got >= n:
            return got
        time.sleep(0.2)
    return got


MALFORMED = [
    "not json",
    '{"ts": "yesterday", "zone_temp": 21}',
    '{"ts": 99999999999999, "zone_temp": 21}',
    '{"zone_temp": NaN}',
    '{"zone_temp": [1, 2]}',
    "[1, 2, 3]",
    '{"values": {}}',
    '{"ts": true, "zone_temp": 1}',
    '{"zone_temp": null}',
    '{"values": 7}',
]
REASONS = [
    "bad_json",
    "bad_ts",
    "ts_future",
    "bad_value",
    "bad_value",
    "not_object",
    "no_values",
    "bad_ts",
    "bad_value",
    "bad_value",
]


def test_10k_messages_from_100_devices_all_stored_and_100_malformed_rejected(
    tmp_path: Path, influx_url: str, mosquitto_url: str
) -> None:
    site = "e2e" + uuid.uuid4().hex[:8]
    gw = GatewayProc(
        tmp_path,
        SITEWATCH_SITE=site,
        SITEWATCH_MQTT_CLIENT_ID=f"gw-{site}",
        SITEWATCH_INFLUX_URL=influx_url,
        SITEWATCH_INFLUX_API="v1",
    )
    gw.start()
    try:
        procs = []
        for d in range(100):
            lines = "".join(
                json.dumps(
                    {"ts": T0 + i * 1000 + d, "values": {"zone_temp": 20 + i % 7, "setpoint": 22}}
                )
                + "\n"
                for i in range(100)
            )
            p = subprocess.Popen(
                [
                    "mosquitto_pub",
                    "-q",
                    "1",
                    "-V",
                    "mqttv5",
                    "-t",
                    f"sitewatch/{site}/hvac/fcu-{d:03d}/telemetry",
                    "-l",
                ],
                stdin=subprocess.PIPE,
            )
            procs.append((p, lines))
        bad = "".join((m + "\n") for m in MALFORMED * 10)
        pb = subprocess.Popen(
            [
                "mosquitto_pub",
                "-q",
                "1",
                "-V",
                "mqttv5",
                "-t",
                f"sitewatch/{site}/hvac/fcu-bad/telemetry",
                "-l",
            ],
            stdin=subprocess.PIPE,
        )
        procs.insert(50, (pb, bad))
        for p, text in procs:
            assert p.stdin is not None
            p.stdin.write(text.encode())
            p.stdin.close()
        for p, _ in procs:
            assert p.wait(60) == 0

        assert _wait_count(influx_url, site, 10_000, 60) == 10_000
        # each point at its own device timestamp
        series = influx_query(
            influx_url, f"SELECT zone_temp FROM hvac WHERE site='{site}' AND device='fcu-042'"
        )
        times = [row[0] for row in series[0]["values"]]
        assert times == [T0 + i * 1000 + 42 for i in range(100)]
        # the telemetry API reads them back through InfluxQL
        api = gw.get(
            "/api/v1/telemetry/fcu-042?field=zone_temp"
            "&start=2026-01-01T00:00:00Z&end=2026-01-02T00:00:00Z"
        )
        assert api["total"] == 100
        assert api["items"][0] == {
            "ts": "2026-01-01T00:00:00.042Z",
            "field": "zone_temp",
            "value": 20.0,
        }
        assert api["items"][-1]["ts"] == "2026-01-01T00:01:39.042Z"
        fields = influx_query(influx_url, "SHOW FIELD KEYS FROM hvac")
        assert dict(fields[0]["values"])["zone_temp"] == "float"

        text = gw.get("/metrics", auth=False)
        assert metric(text, "sitewatch_messages_in_total", kind="rejected") == 100
        assert metric(text, "sitewatch_messages_in_total", kind="telemetry") == 10_000
        for reason in set(REASONS):
            assert metric(
                text, "sitewatch_messages_rejected_total", reason=reason
            ) == 10 * REASONS.count(reason)
        devices = gw.get("/api/v1/devices")
        assert sum(1 for d in devices["items"] if d["id"].startswith("fcu-0")) == 100
        assert "fcu-bad" not in {d["id"] for d in devices["items"]}  # never valid: not registered
    finally:
        assert gw.stop() == 0


def test_sigkill_while_messages_keep_arriving_loses_nothing(
    tmp_path: Path, influx_url: str, private_mosquitto
) -> None:
    """Persistent session + QoS 1 + acks only after InfluxDB has the point."""
    site = "kill" + uuid.uuid4().hex[:8]
    gw = GatewayProc(
        tmp_path,
        SITEWATCH_SITE=site,
        SITEWATCH_MQTT_URL=private_mosquitto.url,
        SITEWATCH_MQTT_CLIENT_ID=f"gw-{site}",
        SITEWATCH_INFLUX_URL=influx_url,
        SITEWATCH_INFLUX_FLUSH_INTERVAL_S="0.5",
    )
    gw.start()
    n_dev, per = 20, 400
    done = threading.Event()

    def publish() -> None:
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{site}", protocol=mqtt.MQTTv5
        )
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", private_mosquitto.port)
        c.loop_start()
        infos = []
        for i in range(per):
            for d in range(n_dev):
                payload = json.dumps({"ts": T0 + i * 1000, "values": {"zone_temp": 21.0 + d}})
                infos.append(c.publish(f"sitewatch/{site}/hvac/fcu-{d}/telemetry", payload, qos=1))
            time.sleep(0.02)  # about 1,000 msg/s for 8 s
        for info in infos:
            info.wait_for_publish(30)
        c.loop_stop()
        c.disconnect()
        done.set()

    t = threading.Thread(target=publish)
    t.start()
    try:
        deadline = time.monotonic() + 30
        stored_before = 0
        while stored_before == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
            stored_before = _count(influx_url, site)
        gw.kill()  # SIGKILL mid-stream: no flush, no clean disconnect
        assert not done.is_set(), "the publisher finished before the kill: test proves nothing"
        assert 0 < stored_before < n_dev * per
        time.sleep(1.0)  # messages keep arriving while the gateway is down
        gw.start()
        t.join(60)
        assert done.is_set()
        assert _wait_count(influx_url, site, n_dev * per, 60) == n_dev * per
    finally:
        t.join(60)
        gw.stop()
