import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decode import REASONS, ContractDecoder
from gateway.model import Event, Rejected, Status, Telemetry

NOW = 1_767_225_600_000
D = ContractDecoder("sc01")
T = "sitewatch/sc01/hvac/ahu-01/telemetry"


def dec(topic: str, payload: bytes | str | dict, now: int = NOW):
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return D.decode(topic, payload, now)


def test_nested_telemetry_with_epoch_ms():
    m = dec(T, {"ts": NOW - 1000, "values": {"zone_temp": 21, "fan": True, "mode": "cool"}})
    assert isinstance(m, Telemetry)
    assert (m.system, m.device, m.ts_ms) == ("hvac", "ahu-01", NOW - 1000)
    assert m.values == {"zone_temp": 21.0, "fan": True, "mode": "cool"}
    assert isinstance(m.values["zone_temp"], float)


def test_flat_telemetry_with_rfc3339_and_without_ts():
    m = dec(T, {"ts": "2026-01-01T08:00:00+08:00", "zone_temp": 21.5})
    assert isinstance(m, Telemetry) and m.ts_ms == NOW
    m = dec(T, {"zone_temp": 21.5})
    assert isinstance(m, Telemetry) and m.ts_ms == NOW and m.values == {"zone_temp": 21.5}


def test_old_readings_are_accepted_future_ones_are_not():
    assert isinstance(dec(T, {"ts": 1_000, "a": 1}), Telemetry)
    assert isinstance(dec(T, {"ts": NOW + 299_000, "a": 1}), Telemetry)
    r = dec(T, {"ts": NOW + 301_000, "a": 1})
    assert isinstance(r, Rejected) and r.reason == "ts_future"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("sitewatch/sc01/hvac/ahu-01", "{}", "bad_topic"),
        ("sitewatch/other/hvac/ahu-01/telemetry", '{"a":1}', "bad_topic"),
        ("sitewatch/sc01/plumbing/p1/telemetry", '{"a":1}', "unknown_system"),
        ("sitewatch/sc01/hvac/bad id/telemetry", '{"a":1}', "bad_device"),
        ("sitewatch/sc01/hvac/ahu-01/command", '{"a":1}', "unknown_kind"),
        (T, "{nope", "bad_json"),
        (T, "[1,2]", "not_object"),
        (T, '{"ts": true, "a": 1}', "bad_ts"),
        (T, '{"ts": "yesterday", "a": 1}', "bad_ts"),
        (T, '{"ts": "2026-01-01T00:00:00", "a": 1}', "bad_ts"),
        (T, '{"a": NaN}', "bad_value"),
        (T, '{"a": Infinity}', "bad_value"),
        (T, '{"a": null}', "bad_value"),
        (T, '{"a": [1]}', "bad_value"),
        (T, '{"a": {"b": 1}}', "bad_value"),
        (T, '{"values": 3}', "bad_value"),
        (T, '{"a": "' + "x" * 300 + '"}', "bad_value"),
        (T, '{"ts": 5}', "no_values"),
        (T, '{"values": {}}', "no_values"),
        (T, '{"": 1}', "bad_field"),
        ("sitewatch/sc01/fire/fp-01/event", '{"ts": 5}', "bad_event"),
        ("sitewatch/sc01/fire/fp-01/event", '{"type": "fire alarm"}', "bad_event"),
        ("sitewatch/sc01/fire/fp-01/event", '{"type": "fire_alarm", "point": 3}', "bad_event"),
        ("sitewatch/sc01/fire/fp-01/status", "maybe", "bad_status"),
        (T, b"\xff\xfe", "bad_encoding"),
        (T, b"{" * 100_000, "too_large"),
    ],
)
def test_rejections_carry_a_known_reason(topic, payload, reason):
    r = dec(topic, payload)
    assert isinstance(r, Rejected), r
    assert r.reason == reason
    assert r.reason in REASONS and r.detail


def test_event_with_point_zone_and_attrs():
    m = dec(
        "sitewatch/sc01/fire/fp-01/event",
        {"ts": NOW, "type": "fire_alarm", "point": "L1-D03", "zone": "lobby", "loop": 1},
    )
    assert isinstance(m, Event)
    assert (m.type, m.point, m.zone, m.attrs) == ("fire_alarm", "L1-D03", "lobby", {"loop": 1.0})


def test_status_plain_and_quoted():
    for p, online in (
        ("online", True),
        ("offline", False),
        ('"offline"', False),
        (" ONLINE\n", True),
    ):
        m = dec("sitewatch/sc01/access/door-main/status", p)
        assert isinstance(m, Status) and m.online is online


def test_deeply_nested_json_is_rejected_not_raised():
    r = dec(T, "[" * 20_000 + "]" * 20_000)
    assert isinstance(r, Rejected)


@given(topic=st.text(max_size=80), payload=st.binary(max_size=300))
def test_decoder_never_raises(topic, payload):
    res = D.decode(topic, payload, NOW)
    assert isinstance(res, Telemetry | Event | Status | Rejected)
    if isinstance(res, Rejected):
        assert res.reason in REASONS


scalar = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)


@given(values=st.dictionaries(st.from_regex(r"[a-z_]{1,20}", fullmatch=True), scalar, min_size=1))
def test_valid_values_round_trip(values):
    values.pop("ts", None)
    values.pop("values", None)
    if not values:
        return
    m = dec(T, {"ts": NOW, "values": values})
    assert isinstance(m, Telemetry)
    for k, v in values.items():
        got = m.values[k]
        if isinstance(v, bool) or isinstance(v, str):
            assert got == v
        else:
            assert isinstance(got, float) and got == float(v)
