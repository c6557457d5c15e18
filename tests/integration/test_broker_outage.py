"""The broker goes away and comes back: the gateway shows it (/healthz, an alarm),
reconnects by itself with backoff, resubscribes, and ingest goes on."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from gateway.clock import iso_ms
from tests.integration.gateway_proc import GatewayProc, metric

pytestmark = pytest.mark.integration

# recent readings: the embedded store keeps 7 days
T0 = (int(time.time()) - 3600) * 1000


def _publish(port: int, site: str, n: int, start: int) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [
        c.publish(
            f"sitewatch/{site}/hvac/fcu-{i % 5}/telemetry",
            json.dumps({"ts": T0 + start + i, "values": {"zone_temp": 21.0}}),
            qos=1,
        )
        for i in range(n)
    ]
    for info in infos:
        info.wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def _wait(pred, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_broker_restart_is_shown_and_survived(tmp_path: Path, private_mosquitto) -> None:
    site = "out" + uuid.uuid4().hex[:8]
    client_id = f"gw-{site}"
    gw = GatewayProc(
        tmp_path,
        SITEWATCH_SITE=site,
        SITEWATCH_MQTT_URL=private_mosquitto.url,
        SITEWATCH_MQTT_CLIENT_ID=client_id,
    )
    gw.start()
    try:

        def received() -> float:
            return metric(
                gw.get("/metrics", auth=False), "sitewatch_messages_in_total", kind="telemetry"
            )

        _publish(private_mosquitto.port, site, 100, 0)
        _wait(lambda: received() == 100, 20, "the first 100 messages")

        private_mosquitto.stop()
        health = _wait(
            lambda: (h := gw.get("/healthz", auth=False))["status"] == "degraded" and h,
            15,
            "/healthz to say degraded",
        )
        assert health["mqtt"]["main"] is False

        def link_alarm() -> dict | None:
            items = gw.get(f"/api/v1/alarms?device={client_id}-main")["items"]
            return items[0] if items else None

        alarm = _wait(link_alarm, 10, "the broker-link alarm")
        assert alarm["rule"] == "gateway.broker_link" and alarm["priority"] == "high"
        assert alarm["state"] == "active_unacked"

        private_mosquitto.restart()
        _wait(lambda: gw.get("/healthz", auth=False)["status"] == "ok", 60, "reconnection")
        _wait(
            lambda: (a := link_alarm()) is not None and a["state"] == "cleared_unacked",
            10,
            "the broker-link alarm to clear",
        )
        # resubscribed: new messages arrive
        _publish(private_mosquitto.port, site, 100, 1000)
        _wait(lambda: received() >= 200, 20, "the next 100 messages")  # + redeliveries

        # the embedded store serves the telemetry API: fcu-0 had every 5th reading
        def stored() -> dict | None:
            api = gw.get(f"/api/v1/telemetry/fcu-0?field=zone_temp&start={T0}")
            return api if api["total"] == 40 else None

        api = _wait(stored, 20, "all 40 readings of fcu-0 in the store")
        assert api["items"][0] == {
            "ts": iso_ms(T0),
            "field": "zone_temp",
            "value": 21.0,
        }
        text = gw.get("/metrics", auth=False)
        assert metric(text, "sitewatch_mqtt_reconnects_total", link="main") >= 1
    finally:
        gw.stop()
