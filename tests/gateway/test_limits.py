"""Bounds: a flood of made-up device ids and of field names is dead-lettered, counted."""

from __future__ import annotations

from gateway.decode import ContractDecoder
from gateway.limits import BoundedDecoder
from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import Rejected, Telemetry


def make(max_devices: int, max_fields: int = 200) -> tuple[BoundedDecoder, RuleEngine]:
    engine = RuleEngine(load_site(), load_default_pack())
    dec = BoundedDecoder(
        ContractDecoder("sc01"), engine.devices, max_devices=max_devices, max_fields=max_fields
    )
    return dec, engine


def feed(dec: BoundedDecoder, engine: RuleEngine, device: str, values: str) -> object:
    res = dec.decode(f"sitewatch/sc01/hvac/{device}/telemetry", values.encode(), 1_000)
    if isinstance(res, Telemetry):
        engine.on_telemetry(res)
    return res


def test_new_devices_beyond_the_limit_are_refused_known_ones_go_on() -> None:
    dec, engine = make(max_devices=0)
    limit = len(engine.devices) + 3
    dec.max_devices = limit
    for i in range(3):
        assert isinstance(feed(dec, engine, f"new-{i}", '{"zone_temp": 20}'), Telemetry)
    res = feed(dec, engine, "new-3", '{"zone_temp": 20}')
    assert isinstance(res, Rejected) and res.reason == "device_limit"
    assert "new-3" not in engine.devices and len(engine.devices) == limit
    assert isinstance(feed(dec, engine, "new-0", '{"zone_temp": 21}'), Telemetry)


def test_fields_beyond_the_limit_are_refused_known_fields_go_on() -> None:
    dec, engine = make(max_devices=10**6, max_fields=3)
    assert isinstance(feed(dec, engine, "d1", '{"a": 1, "b": 2, "c": 3}'), Telemetry)
    res = feed(dec, engine, "d1", '{"a": 1, "d": 4}')
    assert isinstance(res, Rejected) and res.reason == "field_limit" and "d" in res.detail
    assert isinstance(feed(dec, engine, "d1", '{"a": 5, "c": 6}'), Telemetry)
    assert sorted(engine.devices["d1"].values) == ["a", "b", "c"]


def test_rejections_of_the_inner_decoder_pass_through() -> None:
    dec, engine = make(max_devices=0)
    res = feed(dec, engine, "d1", "{oops")
    assert isinstance(res, Rejected) and res.reason == "bad_json"


def test_a_new_devices_id_is_one_string_for_all_that_keep_it() -> None:
    import sys

    dec, engine = make(max_devices=10**6)
    first = feed(dec, engine, "fcu-new-1", '{"zone_temp": 20}')
    assert isinstance(first, Telemetry)
    key = next(k for k in engine.devices if k == "fcu-new-1")
    assert first.device is key is engine.devices[key].id is sys.intern("".join(["fcu-new-", "1"]))
    assert first.system is engine.devices[key].system is sys.intern("".join(["hv", "ac"]))
