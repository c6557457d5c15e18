"""Time-series sinks: InfluxDB 1.x, InfluxDB 2.x (v2 write API) and an embedded SQLite store.

:func:`make_sink` picks one from the settings; every sink follows the lifecycle of
:class:`gateway.sinks.base.Sink` (see that module's docstring).
"""

from __future__ import annotations

from typing import Any

from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.sinks.base import (
    QueryFailed,
    QueryNotSupported,
    Sink,
    SinkError,
)
from gateway.sinks.buffered import BufferedSink
from gateway.sinks.embedded import DEFAULT_PATH, EmbeddedSink
from gateway.sinks.influx_v1 import InfluxV1Sink
from gateway.sinks.influx_v2 import InfluxV2Sink

__all__ = [
    "make_sink",
    "Sink",
    "BufferedSink",
    "SinkError",
    "QueryFailed",
    "QueryNotSupported",
    "EmbeddedSink",
    "InfluxV1Sink",
    "InfluxV2Sink",
]


def make_sink(settings: Settings, metrics: Metrics, clock: Clock) -> Sink:
    """The sink the settings ask for.

    * ``influx_url`` empty -> :class:`EmbeddedSink` on ``telemetry_db``
      (empty -> ``./sitewatch-telemetry.db``);
    * ``influx_api == "v1"`` -> :class:`InfluxV1Sink` (database ``influx_db``);
    * ``influx_api == "v2"`` -> :class:`InfluxV2Sink` (bucket ``influx_db``,
      ``influx_token``, ``influx_org``).

    Batches: ``influx_batch_size`` points or ``influx_flush_interval_s`` seconds; an early
    flush once half the MQTT receive window (``mqtt_receive_maximum``) is waiting to
    become durable, since messages are acknowledged only then.
    """
    common: dict[str, Any] = dict(
        batch_size=settings.influx_batch_size,
        flush_interval=settings.influx_flush_interval_s,
        flush_at_unacked=max(1, settings.mqtt_receive_maximum // 2),
        max_buffer=max(20 * settings.influx_batch_size, 4 * settings.queue_size),
    )
    if not settings.influx_url:
        return EmbeddedSink(settings.telemetry_db or DEFAULT_PATH, metrics, clock, **common)
    if settings.influx_api == "v2":
        return InfluxV2Sink(
            settings.influx_url,
            settings.influx_db,
            metrics,
            token=settings.influx_token,
            org=settings.influx_org,
            **common,
        )
    return InfluxV1Sink(
        settings.influx_url, settings.influx_db, metrics, token=settings.influx_token, **common
    )
