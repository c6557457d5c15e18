"""Every golden file: the adapter's output for the vendor's message, message by message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.gateway.adapters.golden_io import GOLDEN, cases, expected_path, run_case

ADAPTERS = ("zigbee2mqtt", "tasmota", "shelly", "thingsboard", "sparkplugb", "generic_json")


@pytest.mark.parametrize("inp", cases(), ids=lambda p: f"{p.parent.name}/{p.name[:2]}")
def test_golden(inp: Path) -> None:
    case = json.loads(inp.read_text())
    assert case["source"].strip(), "every golden input says where its shape comes from"
    expected = json.loads(expected_path(inp).read_text())["results"]
    assert run_case(inp.parent, case) == expected


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_at_least_twenty_golden_files_per_adapter(adapter: str) -> None:
    inputs = list((GOLDEN / adapter).glob("*.input.json"))
    assert len(inputs) >= 20
    assert all(expected_path(p).exists() for p in inputs)
