"""Record and replay files, and the backtest against live ingestion (pipeline + rules stage)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from gateway import recorder
from gateway.clock import ManualClock
from gateway.decode import ContractDecoder
from gateway.history import Counts, file_messages
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.recorder import Record, RecordingError, RecordingReader, RecordingWriter
from gateway.services import build_site
from gateway.settings import Settings
from gateway.site import load_site
from rules import load_default_pack
from rules.backtest import Backtest
from rules.model import RuleHit
from tests.gateway import recording_scenario as sc
from tests.gateway.test_pipeline import FakeLink, FakeSink

T0 = 1_767_585_600_000  # 2026-01-05 12:00 Asia/Shanghai


def write(path: Path, site: str, latency_ms: int = 40) -> list[Record]:
    recs = [
        Record(ts + latency_ms, topic, payload, 1) for ts, topic, payload in sc.messages(site, T0)
    ]
    w = RecordingWriter(path, [f"sitewatch/{site}/#"], T0)
    for r in recs:
        w.write(r)
    w.close()
    return recs


def test_a_recording_reads_back_exactly(tmp_path: Path) -> None:
    p = tmp_path / "rec.jsonl.gz"
    recs = [
        Record(1, "sitewatch/a/hvac/x/telemetry", b'{"zone_temp": 21}', 1),
        Record(2, "spBv1.0/g/DDATA/n/d", bytes([0x08, 0xFF, 0x00, 0x80]), 0),
        Record(3, "sitewatch/a/hvac/x/status", b"offline", 1, True),
        Record(4, "zigbee2mqtt/Front door", "温度".encode(), 0),
    ]
    w = RecordingWriter(p, ["#"], 0)
    for r in recs:
        w.write(r)
    w.close()
    assert list(recorder.read_records(p)) == recs
    lines = gzip.open(p, "rt", encoding="utf-8").read().splitlines()
    assert json.loads(lines[0]) == {"sitewatch_recording": 1, "filters": ["#"], "started_ms": 0}
    assert json.loads(lines[2]) == {
        "t": 2,
        "topic": "spBv1.0/g/DDATA/n/d",
        "payload_b64": "CP8AgA==",
    }
    assert json.loads(lines[3])["retain"] is True


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{oops", "3: not JSON"),
        ('{"t": "x", "topic": "a"}', "3: a record needs an integer t"),
        ('{"t": 1, "topic": "a"}', "3: no payload"),
        ('{"t": 1, "topic": "a", "payload_b64": "!!"}', "3: payload_b64 is not base64"),
        ('{"t": 1, "topic": "a", "payload": "", "qos": 7}', "3: qos 7"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, why: str) -> None:
    p = tmp_path / "bad.gz"
    with gzip.open(p, "wt") as fh:
        fh.write('{"sitewatch_recording": 1}\n{"t": 1, "topic": "a", "payload": "x"}\n')
        fh.write(line + "\n")
    with pytest.raises(RecordingError, match=why):
        list(recorder.read_records(p))


def test_not_a_recording(tmp_path: Path) -> None:
    p = tmp_path / "plain.txt"
    p.write_text("hello")
    with pytest.raises(RecordingError):
        list(recorder.read_records(p))
    with pytest.raises(RecordingError, match="No such file"):
        RecordingReader(tmp_path / "missing.gz")


def test_rewrite_site() -> None:
    assert recorder.rewrite_site("sitewatch/sc01/hvac/x/telemetry", "b2") == (
        "sitewatch/b2/hvac/x/telemetry"
    )
    assert recorder.rewrite_site("zigbee2mqtt/door", "b2") == "zigbee2mqtt/door"
    assert recorder.rewrite_site("sitewatch/sc01", "b2") == "sitewatch/sc01"
    assert recorder.rewrite_site("sitewatch/sc01/x", None) == "sitewatch/sc01/x"


class FakeClient:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> Any:
        self.sent.append((topic, payload, qos, retain))
        info = paho.MQTTMessageInfo(len(self.sent))
        info._published = True  # noqa: SLF001 - acknowledged at once
        info._condition = None  # type: ignore[assignment]  # noqa: SLF001
        return info

    def disconnect(self) -> None: ...

    def loop_stop(self) -> None: ...


def test_replay_keeps_the_pace_divided_by_speed_and_rewrites_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = tmp_path / "r.gz"
    w = RecordingWriter(p, ["#"], 0)
    for t, topic in (
        (10_000, "sitewatch/sc01/hvac/x/telemetry"),
        (12_000, "tele/plug/SENSOR"),
        (16_000, "sitewatch/sc01/hvac/x/status"),
    ):
        w.write(Record(t, topic, b"{}", 0, topic.endswith("status")))
    w.close()
    client = FakeClient()
    monkeypatch.setattr(recorder, "connect", lambda url: client)
    now = [0.0]
    monkeypatch.setattr(recorder.time, "monotonic", lambda: now[0])
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(round(s, 3))
        now[0] += s

    n = recorder.replay("mqtt://127.0.0.1:1", p, speed=2, site="b2", sleep=sleep)
    assert n == 3
    assert slept == [1.0, 2.0]  # 2 s and 4 s of recording at twice the speed
    assert [(t, r) for t, _, _, r in client.sent] == [
        ("sitewatch/b2/hvac/x/telemetry", False),
        ("tele/plug/SENSOR", False),
        ("sitewatch/b2/hvac/x/status", True),
    ]
    client.sent.clear()
    slept.clear()
    assert recorder.replay("mqtt://127.0.0.1:1", p, speed=0, sleep=sleep) == 3
    assert slept == [] and client.sent[0][0] == "sitewatch/sc01/hvac/x/telemetry"
    with pytest.raises(ValueError, match="speed"):
        recorder.replay("mqtt://127.0.0.1:1", p, speed=-1)


# -- the backtest against live ingestion --------------------------------------------------
Ep = tuple[str, str, str | None, int, int | None]


def live(path: Path, tmp: Path, site: str) -> set[Ep]:
    """The recording through the live path: the pipeline (the contract's decoder) with
    the site's real services (rules stage, alarms, tickets on SQLite), the clock at each
    record's receive time and the services ticked once a second, as the runtime does."""
    clock = ManualClock(T0 / 1000)
    settings = Settings(db_url=f"sqlite:///{tmp / 'state.db'}", site=site)
    demo = load_site(None).model_copy(update={"site": site, "devices": []})
    sv = build_site(settings, demo, clock, Metrics(), mqtt=None, publish=lambda *a: None)
    hits: list[RuleHit] = []
    apply = sv.rules.apply

    def spy(h: RuleHit) -> None:
        hits.append(h)
        apply(h)

    sv.rules.apply = spy  # type: ignore[method-assign,assignment]
    p = Pipeline(site, ContractDecoder(site), FakeSink(), Metrics(), clock, processors=[sv.rules])
    link = FakeLink()
    p.add_link(link)  # type: ignore[arg-type]
    next_tick = None
    for mid, rec in enumerate(recorder.read_records(path), start=1):
        if next_tick is None:
            next_tick = (rec.t_ms // 1000 + 1) * 1000
        while next_tick <= rec.t_ms:
            clock.set(next_tick / 1000)
            sv.tick(next_tick)
            next_tick += 1000
        clock.set(rec.t_ms / 1000)
        m = paho.MQTTMessage(mid=mid, topic=rec.topic.encode())
        m.payload, m.qos = rec.payload, rec.qos
        p.on_message(link, m)  # type: ignore[arg-type]
    sv.rules.close()
    opened: dict[tuple[str, str, str | None], int] = {}
    out: set[Ep] = set()
    for h in hits:
        key = (h.rule, h.device, h.point)
        if h.active:
            opened[key] = h.ts_ms
        elif key in opened:
            out.add((*key, opened.pop(key), h.ts_ms))
    out.update((*k, t, None) for k, t in opened.items())
    return out


def test_backtest_and_live_ingestion_agree_on_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "scenario.jsonl.gz"
    write(path, "sc01")
    from_live = live(path, tmp_path, "sc01")
    demo = load_site(None).model_copy(update={"devices": []})
    counts = Counts()
    bt = Backtest(demo, load_default_pack())
    bt.feed_all(file_messages(RecordingReader(path), ContractDecoder("sc01"), counts))
    report = bt.finish()
    from_backtest = {e.key() for e in report.episodes}
    assert from_backtest ^ from_live == set()  # zero differences
    assert from_backtest == sc.expected(T0)
    assert counts.records == counts.messages == len(sc.messages("sc01", T0))
    assert counts.rejected == 0
