"""The gateway's Prometheus figures: per-message counters kept as plain ints, read on scrape."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from gateway.metrics import IntCounter, Metrics
from gateway.sinks.buffered import LineProtocolSink
from rules.model import Telemetry


def test_messages_in_are_exported_as_a_counter_by_kind() -> None:
    m = Metrics()
    tel = m.messages_in.labels(kind="telemetry")
    tel.inc()
    tel.inc(2)
    assert m.messages_in.labels(kind="telemetry") is tel  # one child per label set
    m.messages_in.labels(kind="rejected").inc()
    text = generate_latest(m.registry).decode()
    assert "# TYPE sitewatch_messages_in_total counter" in text
    assert 'sitewatch_messages_in_total{kind="telemetry"} 3.0' in text
    assert 'sitewatch_messages_in_total{kind="rejected"} 1.0' in text
    get = m.registry.get_sample_value
    assert get("sitewatch_messages_in_total", {"kind": "telemetry"}) == 3
    assert tel._value.get() == 3  # read as a prometheus_client child is read


def test_an_int_counter_only_goes_up_and_checks_its_labels() -> None:
    m = Metrics()
    c = IntCounter("x_events", "events", ("kind", "site"), registry=m.registry)
    with pytest.raises(ValueError, match="only go up"):
        c.labels(kind="a", site="s").inc(-1)
    with pytest.raises(ValueError, match="labels"):
        c.labels(kind="a")
    c.labels(site="s", kind="a").inc()
    assert m.registry.get_sample_value("x_events_total", {"kind": "a", "site": "s"}) == 1
    with pytest.raises(ValueError):  # the same name twice in one registry
        IntCounter("x_events", "events", ("kind",), registry=m.registry)


class _Sink(LineProtocolSink):
    async def _write(self, points: list[str]) -> None:  # pragma: no cover - never flushed
        raise AssertionError


def test_the_sinks_queue_depth_is_read_when_scraped() -> None:
    m = Metrics()
    sink = _Sink(m, batch_size=1000)
    depth = {"stage": "sink"}
    assert m.registry.get_sample_value("sitewatch_queue_depth", depth) == 0
    for seq in range(3):
        sink.submit(Telemetry("sc01", "hvac", "ahu-1", 1_000 + seq, {"a": 1.5}, 0), seq)
    assert m.registry.get_sample_value("sitewatch_queue_depth", depth) == 3
