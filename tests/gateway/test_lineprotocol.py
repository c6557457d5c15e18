"""Line protocol encoder: exact output, refusals, escaping round-trips, speed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sinks.lineprotocol import (
    LineProtocolError,
    encode,
    encode_event,
    encode_telemetry,
    escape_measurement,
    escape_tag,
    format_value,
    telemetry_line,
)
from rules.model import Event, Telemetry

TS = 1_767_225_600_123  # ms
TS_NS = TS * 1_000_000


# -- a tiny line-protocol parser (InfluxDB's rules), to read back what we encode ---------
def _split(text: str, sep: str, quotes: bool = False) -> list[str]:
    """Split on ``sep`` where not escaped by a backslash.

    With ``quotes`` (the field section), a double quote right after ``=`` opens a string
    value that runs to the next unescaped quote; elsewhere quotes are literal characters,
    as in InfluxDB's parser.
    """
    out, cur, i, quoted = [], [], 0, False
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if quotes and c == '"' and (quoted or (cur and cur[-1] == "=")):
            quoted = not quoted
        if c == sep and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    assert not quoted, f"unterminated string in {text!r}"
    out.append("".join(cur))
    return out


def _kv(text: str) -> tuple[str, str]:
    """``key=value`` split at the first unescaped ``=``."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "=":
            return text[:i], text[i + 1 :]
        i += 1
    raise AssertionError(f"no '=' in {text!r}")


def _unescape(text: str, chars: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in chars:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _value(text: str) -> object:
    if text.startswith('"'):
        assert text.endswith('"') and len(text) >= 2, text
        return _unescape(text[1:-1], '"\\')
    if text in ("true", "false"):
        return text == "true"
    assert not text.endswith("i"), "integers must be written as floats"
    return float(text)


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    assert "\n" not in line and "\r" not in line
    rest, ts = line.rsplit(" ", 1)
    head = _split(rest, " ")[0]
    fields = rest[len(head) + 1 :]
    meas, *tags = _split(head, ",")
    tag_map: dict[str, str] = {}
    for t in tags:
        k, v = _split(t, "=")
        tag_map[_unescape(k, ",= ")] = _unescape(v, ",= ")
    field_map: dict[str, object] = {}
    for f in _split(fields, ",", quotes=True):
        k, v = _kv(f)
        field_map[_unescape(k, ",= ")] = _value(v)
    assert list(tag_map) == sorted(tag_map), "tags are sorted by key"
    return _unescape(meas, ", "), tag_map, field_map, int(ts)


def tel(values: dict, **kw: object) -> Telemetry:
    base: dict = dict(site="sc01", system="hvac", device="ahu-1", ts_ms=TS, received_ms=TS)
    base.update(kw)
    return Telemetry(values=values, **base)


# -- exact output ------------------------------------------------------------------------
def test_telemetry_numbers_are_floats_and_tags_sorted() -> None:
    line = encode_telemetry(
        tel({"zone_temp": 21, "setpoint": 21.5, "fan": True, "fault_code": 0}, zone="lobby")
    )
    assert line == (
        "hvac,device=ahu-1,site=sc01,zone=lobby "
        f"zone_temp=21.0,setpoint=21.5,fan=true,fault_code=0.0 {TS_NS}"
    )


def test_zone_omitted_when_unknown_and_strings_quoted() -> None:
    line = encode_telemetry(tel({"mode": 'say "hi" \\ bye', "on": False}, zone=None))
    assert line == f'hvac,device=ahu-1,site=sc01 mode="say \\"hi\\" \\\\ bye",on=false {TS_NS}'


def test_escaping_of_tags_field_keys_and_measurement() -> None:
    line = encode_telemetry(tel({"a b,c=d": 1.5}, zone="floor 1,east=x"))
    assert line == (
        f"hvac,device=ahu-1,site=sc01,zone=floor\\ 1\\,east\\=x a\\ b\\,c\\=d=1.5 {TS_NS}"
    )
    assert escape_measurement("a b,c=d") == "a\\ b\\,c=d"
    assert escape_tag("a b,c=d") == "a\\ b\\,c\\=d"


def test_event_line() -> None:
    e = Event(
        site="sc01",
        system="fire",
        device="fp-1",
        ts_ms=TS,
        type="fire_alarm",
        received_ms=TS,
        point="det 3",
        zone="z1",
        attrs={"loop": 2, "text": "smoke", "count": 7},
    )
    dropped: list[tuple[str, str]] = []
    line = encode_event(e, dropped)
    assert line == (
        "events,device=fp-1,point=det\\ 3,site=sc01,system=fire,type=fire_alarm,zone=z1 "
        f'count=1.0,loop=2.0,text="smoke" {TS_NS}'
    )
    assert dropped and "count" in dropped[0][0] and "reserved" in dropped[0][1]
    assert encode(e) == line


def test_event_without_point_or_zone() -> None:
    e = Event("sc01", "access", "door-1", TS, "door_forced", TS)
    assert encode(e) == (
        f"events,device=door-1,site=sc01,system=access,type=door_forced count=1.0 {TS_NS}"
    )


def test_large_and_small_numbers() -> None:
    line = encode_telemetry(tel({"a": 2**60, "b": 1e-300, "c": -1.5e20, "d": 2**53 + 1}))
    _, _, fields, _ = parse_line(line)
    assert fields == {"a": float(2**60), "b": 1e-300, "c": -1.5e20, "d": float(2**53 + 1)}
    assert "i" not in line.split(" ")[1]


# -- refusals ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value,reason",
    [
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        (10**400, "too large"),
        ("two\nlines", "line break"),
        ("cr\rhere", "line break"),
        ("x" * 70_000, "longer"),
        ([1, 2], "unsupported"),
        (None, "unsupported"),
    ],
)
def test_bad_field_dropped_with_reason(value: object, reason: str) -> None:
    dropped: list[tuple[str, str]] = []
    line = encode_telemetry(tel({"bad": value, "good": 1.0}), dropped)
    assert line == f"hvac,device=ahu-1,site=sc01 good=1.0 {TS_NS}"
    assert len(dropped) == 1
    assert dropped[0][0].startswith("ahu-1 bad")
    assert reason in dropped[0][1]


