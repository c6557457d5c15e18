"""Prometheus figures of the gateway, served on ``GET /metrics``.

One registry per process (``REGISTRY``) so tests can start several gateways without
name clashes being an issue: each :class:`Metrics` gets its own registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series only add noise to every scrape


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.messages_in = Counter(
            "sitewatch_messages_in", "MQTT messages received", ["kind"], registry=r
        )
        self.rejected = Counter(
            "sitewatch_messages_rejected", "messages rejected, by reason", ["reason"], registry=r
        )
        self.queue_depth = Gauge(
            "sitewatch_queue_depth", "items waiting between stages", ["stage"], registry=r
        )
        self.dropped = Counter(
            "sitewatch_messages_dropped",
            "QoS 0 messages dropped because the store is behind (QoS 1 waits instead)",
            ["reason"],
            registry=r,
        )
        self.unacked = Gauge(
            "sitewatch_mqtt_unacked", "QoS 1 messages received and not yet acknowledged", registry=r
        )
        self.batch_size = Histogram(
            "sitewatch_sink_batch_size",
            "points per write",
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
            registry=r,
        )
        self.write_latency = Histogram(
            "sitewatch_sink_write_seconds",
            "time of one write to the time-series store",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.points_written = Counter(
            "sitewatch_points_written", "points stored in the time-series store", registry=r
        )
        self.points_rejected = Counter(
            "sitewatch_points_rejected",
            "points the time-series store refused (sent to the dead-letter topic)",
            registry=r,
        )
        self.write_errors = Counter(
            "sitewatch_sink_write_errors", "failed writes (retried)", ["kind"], registry=r
        )
        self.mqtt_connected = Gauge(
            "sitewatch_mqtt_connected", "1 while the broker link is up", ["link"], registry=r
        )
        self.mqtt_reconnects = Counter(
            "sitewatch_mqtt_reconnects", "broker reconnections", ["link"], registry=r
        )
        self.sse_delay = Histogram(
            "sitewatch_sse_delay_seconds",
            "alarm change published -> SSE frame handed to the HTTP server",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.loop_lag = Histogram(
            "sitewatch_loop_lag_seconds",
            "how late the event loop runs a callback due now (sampled every 0.1 s)",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.devices = Gauge("sitewatch_devices", "known devices", ["state"], registry=r)
