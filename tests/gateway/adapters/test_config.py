"""The adapters file: validation, and its errors naming the entry and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters import AdapterConfigError, AdapterDecoder, load_adapters
from gateway.adapters.decoder import compile_filter

Z2M = {"name": "z2m", "kind": "zigbee2mqtt", "topic": "zigbee2mqtt/#"}


def refused(entries: list) -> str:
    with pytest.raises(AdapterConfigError) as exc:
        load_adapters(entries, "sc01")
    return str(exc.value)


def test_unknown_key_is_refused_and_named() -> None:
    msg = refused([Z2M, {**Z2M, "name": "z2", "colour": "red"}])
    assert "adapter 1 ('z2'): colour: unknown key" in msg


def test_unknown_nested_key_is_named_with_its_path() -> None:
    msg = refused([{**Z2M, "device": {"from": "name", "mapp": {}}}])
    assert "device.mapp: unknown key" in msg
    msg = refused(
        [
            {
                "name": "j",
                "kind": "json",
                "topic": "a/+",
                "device": "x",
                "fields": {"t": {"pth": "a"}},
            }
        ]
    )
    assert "fields.t.pth: unknown key" in msg


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({**Z2M, "kind": "zigbee"}, "does not match any of the expected tags"),
        ({**Z2M, "topic": "a/#/b"}, "'#' must be a whole last level"),
        ({**Z2M, "topic": "a/b+"}, "'+' must be a whole level"),
        ({**Z2M, "name": "has space"}, "name"),
        ({**Z2M, "system": "plumbing"}, "system"),
        ({**Z2M, "device": "segment:x"}, "from is name, segment:N"),
        ({**Z2M, "device": {"map": {"a": "bad id!"}}}, "device.map.a"),
        (
            {
                "name": "j",
                "kind": "json",
                "topic": "a",
                "device": "d",
                "fields": {"t": {"path": "a", "convert": "F->C"}},
            },
            "unknown conversion 'F->C'",
        ),
        (
            {"name": "t", "kind": "tasmota", "topic": "tele/#", "timezone": "Mars/Olympus"},
            "Mars/Olympus",
        ),
        ({**Z2M, "fields": {"a": "bad\nname"}}, "not allowed"),
    ],
)
def test_invalid_entries_are_refused(entry: dict, words: str) -> None:
    assert words in refused([entry])


def test_duplicate_names_and_non_lists_are_refused() -> None:
    assert "name: used twice" in refused([Z2M, Z2M])
    assert "YAML list" in refused({"name": "x"})  # type: ignore[arg-type]


def test_file_is_read_and_topic_filters_listed(tmp_path: Path) -> None:
    f = tmp_path / "adapters.yaml"
    f.write_text(
        "- {name: z2m, kind: zigbee2mqtt, topic: 'zigbee2mqtt/#'}\n"
        "- {name: t, kind: tasmota, topic: 'tele/#'}\n"
        "- {name: t2, kind: tasmota, topic: 'tele/#', system: hvac}\n"
    )
    dec = load_adapters(f, "sc01")
    assert isinstance(dec, AdapterDecoder)
    assert dec.topic_filters() == ["zigbee2mqtt/#", "tele/#"]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_adapters(empty, "sc01").topic_filters() == []
    assert "adapters file" in refused(str(tmp_path / "missing.yaml"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("flt", "topic", "hit"),
    [
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/#", "ab", False),
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a//c", True),
        ("a/+/c", "a/b/d/c", False),
        ("+/online", "shelly-1/online", True),
        ("+/online", "$SYS/online", False),
        ("#", "$SYS/broker", False),
        ("#", "anything/at/all", True),
        ("a.b/c", "axb/c", False),
        ("zigbee2mqtt/+", "zigbee2mqtt/x/availability", False),
    ],
)
def test_filter_matching_follows_mqtt(flt: str, topic: str, hit: bool) -> None:
    _, rx = compile_filter(flt)
    assert bool(rx.fullmatch(topic)) is hit