@pytest.mark.parametrize("key", ["", "time", "back\\slash", "new\nline", "tab\there"])
def test_bad_field_key_dropped(key: str) -> None:
    dropped: list[tuple[str, str]] = []
    line = encode_telemetry(tel({key: 1.0, "ok": 2.0}), dropped)
    assert line.endswith(f" ok=2.0 {TS_NS}")
    assert len(dropped) == 1 and dropped[0][1]


def test_nothing_left_is_a_refused_point() -> None:
    with pytest.raises(LineProtocolError, match="no field can be written"):
        encode_telemetry(tel({"a": math.nan}))
    with pytest.raises(LineProtocolError, match="no fields"):
        encode_telemetry(tel({}))


@pytest.mark.parametrize("zone", ["a\\", "a\nb", "x\\ y"])
def test_unencodable_tag_refuses_point(zone: str) -> None:
    with pytest.raises(LineProtocolError, match="tag zone"):
        encode_telemetry(tel({"a": 1.0}, zone=zone))
    e = Event("sc01", "fire", "fp", TS, "fault", TS, point=zone)
    with pytest.raises(LineProtocolError, match="tag point"):
        encode_event(e)


def test_timestamp_out_of_range() -> None:
    with pytest.raises(LineProtocolError, match="range"):
        encode_telemetry(tel({"a": 1.0}, ts_ms=10**17))


def test_format_value() -> None:
    assert format_value(21) == "21.0"
    assert format_value(True) == "true"
    assert format_value(0.1) == "0.1"
    assert format_value('"') == '"\\""'
    with pytest.raises(LineProtocolError):
        format_value(math.nan)


# -- property-based round trips ----------------------------------------------------------
_name_chars = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\\x7f")
names = st.text(_name_chars, min_size=1, max_size=20)
field_keys = names.filter(lambda k: k != "time")
values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=40),
)


def _expected(v: object) -> object:
    if isinstance(v, bool) or isinstance(v, str):
        return v
    assert isinstance(v, int | float)
    return float(v)


@settings(max_examples=300, deadline=None)
@given(
    system=names,
    site=names,
    device=names,
    zone=st.none() | names,
    fields=st.dictionaries(field_keys, values, min_size=1, max_size=6),
    ts=st.integers(min_value=-(2**40), max_value=2**42),
)
def test_telemetry_round_trip(
    system: str, site: str, device: str, zone: str | None, fields: dict, ts: int
) -> None:
    t = Telemetry(site, system, device, ts, fields, 0, zone)
    dropped: list[tuple[str, str]] = []
    line = encode_telemetry(t, dropped)
    assert dropped == []
    meas, tags, got, ts_ns = parse_line(line)
    assert meas == system
    expect_tags = {"device": device, "site": site}
    if zone:
        expect_tags["zone"] = zone
    assert tags == expect_tags
    assert got == {k: _expected(v) for k, v in fields.items()}
    for k, v in fields.items():
        assert type(got[k]) is type(_expected(v))
    assert ts_ns == ts * 1_000_000


