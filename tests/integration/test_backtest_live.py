"""Record, replay and backtest through the real Mosquitto (issue 15): ten minutes of five
devices are recorded off the broker (``sitewatch record``), replayed into an in-process
gateway under its own site id (``sitewatch replay --site``), and backtested from the same
file; the (rule, device, point, raise time, clear time) sets of the two ways are equal."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.decode import ContractDecoder
from gateway.history import Counts, file_messages
from gateway.recorder import RecordingReader, read_records, record, replay
from gateway.site import load_site
from rules import load_default_pack
from rules.backtest import Backtest
from rules.model import RuleHit
from tests.gateway import recording_scenario as sc
from tests.integration.runtime_harness import Publisher, RuntimeHarness, running

pytestmark = pytest.mark.integration

Ep = tuple[str, str, str | None, int, int | None]


@pytest.fixture
def h(tmp_path: Path, mosquitto_url: str, unique_site: str) -> Iterator[RuntimeHarness]:
    with running(tmp_path, mosquitto_url, unique_site) as harness:
        yield harness


def episodes(hits: list[RuleHit]) -> set[Ep]:
    opened: dict[tuple[str, str, str | None], int] = {}
    out: set[Ep] = set()
    for hit in hits:
        key = (hit.rule, hit.device, hit.point)
        if hit.active:
            opened[key] = hit.ts_ms
        elif key in opened:
            out.add((*key, opened.pop(key), hit.ts_ms))
    out.update((*k, t, None) for k, t in opened.items())
    return out


def test_recorded_traffic_gives_the_same_alarms_live_and_in_a_backtest(
    h: RuntimeHarness, tmp_path: Path
) -> None:
    src = "rec" + uuid.uuid4().hex[:8]
    t0 = h.now_ms() - 700_000
    msgs = sc.messages(src, t0)
    out = tmp_path / "traffic.jsonl.gz"

    # 1. record the broker's traffic of site ``src`` while a publisher sends the scenario
    ready, stop = threading.Event(), threading.Event()
    counted: list[int] = []
    rec = threading.Thread(
        target=lambda: counted.append(
            record(
                h.mqtt_url,
                [f"sitewatch/{src}/#"],
                out,
                stop,
                limit=len(msgs),
                duration_s=60,
                on_ready=ready.set,
            )
        )
    )
    rec.start()
    assert ready.wait(20)
    pub = Publisher(h.mqtt_url)
    try:
        for _ts, topic, payload in msgs:
            pub.publish(topic, payload)
    finally:
        pub.close()
    rec.join(60)
    assert counted == [len(msgs)]
    recorded = list(read_records(out))
    assert [(r.topic, r.payload) for r in recorded] == [(t, p) for _ts, t, p in msgs]

    # 2. the live way: replayed into the gateway under its own site id
    hits: list[RuleHit] = []

    def spy() -> None:
        stage = h.rt.services.rules  # type: ignore[union-attr]
        apply = stage.apply

        def record_hit(hit: RuleHit) -> None:
            hits.append(hit)
            apply(hit)

        stage.apply = record_hit  # type: ignore[method-assign]

    h.call(spy)
    assert replay(h.mqtt_url, out, speed=0, site=h.site) == len(msgs)
    h.sync("access")
    h.sync("fire")
    live = {
        e
        for e in h.call(lambda: episodes(list(hits)))
        if e[1] in sc.DEVICES and e[3] <= t0 + sc.SPAN_S * 1000
    }

    # 3. the backtest of the same file
    site = load_site(None).model_copy(update={"site": src})
    bt = Backtest(site, load_default_pack())
    counts = Counts()
    bt.feed_all(file_messages(RecordingReader(out), ContractDecoder(src), counts))
    backtest = {e.key() for e in bt.finish().episodes if e.device in sc.DEVICES}

    assert counts.rejected == 0
    assert backtest ^ live == set()  # zero differences
    assert backtest == sc.expected(t0)
