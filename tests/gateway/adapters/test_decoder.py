"""The AdapterDecoder as the pipeline sees it: routing, rejections, never raising."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters import load_adapters
from gateway.adapters.sparkplug_proto import encode_payload
from rules.model import Event, Rejected, Status, Telemetry

NOW = 1_767_225_600_000
CONFIG: list[dict[str, Any]] = [
    {"name": "z2m", "kind": "zigbee2mqtt", "topic": "zigbee2mqtt/#",
     "device": {"map": {"door": {"device": "door-01", "system": "access"}}}},
    {"name": "tas", "kind": "tasmota", "topic": "tele/#"},
    {"name": "shelly", "kind": "shelly", "topic": "+/status/+"},
    {"name": "tb", "kind": "thingsboard", "topic": "v1/#", "device": "boiler-01", "system": "hvac"},
    {"name": "spb", "kind": "sparkplugb", "topic": "spBv1.0/#", "system": "hvac"},
    {"name": "js", "kind": "json", "topic": "bms/+", "device": "segment:1", "system": "hvac",
     "fields": {"zone_temp": {"path": "t", "convert": "degF->degC"}}},
]  # fmt: skip


def dec() -> Any:
    return load_adapters(CONFIG, "sc01")


def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def test_contract_topics_go_to_the_contract_decoder() -> None:
    d = dec()
    m = d.decode("sitewatch/sc01/hvac/ahu-01/telemetry", j({"zone_temp": 21}), NOW)
    assert isinstance(m, Telemetry) and m.values == {"zone_temp": 21.0}
    r = d.decode("sitewatch/sc01/plumbing/x/telemetry", j({"a": 1}), NOW)
    assert isinstance(r, Rejected) and r.reason == "unknown_system"
    r = d.decode("nobody/listens/here", b"{}", NOW)
    assert isinstance(r, Rejected) and r.reason == "bad_topic"


def test_door_sensor_contact_false_is_door_open() -> None:
    m = dec().decode("zigbee2mqtt/door", j({"contact": False, "battery": 90}), NOW)
    assert isinstance(m, Telemetry)
    assert (m.system, m.device, m.values["door_open"]) == ("access", "door-01", True)


def test_tamper_raises_one_event_per_rising_edge() -> None:
    d = dec()
    seen = []
    for tamper in (False, True, True, False, True):
        res = d.decode("zigbee2mqtt/door", j({"contact": True, "tamper": tamper}), NOW)
        msgs = res if isinstance(res, list) else [res]
        seen.append([m.type for m in msgs if isinstance(m, Event)])
    assert seen == [[], ["tamper"], [], [], ["tamper"]]


def test_tasmota_plug_power_and_state() -> None:
    d = dec()
    m = d.decode(
        "tele/plug1/SENSOR", j({"Time": "2026-01-01T00:00:00", "ENERGY": {"Power": 42}}), NOW
    )
    assert isinstance(m, Telemetry) and m.system == "lighting" and m.values["power_w"] == 42.0
    m = d.decode("tele/plug1/STATE", j({"POWER": "OFF"}), NOW)
    assert isinstance(m, Telemetry) and m.values == {"on": False}
    s = d.decode("tele/plug1/LWT", b"Offline", NOW)
    assert isinstance(s, Status) and not s.online


def test_sparkplug_ddeath_marks_the_device_offline_and_counts_seq_gaps() -> None:
    d = dec()
    birth = encode_payload(
        {"seq": 0, "metrics": [{"name": "bdSeq", "datatype": "Int64", "longValue": 1}]}
    )
    d.decode("spBv1.0/g/NBIRTH/n1", birth, NOW)
    dbirth = encode_payload(
        {"seq": 1, "metrics": [{"name": "t", "alias": 5, "datatype": "Float", "floatValue": 20}]}
    )
    d.decode("spBv1.0/g/DBIRTH/n1/dev1", dbirth, NOW)
    data = encode_payload({"seq": 4, "metrics": [{"alias": 5, "floatValue": 21}]})
    m = d.decode("spBv1.0/g/DDATA/n1/dev1", data, NOW)
    assert isinstance(m, Telemetry) and m.values == {"t": 21.0}
    spb = d.adapters[4]
    assert spb.seq_gaps == 1
    death = d.decode("spBv1.0/g/DDEATH/n1/dev1", encode_payload({"seq": 5}), NOW)
    assert isinstance(death, Status) and death.device == "dev1" and not death.online


def test_thingsboard_gateway_gives_one_telemetry_per_entry() -> None:
    body = {
        "A": [{"ts": 1, "values": {"x": 1}}, {"ts": 2, "values": {"x": 2}}],
        "B": [{"values": {"y": 3}}],
    }
    res = dec().decode("v1/gateway/telemetry", j(body), NOW)
    assert isinstance(res, list)
    assert [(m.device, m.ts_ms) for m in res if isinstance(m, Telemetry)] == [
        ("A", 1),
        ("A", 2),
        ("B", NOW),
    ]


def test_json_unit_conversion() -> None:
    m = dec().decode("bms/ahu-9", j({"t": 212}), NOW)
    assert isinstance(m, Telemetry) and m.values == {"zone_temp": 100.0}


def test_bad_payloads_are_rejected_with_the_adapters_name_and_reason() -> None:
    d = dec()
    cases = [
        ("zigbee2mqtt/door", b"\xff\xfe", "adapter:z2m:bad_encoding"),
        ("zigbee2mqtt/door", b"x" * 70_000, "adapter:z2m:too_large"),
        ("zigbee2mqtt/door", b"[" * 100_000, "adapter:z2m:too_large"),
        ("zigbee2mqtt/door", b"[" * 5_000 + b"]" * 5_000, "adapter:z2m:bad_json"),  # deep
        ("zigbee2mqtt/door", j({"contact": "ajar"}), "adapter:z2m:bad_value"),
        ("tele/plug1/SENSOR", b"{", "adapter:tas:bad_json"),
        ("x1/status/switch:0", j({"output": True, "apower": "lots"}), "adapter:shelly:bad_value"),
        ("v1/devices/me/telemetry", j({"ts": -5, "values": {"a": 1}}), "adapter:tb:bad_ts"),
        ("spBv1.0/g/DDATA/n1/d", b"\x0a\xff", "adapter:spb:bad_protobuf"),
        ("bms/ahu-9", j({"t": "hot"}), "adapter:js:bad_value"),
    ]
    for topic, payload, reason in cases:
        r = d.decode(topic, payload, NOW)
        assert isinstance(r, Rejected), (topic, r)
        assert r.reason == reason, (topic, r.reason, r.detail)
        assert r.detail and r.payload == payload and r.received_ms == NOW


def test_an_adapter_bug_is_an_internal_rejection_not_a_raise() -> None:
    d = dec()

    def boom(*_: Any) -> Any:
        raise ZeroDivisionError("bug")

    d.adapters[1].decode = boom  # type: ignore[method-assign]
    r = d.decode("tele/plug1/STATE", b"{}", NOW)
    assert isinstance(r, Rejected) and r.reason == "adapter:tas:internal"
    assert "ZeroDivisionError" in r.detail


TOPICS = st.sampled_from(
    [
        "zigbee2mqtt/door",
        "zigbee2mqtt/door/availability",
        "zigbee2mqtt/x y/availability",
        "tele/p/SENSOR",
        "tele/p/STATE",
        "tele/p/LWT",
        "x1/status/switch:0",
        "x1/status/input:3",
        "v1/devices/me/telemetry",
        "v1/gateway/telemetry",
        "v1/gateway/connect",
        "spBv1.0/g/NBIRTH/n",
        "spBv1.0/g/DBIRTH/n/d",
        "spBv1.0/g/DDATA/n/d",
        "spBv1.0/g/NDEATH/n",
        "bms/ahu",
        "sitewatch/sc01/hvac/a/telemetry",
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS | st.text(max_size=40), payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    res = dec().decode(topic, payload, NOW)
    msgs = res if isinstance(res, list) else [res]
    assert msgs and all(isinstance(m, Telemetry | Event | Status | Rejected) for m in msgs)


@settings(max_examples=400, deadline=None)
@given(topic=TOPICS, body=JSONISH)
def test_arbitrary_json_never_raises_nor_is_internal(topic: str, body: Any) -> None:
    d = dec()
    payload = json.dumps(body, allow_nan=True).encode()
    for _ in range(2):  # the second time with the adapter's state from the first
        res = d.decode(topic, payload, NOW)
        if isinstance(res, Rejected):
            assert not res.reason.endswith(":internal"), res.detail
