"""A restart in the middle of an on-delay neither loses nor duplicates the alarm (issue 3).

``hvac.zone_temp_high`` waits 300 s of device time. A warm reading stamped ``now - 270 s``
starts the delay, which is due 30 s later on the clock; the gateway is stopped half-way
(gracefully, and ``sitewatch run`` killed with SIGKILL), restarted, and the delay completes
(on the clock, or with a later reading): exactly one alarm, stamped when the delay ended.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from gateway.clock import iso_ms
from tests.integration.gateway_proc import TOKEN, GatewayProc
from tests.integration.runtime_harness import (
    Publisher,
    RuntimeHarness,
    clear_retained,
    wait_for,
)

pytestmark = pytest.mark.integration

S = 1000
DEV = "fcu-lobby-01"
RULE = "hvac.zone_temp_high"
LEAD = 270  # the reading is this many seconds old: the 300 s delay is due 30 s later
WARM = {"zone_temp": 27, "setpoint": 22, "fan": True}


def _pending(h: RuntimeHarness) -> list[dict[str, Any]]:
    rt = h.rt
    assert rt is not None
    return [p for p in h.call(rt.engine.pending) if p["rule"] == RULE and p["device"] == DEV]


def _one_alarm(alarms: list[dict[str, Any]], t: int) -> dict[str, Any]:
    mine = [a for a in alarms if a["rule"] == RULE]
    assert len(mine) == 1, mine
    a = mine[0]
    assert a["state"] == "active_unacked"
    assert a["source_ts"] == iso_ms(t + 300 * S)  # when the delay ended, in device time
    return a


# ---------------------------------------------------------------- in process, graceful
def test_graceful_restart_mid_delay_completes_on_the_clock(
    tmp_path: Path, mosquitto_url: str, unique_site: str
) -> None:
    h = RuntimeHarness(tmp_path, mosquitto_url, unique_site)
    try:
        h.start()
        t = h.now_ms() - LEAD * S
        h.telemetry("hvac", DEV, WARM, ts=t)
        h.sync("hvac")
        assert [p["since_ms"] for p in _pending(h)] == [t]
        h.stop()
        assert h.now_ms() < t + 300 * S, "too slow to stop before the delay ended"
        h.start()
        # the timer came back from the state store, not from a redelivered message
        assert [p["since_ms"] for p in _pending(h)] == [t] or h.alarms(DEV)
        assert h.alarms(DEV) == [] or h.now_ms() >= t + 300 * S
        a = h.wait_alarm(DEV, RULE, timeout=LEAD + 60)
        _one_alarm(h.alarms(DEV), t)
        # later warm readings and ticks change that alarm, never add one
        h.telemetry("hvac", DEV, {"zone_temp": 28}, ts=h.now_ms())
        h.sync("hvac")
        time.sleep(2)
        assert _one_alarm(h.alarms(DEV), t)["id"] == a["id"]
        # and a second restart with the alarm open raises nothing new
        h.stop()
        h.start()
        time.sleep(2)
        h.telemetry("hvac", DEV, {"zone_temp": 28.5}, ts=h.now_ms())
        h.sync("hvac")
        assert _one_alarm(h.alarms(DEV), t)["id"] == a["id"]
        h.clear_retained()
    finally:
        h.close()


def test_graceful_restart_mid_delay_completes_with_a_reading(
    tmp_path: Path, mosquitto_url: str, unique_site: str
) -> None:
    h = RuntimeHarness(tmp_path, mosquitto_url, unique_site)
    try:
        h.start()
        t = h.now_ms() - 200 * S  # due 100 s from now: the next reading completes it
        h.telemetry("hvac", DEV, WARM, ts=t)
        h.sync("hvac")
        h.stop()
        h.start()
        assert h.alarms(DEV) == []
        h.telemetry("hvac", DEV, {"zone_temp": 27.5}, ts=t + 310 * S)  # 110 s ahead: allowed
        h.wait_alarm(DEV, RULE)
        a = _one_alarm(h.alarms(DEV), t)
        assert a["value"] == 27.5
        h.sync("hvac")
        time.sleep(1.5)
        _one_alarm(h.alarms(DEV), t)
        h.clear_retained()
    finally:
        h.close()


# ------------------------------------------------------------- sitewatch run, SIGKILL
def _get(gw: GatewayProc, path: str) -> Any:
    req = urllib.request.Request(gw.base + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def _alarms(gw: GatewayProc) -> list[dict[str, Any]]:
    return list(_get(gw, f"/api/v1/alarms?device={DEV}")["items"])


def _device_value(gw: GatewayProc, device: str, field: str) -> Any:
    try:
        return _get(gw, f"/api/v1/devices/{device}")["values"].get(field)
    except OSError:
        return None


def _start(gw: GatewayProc, pub: Publisher, site: str) -> None:
    """Start and wait until the subscription is in place (a probe comes through)."""
    gw.start()
    n = uuid.uuid4().int % 10**6
    pub.publish(
        f"sitewatch/{site}/hvac/zz-probe/telemetry",
        json.dumps({"ts": int(time.time() * 1000), "values": {"probe": n}}),
    )
    wait_for(lambda: _device_value(gw, "zz-probe", "probe") == n, what="probe")


def _kill_mid_delay_then_restart(
    tmp_path: Path, mosquitto_url: str, *, before: dict[str, Any] | None, **env: str
) -> None:
    site = "rs" + uuid.uuid4().hex[:8]
    gw = GatewayProc(
        tmp_path,
        SITEWATCH_SITE=site,
        SITEWATCH_MQTT_CLIENT_ID=f"gw-{site}",
        SITEWATCH_MQTT_URL=mosquitto_url,
        **env,
    )
    pub = Publisher(mosquitto_url)
    topic = f"sitewatch/{site}/hvac/{DEV}/telemetry"
    try:
        _start(gw, pub, site)
        t = int(time.time() * 1000) - LEAD * S
        if before is not None:  # another device's reading just ahead (its own flush)
            pub.publish(
                f"sitewatch/{site}/hvac/fcu-office-01/telemetry",
                json.dumps({"ts": t, "values": before}),
            )
            time.sleep(0.1)
        pub.publish(topic, json.dumps({"ts": t, "values": WARM}))
        wait_for(lambda: _device_value(gw, DEV, "zone_temp") == 27, what="reading handled")
        # acknowledged to the broker: it will not be redelivered; what the gateway knows of
        # the pending delay must be in its state store by now
        wait_for(lambda: gw.get("/healthz")["unacked"] == 0, what="all acknowledged")
        time.sleep(0.5)
        assert _alarms(gw) == []
        gw.kill()  # SIGKILL: no flush, no goodbye
        assert int(time.time() * 1000) < t + 300 * S, "too slow: the delay ended before the kill"
        _start(gw, pub, site)
        wait_for(
            lambda: [a for a in _alarms(gw) if a["rule"] == RULE],
            timeout=LEAD + 60,
            what="the alarm after the restart",
        )
        a = _one_alarm(_alarms(gw), t)
        time.sleep(2)
        pub.publish(topic, json.dumps({"ts": int(time.time() * 1000), "values": {"zone_temp": 28}}))
        wait_for(lambda: _device_value(gw, DEV, "zone_temp") == 28, what="later reading")
        assert _one_alarm(_alarms(gw), t)["id"] == a["id"]
    finally:
        gw.stop()
        clear_retained(mosquitto_url, site, pub)
        pub.close()


def test_sigkill_mid_delay_neither_loses_nor_duplicates(tmp_path: Path, mosquitto_url: str) -> None:
    _kill_mid_delay_then_restart(tmp_path, mosquitto_url, before=None)


def test_sigkill_mid_delay_after_back_to_back_flushes(tmp_path: Path, mosquitto_url: str) -> None:
    """Two readings 0.1 s apart, each flushed on its own (50 ms flush interval), then
    silence: the second one's timer must be saved before its acknowledgement, even though
    the engine's state was saved a moment before for the first one."""
    _kill_mid_delay_then_restart(
        tmp_path,
        mosquitto_url,
        before={"zone_temp": 22, "setpoint": 22},
        SITEWATCH_INFLUX_FLUSH_INTERVAL_S="0.05",
    )
