"""The alarm routes, the SSE stream and the retained MQTT alarm topics, through the real
Mosquitto and an in-process gateway (issue 3: ack, shelve, unshelve, suppression,
chattering, the journal with each user; the stream as the contract describes it)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import api.sse
from tests.integration.runtime_harness import (
    TOKENS,
    RuntimeHarness,
    Subscriber,
    running,
    wait_for,
)

pytestmark = pytest.mark.integration

S = 1000
LIFECYCLE = {
    "raise",
    "repeat",
    "reactivate",
    "clear",
    "ack",
    "shelve",
    "unshelve",
    "suppress",
    "unsuppress",
    "chattering",
    "escalate",
}


@pytest.fixture
def h(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[RuntimeHarness]:
    with running(tmp_path, mosquitto_url, unique_site) as harness:
        yield harness


def lamp_alarm(h: RuntimeHarness, device: str = "lt-office-01") -> dict[str, Any]:
    h.telemetry("lighting", device, {"lamp_fault": True}, ts=h.now_ms() - 5 * S)
    return h.wait_alarm(device, "lighting.lamp_failure")


def journal(h: RuntimeHarness, alarm_id: int) -> list[dict[str, Any]]:
    return list(h.get(f"/api/v1/alarms/{alarm_id}", role="viewer")["journal"])


def actions(h: RuntimeHarness, alarm_id: int) -> list[tuple[str, str]]:
    return [(e["action"], e["user"]) for e in journal(h, alarm_id)]


# ---------------------------------------------------------------------------- ack
def test_ack_needs_an_operator_and_is_journaled(h: RuntimeHarness) -> None:
    a = lamp_alarm(h)
    url = f"/api/v1/alarms/{a['id']}/ack"

    r = h.http.post(url, json={"note": "x"})
    assert r.status_code == 401 and "detail" in r.json()
    r = h.http.post(url, json={}, headers={"Authorization": "Bearer not-a-token-at-all"})
    assert r.status_code == 401 and "detail" in r.json()
    r = h.http.post(url, json={}, headers={"Authorization": f"Basic {TOKENS['operator']}"})
    assert r.status_code == 401
    for role in ("viewer", "technician", "integrator"):
        r = h.post(url, {"note": "x"}, role=role)
        assert r.status_code == 403, (role, r.text)
        assert "detail" in r.json()
    # every role may read
    for role in TOKENS:
        assert h.get(f"/api/v1/alarms/{a['id']}", role=role)["id"] == a["id"]
    assert h.http.get(f"/api/v1/alarms/{a['id']}").status_code == 401

    r = h.post(url, {"note": "electrician called"}, role="operator")
    assert r.status_code == 200, r.text
    acked = r.json()
    assert acked["state"] == "active_acked"
    assert acked["acked_by"] == "operator"
    assert acked["acked_at"].endswith("Z")
    # a second acknowledgement is a conflict; an unknown alarm is 404
    assert h.post(url, {}, role="operator").status_code == 409
    assert h.post("/api/v1/alarms/999999/ack", {}, role="operator").status_code == 404
    # clear after ack: closed
    h.telemetry("lighting", "lt-office-01", {"lamp_fault": False}, ts=h.now_ms())
    h.wait_alarm("lt-office-01", "lighting.lamp_failure", lambda x: x["state"] == "closed")

    j = [e for e in journal(h, a["id"]) if e["action"] in LIFECYCLE]  # (tickets aside)
    assert [(e["action"], e["user"]) for e in j] == [
        ("raise", "system"),
        ("ack", "operator"),
        ("clear", "system"),
    ]
    ack = j[1]
    assert ack["reason"] == "electrician called"
    assert ack["at"].endswith("Z")
    # admin may acknowledge too, under its own name
    b = lamp_alarm(h, "lt-office-02")
    r = h.post(f"/api/v1/alarms/{b['id']}/ack", {}, role="admin")
    assert r.status_code == 200 and r.json()["acked_by"] == "admin"
    assert ("ack", "admin") in actions(h, b["id"])


# -------------------------------------------------------------------------- shelve
def test_shelve_unshelve_and_critical_409(h: RuntimeHarness) -> None:
    a = lamp_alarm(h)
    base = f"/api/v1/alarms/{a['id']}"
    body = {"minutes": 30, "reason": "lamp replacement scheduled"}
    assert h.post(base + "/shelve", body, role="viewer").status_code == 403
    assert h.http.post(base + "/shelve", json=body).status_code == 401
    assert h.post(base + "/shelve", {"minutes": 0, "reason": "x"}).status_code == 422
    assert h.post(base + "/shelve", {"minutes": 10}).status_code == 422
    assert h.post(base + "/shelve", {"minutes": 10**6, "reason": "x"}).status_code == 422

    r = h.post(base + "/shelve", body)
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["shelved"] is True and s["state"] == "active_unacked"
    listed = h.alarms("lt-office-01")[0]
    assert listed["shelved"] is True

    assert h.post(base + "/unshelve", None, role="viewer").status_code == 403
    r = h.post(base + "/unshelve")
    assert r.status_code == 200, r.text
    assert r.json()["shelved"] is False
    assert h.post(base + "/unshelve").status_code == 409  # not shelved

    # one-shot: a shelved alarm that clears is unshelved
    assert (
        h.post(base + "/shelve", {"minutes": 5, "reason": "again"}, role="admin").status_code == 200
    )
    h.telemetry("lighting", "lt-office-01", {"lamp_fault": False}, ts=h.now_ms())
    c = h.wait_alarm(
        "lt-office-01", "lighting.lamp_failure", lambda x: x["state"] == "cleared_unacked"
    )
    assert c["shelved"] is False

    j = journal(h, a["id"])
    got = [(e["action"], e["user"], e["reason"]) for e in j]
    assert ("shelve", "operator", "lamp replacement scheduled") in got
    assert ("unshelve", "operator", None) in got
    assert ("shelve", "admin", "again") in got
    assert [x for x in got if x[0] == "unshelve"][-1][1] == "system"

    # critical: never shelved
    h.event("fire", "fp-01", "fire_alarm", ts=h.now_ms(), point="L1-D01", zone="lobby")
    f = h.wait_alarm("fp-01", "fire.alarm")
    assert f["priority"] == "critical"
    r = h.post(
        f"/api/v1/alarms/{f['id']}/shelve", {"minutes": 5, "reason": "nuisance"}, role="admin"
    )
    assert r.status_code == 409 and "critical" in r.json()["detail"]
    assert h.get(f"/api/v1/alarms/{f['id']}")["shelved"] is False
    assert all(e["action"] != "shelve" for e in journal(h, f["id"]))


# ---------------------------------------------------------------------- suppression
def test_fire_alarm_suppresses_consequential_alarms_in_its_zone(h: RuntimeHarness) -> None:
    now = h.now_ms()
    # lobby: the main door held open (secured), the fan-coil in fault, a lamp failed
    h.telemetry("access", "door-main", {"door_open": True, "secure": True}, ts=now - 100 * S)
    h.telemetry("hvac", "fcu-lobby-01", {"fault_code": 3}, ts=now - 50 * S)
    h.telemetry("lighting", "lt-lobby-01", {"lamp_fault": True}, ts=now - 50 * S)
    # offices: a door held open there too
    h.telemetry("access", "door-office", {"door_open": True}, ts=now - 100 * S)
    held = h.wait_alarm("door-main", "access.door_held")
    fault = h.wait_alarm("fcu-lobby-01", "hvac.fault")
    lamp = h.wait_alarm("lt-lobby-01", "lighting.lamp_failure")
    other = h.wait_alarm("door-office", "access.door_held")
    assert not any(x["suppressed"] for x in (held, fault, lamp, other))

    h.event("fire", "fp-01", "fire_alarm", ts=now - 10 * S, point="L1-D01", zone="lobby")
    fire = h.wait_alarm("fp-01", "fire.alarm")
    assert fire["zone"] == "lobby" and fire["suppressed"] is False
    held = h.wait_alarm("door-main", "access.door_held", lambda x: x["suppressed"])
    fault = h.wait_alarm("fcu-lobby-01", "hvac.fault", lambda x: x["suppressed"])
    for x in (held, fault):
        assert "fire.alarm" in x["suppressed_reason"] and "lobby" in x["suppressed_reason"]
        assert x["state"] == "active_unacked"
    # a consequential alarm raised while the fire alarm is active is suppressed at once
    h.telemetry("hvac", "fcu-lobby-01", {"zone_temp": 30, "setpoint": 22}, ts=now - 400 * S)
    h.telemetry("hvac", "fcu-lobby-01", {"zone_temp": 30}, ts=now - 5 * S)
    warm = h.wait_alarm("fcu-lobby-01", "hvac.zone_temp_high")
    assert warm["suppressed"] is True
    # not in the list: the lamp (lighting) and the door in another zone
    h.sync("access")
    assert h.get(f"/api/v1/alarms/{lamp['id']}")["suppressed"] is False
    assert h.get(f"/api/v1/alarms/{other['id']}")["suppressed"] is False
    # the journal says why, as the system did it
    sup = [e for e in journal(h, held["id"]) if e["action"] == "suppress"]
    assert len(sup) == 1 and sup[0]["user"] == "system" and "fire.alarm" in sup[0]["reason"]

    # the panel is reset: the suppression lifts
    h.event("fire", "fp-01", "reset", ts=h.now_ms())
    h.wait_alarm("door-main", "access.door_held", lambda x: not x["suppressed"])
    h.wait_alarm("fcu-lobby-01", "hvac.fault", lambda x: not x["suppressed"])
    h.wait_alarm("fcu-lobby-01", "hvac.zone_temp_high", lambda x: not x["suppressed"])
    assert "unsuppress" in [e["action"] for e in journal(h, held["id"])]


# ---------------------------------------------------------------------- chattering
def test_chattering_three_activations_in_60s(h: RuntimeHarness) -> None:
    now = h.now_ms()
    dev = "lt-meeting-01"
    for i, fault in enumerate([True, False, True, False]):
        h.telemetry("lighting", dev, {"lamp_fault": fault}, ts=now - (30 - i) * S)
    h.sync("lighting")
    a = h.alarms(dev)
    assert len(a) == 1 and a[0]["chattering"] is False  # two activations so far
    h.telemetry("lighting", dev, {"lamp_fault": True}, ts=now - 20 * S)  # the third
    c = h.wait_alarm(dev, "lighting.lamp_failure", lambda x: x["chattering"])
    assert c["id"] == a[0]["id"] and c["state"] == "active_unacked"
    assert len(h.alarms(dev)) == 1  # one alarm all along
    acts = [e["action"] for e in journal(h, c["id"])]
    assert acts.count("raise") == 1 and acts.count("reactivate") == 2
    assert "chattering" in acts
    # an operator can still acknowledge it; the journal names them
    assert h.post(f"/api/v1/alarms/{c['id']}/ack", {"note": "flickering"}).status_code == 200
    assert ("ack", "operator") in actions(h, c["id"])
    kpis = h.call(lambda: h.rt.alarms.kpis())  # type: ignore[union-attr]
    assert kpis["chattering"]["now"] == 1


# ----------------------------------------------------------------------------- SSE
def test_sse_open_alarms_first_then_changes_and_resume(h: RuntimeHarness) -> None:
    first = lamp_alarm(h, "lt-vip-01")
    second = lamp_alarm(h, "lt-vip-02")

    sse = h.sse()
    try:
        assert sse.status == 200
        snap = [sse.next(), sse.next()]
        assert {e.data["id"] for e in snap} == {first["id"], second["id"]}
        assert all(e.event == "alarm" and e.id is not None for e in snap)
        start = max(e.id for e in snap if e.id is not None)

        h.telemetry("hvac", "fcu-vip-01", {"fault_code": 4}, ts=h.now_ms())
        seen = []  # every change from here on (tickets being linked come as changes too)

        def upto(pred: Any) -> Any:
            while True:
                e = sse.next()
                seen.append(e)
                if pred(e):
                    return e

        raised = upto(lambda e: e.data["device"] == "fcu-vip-01")
        assert raised.id is not None and raised.id > start
        assert raised.data["state"] == "active_unacked" and raised.data["rule"] == "hvac.fault"
        r = h.post(f"/api/v1/alarms/{raised.data['id']}/ack", {"note": "on it"})
        assert r.status_code == 200
        acked = upto(
            lambda e: e.data["id"] == raised.data["id"] and e.data["state"] == "active_acked"
        )
        assert acked.data["acked_by"] == "operator"
        h.telemetry("lighting", "lt-vip-01", {"lamp_fault": False}, ts=h.now_ms())
        upto(lambda e: e.data["id"] == first["id"] and e.data["state"] == "cleared_unacked")
        ids = [e.id for e in seen if e.id is not None]
        assert len(ids) == len(seen)
        assert ids == sorted(ids) and len(set(ids)) == len(ids), ids  # rising
        assert ids[0] > start
    finally:
        sse.close()

    # resume after the raise: the changes after it, in order, not the snapshot
    resumed = h.sse(last_event_id=raised.id)
    try:
        want = [e.id for e in seen if e.id > raised.id]
        got = [resumed.next() for _ in want]
        assert [e.id for e in got] == want
        assert got[-1].data["state"] == "cleared_unacked"
        assert any(e.data["state"] == "active_acked" for e in got)
    finally:
        resumed.close()

    # the token as ?access_token= (a browser's EventSource sends no header)
    q = h.sse(token=None, query_token=TOKENS["viewer"])
    try:
        assert q.status == 200
        snapshot_ids = {q.next().data["id"] for _ in range(3)}
        assert snapshot_ids == {first["id"], second["id"], raised.data["id"]}
    finally:
        q.close()
    bad = h.sse(token=None, query_token="wrong-token-123")
    assert bad.status == 401
    bad.close()
    none = h.sse(token=None)
    assert none.status == 401
    none.close()
    # only the stream takes the query token
    r = h.http.get("/api/v1/alarms", params={"access_token": TOKENS["viewer"]})
    assert r.status_code == 401


def test_sse_heartbeat(h: RuntimeHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api.sse, "HEARTBEAT_S", 0.3)
    sse = h.sse()
    try:
        line = sse.comments.get(timeout=20)
        assert line.startswith(":")
    finally:
        sse.close()


def test_sse_stream_ends_when_the_runtime_stops(
    tmp_path: Path, mosquitto_url: str, unique_site: str
) -> None:
    h = RuntimeHarness(tmp_path, mosquitto_url, unique_site)
    try:
        h.start()
        lamp_alarm(h)
        sse = h.sse()
        sse.next()
        h.stop()  # asserts the runtime stopped (no stream holds it up)
        assert sse.ended.wait(20), "the stream outlived the runtime"
        sse.close()
        # a restart on the same database resumes the sequence: the open alarm comes first
        h.start()
        again = h.sse()
        try:
            e = again.next()
            assert e.data["device"] == "lt-office-01" and e.data["state"] == "active_unacked"
        finally:
            again.close()
        h.clear_retained()
    finally:
        h.close()


# ---------------------------------------------------------------------------- MQTT
def test_each_change_is_published_retained(h: RuntimeHarness) -> None:
    sub = Subscriber(h.mqtt_url, f"sitewatch/{h.site}/alarms/+")
    try:
        a = lamp_alarm(h)
        topic = f"sitewatch/{h.site}/alarms/{a['id']}"
        m = sub.take(lambda m: m.topic == topic)
        body = json.loads(m.payload)
        assert body["id"] == a["id"] and body["state"] == "active_unacked"
        assert body["rule"] == "lighting.lamp_failure" and body["site"] == h.site
        assert h.post(f"/api/v1/alarms/{a['id']}/ack", {}).status_code == 200
        m = sub.take(
            lambda m: m.topic == topic and json.loads(m.payload)["state"] != ("active_unacked")
        )
        assert json.loads(m.payload)["state"] == "active_acked"
        assert m.qos == 1
    finally:
        sub.close()
    # a late subscriber (an integrator connecting now) gets the latest state, retained
    late = Subscriber(h.mqtt_url, topic)
    try:
        m = late.take(lambda m: True)
        assert m.retain
        assert json.loads(m.payload)["state"] == "active_acked"
        assert json.loads(m.payload)["acked_by"] == "operator"
    finally:
        late.close()
    # the gateway does not read its own output back as input
    time.sleep(0.5)
    devices = {d["id"] for d in h.get("/api/v1/devices")["items"]}
    assert str(a["id"]) not in devices
    wait_for(lambda: h.get("/healthz")["status"] == "ok")
