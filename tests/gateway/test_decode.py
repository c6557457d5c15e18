import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.decode import REASONS, ContractDecoder
from rules.model import Event, Rejected, Status, Telemetry

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


def test_small_integers_become_one_shared_float_on_both_paths():
    # the engine keeps the latest value of every field per device: an integer sent by many
    # devices is one float object, not one a message
    a = dec(T, {"ts": NOW, "values": {"sp": 22, "code": 0, "big": 5000, "neg": -3}})
    b = dec("sitewatch/sc01/hvac/ahu-99/telemetry", {"ts": NOW, "values": {"sp": 22, "code": 0}})
    c = dec(T, {"ts": "2026-01-01T08:00:00+08:00", "sp": 22})  # the checked path
    assert isinstance(a, Telemetry) and isinstance(b, Telemetry) and isinstance(c, Telemetry)
    assert a.values == {"sp": 22.0, "code": 0.0, "big": 5000.0, "neg": -3.0}
    assert all(type(v) is float for v in a.values.values())
    assert a.values["sp"] is b.values["sp"] is c.values["sp"]
    assert a.values["code"] is b.values["code"]


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


# -- poison messages: nothing a device sends makes decode() raise ------------------------
BIG = "1" + "0" * 309  # a JSON integer above a float's range (~1.8e308)


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        (T, '{"values": {"a": ' + BIG + "}}", "bad_value"),
        (T, '{"a": -' + BIG + "}", "bad_value"),
        (T, '{"a": 1e400}', "bad_value"),  # JSON float beyond range parses to inf
        (T, '{"a": -Infinity}', "bad_value"),
        (T, '{"a": ' + "9" * 5000 + "}", "bad_json"),  # over Python's int digit limit
        (T, '{"ts": ' + BIG + ', "a": 1}', "bad_ts"),
        (T, '{"ts": -1, "a": 1}', "bad_ts"),
        (T, '{"ts": 1.5, "a": 1}', "bad_ts"),
        (T, '{"ts": "0000-01-01T00:00:00Z", "a": 1}', "bad_ts"),
        (T, '{"ts": "2026-13-01T00:00:00Z", "a": 1}', "bad_ts"),
        (T, '{"ts": "2026-02-30T00:00:00Z", "a": 1}', "bad_ts"),
        (T, '{"ts": "2026-01-01T24:00:00Z", "a": 1}', "bad_ts"),
        (T, '{"ts": "9999-12-31T23:59:59-23:59", "a": 1}', "bad_ts"),
        (T, '{"ts": "0001-01-01T00:00:00+23:59", "a": 1}', "bad_ts"),
        (T, '{"ts": "٢٠٢٦-01-01T00:00:00Z", "a": 1}', "bad_ts"),  # non-ASCII digits
        ("sitewatch/sc01/fire/fp-01/event", '{"type": "fault", "x": ' + BIG + "}", "bad_value"),
        (T, "[" * 30_000 + "]" * 30_000, "bad_json"),
        (T, '{"a":' * 10_000 + "1" + "}" * 10_000, "bad_json"),
        (T, b'{"a": "\xc3\x28"}', "bad_encoding"),
        ("sitewatch/sc01/access/d1/status", b"\xff", "bad_encoding"),
        (T, b"x" * (10 * 1024 * 1024), "too_large"),
    ],
)
def test_poison_messages_are_rejected_with_a_reason(topic, payload, reason):
    r = dec(topic, payload)
    assert isinstance(r, Rejected), r
    assert r.reason == reason and r.detail


TOPICS = st.sampled_from(
    [
        f"sitewatch/sc01/{system}/dev-1/{kind}"
        for system in ("lighting", "hvac", "access", "fire")
        for kind in ("telemetry", "event", "status")
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats()
    | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=70), inner),
    max_leaves=30,
)
json_objects = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(
            st.integers(),
            st.floats(),
            st.text(max_size=40),
            st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
            json_values,
        ),
        "values": json_values,
        "type": st.one_of(st.just("fire_alarm"), st.text(max_size=70), json_values),
        "point": json_values,
        "zone": json_values,
    },
).flatmap(
    lambda fixed: st.dictionaries(st.text(max_size=70), json_values, max_size=5).map(
        lambda extra: {**extra, **fixed}
    )
)


@given(topic=TOPICS, payload=st.binary(max_size=500))
def test_decoder_never_raises_on_bytes_for_any_topic(topic, payload):
    res = D.decode(topic, payload, NOW)
    assert isinstance(res, Telemetry | Event | Status | Rejected)
    if isinstance(res, Rejected):
        assert res.reason in REASONS


