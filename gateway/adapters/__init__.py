"""Adapters: foreign MQTT payloads (Zigbee2MQTT, Tasmota, Shelly Gen2, ThingsBoard,
Sparkplug B, any JSON) decoded into the contract's messages (``contract.md`` section 11).

Lifecycle: at start the composition root calls :func:`load_adapters` with the adapters
file (``SITEWATCH_ADAPTERS_FILE``) or an already parsed list, and the site id; it gets an
:class:`AdapterDecoder`, hands it to the pipeline as its decoder, and subscribes to
``sitewatch/<site>/#`` plus :meth:`AdapterDecoder.topic_filters`. The decoder lives as
long as the pipeline; Sparkplug B sessions and Zigbee2MQTT edges are its only state.

A bad file raises :class:`AdapterConfigError` at load, naming the entry and the key; a
message an adapter cannot map is dead-lettered with reason ``adapter:<name>:<why>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.adapters.base import Adapter
from gateway.adapters.config import AdapterConfigError, load_specs
from gateway.adapters.decoder import AdapterDecoder
from gateway.adapters.generic_json import GenericJson
from gateway.adapters.shelly import Shelly
from gateway.adapters.sparkplugb import SparkplugB
from gateway.adapters.tasmota import Tasmota
from gateway.adapters.thingsboard import ThingsBoard
from gateway.adapters.zigbee2mqtt import Zigbee2Mqtt

__all__ = ["AdapterConfigError", "AdapterDecoder", "build_adapter", "load_adapters"]

KINDS: dict[str, type[Adapter]] = {
    cls.kind: cls for cls in (Zigbee2Mqtt, Tasmota, Shelly, ThingsBoard, SparkplugB, GenericJson)
}


def build_adapter(spec: Any, site_id: str) -> Adapter:
    try:
        return KINDS[spec.kind](spec, site_id)
    except (ValueError, KeyError) as exc:  # e.g. an unknown time zone, a bad field name
        raise AdapterConfigError(f"adapter {spec.name!r}: {exc}") from None


def load_adapters(path_or_list: str | Path | Sequence[Any], site_id: str) -> AdapterDecoder:
    """The adapters file (a path) or its parsed list -> the pipeline's decoder."""
    specs = load_specs(path_or_list)
    return AdapterDecoder(site_id, [build_adapter(s, site_id) for s in specs])