@settings(max_examples=200, deadline=None)
@given(
    typ=names,
    point=st.none() | names,
    attrs=st.dictionaries(field_keys.filter(lambda k: k != "count"), values, max_size=4),
)
def test_event_round_trip(typ: str, point: str | None, attrs: dict) -> None:
    e = Event("sc01", "fire", "fp-1", TS, typ, TS, point=point, zone=None, attrs=attrs)
    meas, tags, got, ts_ns = parse_line(encode_event(e))
    assert meas == "events"
    expect = {"device": "fp-1", "site": "sc01", "system": "fire", "type": typ}
    if point:
        expect["point"] = point
    assert tags == expect
    assert got == {"count": 1.0, **{k: _expected(v) for k, v in attrs.items()}}
    assert ts_ns == TS_NS


@settings(max_examples=300, deadline=None)
@given(
    zone=st.text(max_size=8),
    key=st.text(max_size=8),
    value=st.one_of(st.text(max_size=8), st.floats(), st.integers()),
)
def test_anything_either_encodes_to_one_parseable_line_or_is_refused(
    zone: str, key: str, value: object
) -> None:
    dropped: list[tuple[str, str]] = []
    try:
        line = encode_telemetry(tel({key: value}, zone=zone), dropped)
    except LineProtocolError as exc:
        assert str(exc)
        return
    assert "\n" not in line and "\r" not in line
    _, _, fields, _ = parse_line(line)
    assert fields == {key: _expected(value)}
    assert dropped == []


# -- the fast path (tag set and field keys seen before): the same point as the general one --
@settings(max_examples=300, deadline=None)
@given(
    zone=st.none() | names,
    fields=st.dictionaries(field_keys, st.floats() | st.booleans(), min_size=1, max_size=6),
)
def test_fast_path_writes_what_the_general_path_writes(zone: str | None, fields: dict) -> None:
    import gateway.sinks.lineprotocol as lp

    t = tel(fields, zone=zone, device="fast-path-1")
    lp._prefixes.clear()  # a tag set not seen yet: the general path alone
    lp._plain_tags.clear()
    lp._plain_measurements.clear()
    assert telemetry_line(t) is None
    dropped: list[tuple[str, str]] = []
    general = encode_telemetry(t, dropped) if any(map(_finite, fields.values())) else None
    fast = telemetry_line(t)  # tag set and field keys cached now
    writable = all(map(_finite, fields.values()))
    plain = not any(c in k for k in fields for c in ',= "{}:')
    assert (fast is not None) == (writable and plain)
    if fast is not None:
        assert general is not None and dropped == []
        assert parse_line(fast) == parse_line(general)
        assert encode_telemetry(t) == fast


def _finite(v: object) -> bool:
    return isinstance(v, bool) or math.isfinite(v)  # type: ignore[arg-type]


def test_fast_path_leaves_non_finite_numbers_to_the_general_path() -> None:
    t = tel({"a": 1.5, "b": 2.5}, device="fast-path-2")
    assert encode_telemetry(t) == f"hvac,device=fast-path-2,site=sc01 a=1.5,b=2.5 {TS_NS}"
    assert telemetry_line(t) == f"hvac,device=fast-path-2,site=sc01 a=1.5,b=2.5 {TS_NS}"
    for bad in (math.nan, math.inf, -math.inf):
        t = tel({"a": 1.5, "b": bad}, device="fast-path-2")
        assert telemetry_line(t) is None
        dropped: list[tuple[str, str]] = []
        assert encode_telemetry(t, dropped) == f"hvac,device=fast-path-2,site=sc01 a=1.5 {TS_NS}"
        assert len(dropped) == 1 and "finite" in dropped[0][1]


@pytest.mark.parametrize(
    ("zone", "tags"),
    [
        (None, "device=fast-path-3,site=sc01"),
        ("", "device=fast-path-3,site=sc01"),  # an empty zone is left out
        ("lobby", "device=fast-path-3,site=sc01,zone=lobby"),
        ("floor 1,east", "device=fast-path-3,site=sc01,zone=floor\\ 1\\,east"),
    ],
)
def test_fast_path_for_plain_and_escaped_tag_sets(zone: str | None, tags: str) -> None:
    t = tel({"a": 1.5, "on": True}, zone=zone, device="fast-path-3")
    want = f"hvac,{tags} a=1.5,on=true {TS_NS}"
    assert encode_telemetry(t) == want  # the general path, which caches what it can
    assert telemetry_line(t) == want
    assert encode_telemetry(t) == want
