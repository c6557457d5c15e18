"""Prometheus figures of the gateway, served on ``GET /metrics``.

One registry per process (``REGISTRY``) so tests can start several gateways without
name clashes being an issue: each :class:`Metrics` gets its own registry.

Counters bumped once per message (``sitewatch_messages_in_total``) are
:class:`IntCounter`: plain ints read by the registry when ``/metrics`` is scraped, not
prometheus_client's locked values (a lock and two calls per ``inc``, ~0.25 µs, for every
message). Everything else is prometheus_client's own.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

disable_created_metrics()  # the *_created series only add noise to every scrape


class IntCount:
    """One labelled child of an :class:`IntCounter`: ``inc()`` adds to a plain int (the
    event loop's thread is the only writer). ``_value.get()`` reads it as a
    prometheus_client child is read."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def inc(self, amount: int = 1) -> None:
        if amount < 0:
            raise ValueError("counters only go up")
        self.value += amount

    def get(self) -> int:
        return self.value

    @property
    def _value(self) -> IntCount:
        return self


class IntCounter(Collector):
    """A labelled counter of plain ints, exported as ``<name>_total`` when collected."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: tuple[str, ...],
        registry: CollectorRegistry,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = labelnames
        self._children: dict[tuple[str, ...], IntCount] = {}
        registry.register(self)

    def labels(self, **labels: str) -> IntCount:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name}: labels {sorted(labels)} != {list(self.labelnames)}")
        key = tuple(str(labels[n]) for n in self.labelnames)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = IntCount()
        return child

    def describe(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)

    def collect(self) -> Iterator[Metric]:
        fam = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        for key, child in list(self._children.items()):
            fam.add_metric(list(key), child.value)
        yield fam


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.messages_in = IntCounter(
            "sitewatch_messages_in", "MQTT messages received", ("kind",), registry=r
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