@given(topic=TOPICS, value=st.one_of(json_values, json_objects))
def test_decoder_never_raises_on_any_json_value(topic, value):
    payload = json.dumps(value).encode()  # NaN and Infinity go out as their JS literals
    res = D.decode(topic, payload, NOW)
    assert isinstance(res, Telemetry | Event | Status | Rejected)
    if isinstance(res, Rejected):
        assert res.reason in REASONS and res.reason != "internal"
    elif isinstance(res, Telemetry | Event):
        values = res.values if isinstance(res, Telemetry) else res.attrs
        for v in values.values():
            assert isinstance(v, bool | str) or math.isfinite(v)
        assert 0 <= res.ts_ms <= NOW + 300_000


def test_an_unforeseen_decoder_error_is_a_rejection_not_a_raise(monkeypatch):
    import gateway.decode as decode

    def broken(raw, now_ms):
        raise KeyError("a bug")

    monkeypatch.setattr(decode, "parse_ts", broken)
    r = dec(T, {"a": 1})
    assert isinstance(r, Rejected) and r.reason == "internal" and "KeyError" in r.detail
    assert r.payload == b'{"a": 1}'


# -- the fast path (a telemetry topic seen before) answers as the checked path does --------
class CheckedOnly(ContractDecoder):
    """The decoder with its fast path off: every message through the checked path."""

    def _telemetry(self, system, device, payload, now_ms):
        return None


def _answer(res):
    if isinstance(res, Rejected):
        return ("rejected", res.topic, res.payload, res.reason, res.detail, res.received_ms)
    assert isinstance(res, Telemetry | Event | Status)
    fields = [(f, getattr(res, f)) for f in res.__slots__]
    values = getattr(res, "values", None) or getattr(res, "attrs", None) or {}
    return (type(res).__name__, fields, [(k, type(v)) for k, v in values.items()])


def _both(payload: bytes, topic: str = T, site: str = "sc01"):
    fast = ContractDecoder(site)
    assert isinstance(fast.decode(topic, b'{"a": 1}', NOW), Telemetry)  # the topic seen
    assert topic in fast._telemetry_topics
    return _answer(fast.decode(topic, payload, NOW)), _answer(
        CheckedOnly(site).decode(topic, payload, NOW)
    )


@pytest.mark.parametrize("system", ["hvac", "lighting", "access", "fire"])
@pytest.mark.parametrize("site", ["s", "sc01", "a-much-longer-site.id_9"])
def test_fast_path_reads_site_system_and_device_from_any_known_topic(site, system) -> None:
    topic = f"sitewatch/{site}/{system}/dev-{system}/telemetry"
    got, want = _both(b'{"ts": 1767225599000, "a": 1.5}', topic, site)
    assert got == want
    fields = dict(got[1])
    assert (fields["site"], fields["system"], fields["device"]) == (site, system, f"dev-{system}")


@pytest.mark.parametrize(
    "payload",
    [
        '{"ts": 1767225599000, "values": {"zone_temp": 21, "fan": true, "mode": "cool"}}',
        '{"ts": 1767225599000, "zone_temp": 21.5, "fan": false}',
        '{"zone_temp": 21.5}',
        '{"ts": null, "zone_temp": 21.5}',
        '{"ts": "2026-01-01T08:00:00+08:00", "values": {"a": 1}}',
        '{"ts": 1767225599000, "values": {"a": 1}, "other": [1, 2]}',
        '{"ts": 1767225599000, "values": {"ts": 5, "a": 1}}',
        '{"values": null, "a": 1}',
        '{"values": [1], "a": 1}',
        '{"values": {}}',
        '{"ts": 5}',
        '{"ts": 1767225900001, "a": 1}',
        '{"ts": -1, "a": 1}',
        '{"ts": true, "a": 1}',
        '{"a": 1e400}',
        '{"a": NaN}',
        '{"a": 18446744073709551616}',
        '{"a": ' + BIG + "}",
        '{"a": "' + "x" * 257 + '"}',
        '{"a": "' + "x" * 256 + '"}',
        '{"a": null}',
        '{"a": {"b": 1}}',
        '{"": 1}',
        '{"a\\u0001": 1}',
        '{"' + "k" * 65 + '": 1}',
        '{"a": "\\ud800"}',
        "[1, 2]",
        "{nope",
        '{"a": 1, "a": 2}',
        "{" + ", ".join(f'"f{i}": {i}' for i in range(201)) + "}",
        '{"ts": 1, "values": {' + ", ".join(f'"f{i}": {i}' for i in range(201)) + "}}",
    ],
)
def test_fast_path_answers_as_the_checked_path(payload: str) -> None:
    got, want = _both(payload.encode())
    assert got == want


@given(value=st.one_of(json_values, json_objects))
def test_fast_path_answers_as_the_checked_path_on_any_json(value) -> None:
    got, want = _both(json.dumps(value).encode())
    assert got == want


@given(values=st.dictionaries(st.text(max_size=70), json_values, max_size=6))
def test_fast_path_answers_as_the_checked_path_on_any_values(values) -> None:
    for body in ({"ts": NOW - 1, "values": values}, {**values, "ts": NOW - 1}):
        got, want = _both(json.dumps(body).encode())
        assert got == want
