"""Record a broker's traffic to a file, and publish it back (``sitewatch record``/``replay``).

The file is gzip-compressed JSON lines: a header line
``{"sitewatch_recording": 1, "filters": [...], "started_ms": T}``, then one line per
message ``{"t": receive time (epoch ms), "topic": ..., "payload": text}`` (a payload that
is not UTF-8, a Sparkplug B protobuf, goes as ``"payload_b64"``), with ``"qos"`` and
``"retain"`` when they are not 0.

Lifecycle of a recording: :class:`RecordingWriter` opens the file and writes the header;
:func:`record` connects a paho client (MQTT 5, clean start, so nothing is taken from the
gateway's own session), subscribes to the filters and writes every message with its
receive time on the injected clock until ``stop`` is set, ``limit`` messages were
written or ``duration_s`` passed; the file is flushed once a second and closed at the end.

Lifecycle of a replay: :func:`read_records` streams a file back (any line that is not a
record is a :class:`RecordingError` naming its line); :func:`replay` publishes each record
at its recorded offset divided by ``speed`` (0: as fast as the broker takes them), with
its QoS and retain flag, the site segment of ``sitewatch/<site>/...`` topics rewritten to
``site`` when given. The backtest (``rules.backtest``) reads the same records.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho

from gateway.clock import Clock, SystemClock
from gateway.settings import parse_mqtt_url

FORMAT_VERSION = 1
FLUSH_S = 1.0


class RecordingError(ValueError):
    """A recording file that cannot be read; the message names the file and line."""


@dataclass(slots=True, frozen=True)
class Record:
    t_ms: int
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False

    def line(self) -> str:
        body: dict[str, Any] = {"t": self.t_ms, "topic": self.topic}
        try:
            body["payload"] = self.payload.decode("utf-8")
        except UnicodeDecodeError:
            body["payload_b64"] = base64.b64encode(self.payload).decode("ascii")
        if self.qos:
            body["qos"] = self.qos
        if self.retain:
            body["retain"] = True
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class RecordingWriter:
    """Appends records to a new gzip JSON-lines file (see the module's docstring)."""

    def __init__(self, path: str | Path, filters: Sequence[str], started_ms: int) -> None:
        self.path = Path(path)
        self._fh: IO[str] = gzip.open(self.path, "wt", encoding="utf-8")  # noqa: SIM115
        head = {"sitewatch_recording": FORMAT_VERSION, "filters": list(filters)}
        head["started_ms"] = started_ms
        self._fh.write(json.dumps(head) + "\n")
        self.count = 0
        self._lock = threading.Lock()  # paho's network thread writes, the caller flushes

    def write(self, rec: Record) -> None:
        with self._lock:
            self._fh.write(rec.line() + "\n")
            self.count += 1

    def flush(self) -> None:
        with self._lock:
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            self._fh.close()


class RecordingReader:
    """The records of a recording, in file order; :attr:`position` and :attr:`size`
    (compressed bytes) tell how far it got (a progress bar)."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        try:
            self._raw = open(path, "rb")  # noqa: SIM115 - closed when iterated out
            self.size = os.fstat(self._raw.fileno()).st_size
        except OSError as exc:
            raise RecordingError(f"{path}: {exc}") from None

    @property
    def position(self) -> int:
        return 0 if self._raw.closed else self._raw.tell()

    def __iter__(self) -> Iterator[Record]:
        path = self.path
        with self._raw, io.TextIOWrapper(gzip.GzipFile(fileobj=self._raw), "utf-8") as fh:
            try:
                for n, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    rec = _parse(line, path, n)
                    if rec is not None:
                        yield rec
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise RecordingError(f"{path}: {exc}") from None


def read_records(path: str | Path) -> Iterator[Record]:
    """The records of a recording, in file order."""
    return iter(RecordingReader(path))


def _parse(line: str, path: str | Path, n: int) -> Record | None:
    try:
        obj = json.loads(line)
    except ValueError:
        raise RecordingError(f"{path}:{n}: not JSON") from None
    if not isinstance(obj, dict):
        raise RecordingError(f"{path}:{n}: not a JSON object")
    if "sitewatch_recording" in obj:
        if obj["sitewatch_recording"] != FORMAT_VERSION:
            raise RecordingError(f"{path}:{n}: format {obj['sitewatch_recording']!r} unknown")
        return None
    t, topic = obj.get("t"), obj.get("topic")
    if not isinstance(t, int) or isinstance(t, bool) or not isinstance(topic, str) or not topic:
        raise RecordingError(f"{path}:{n}: a record needs an integer t and a topic")
    if isinstance(obj.get("payload"), str):
        payload = obj["payload"].encode("utf-8")
    elif isinstance(obj.get("payload_b64"), str):
        try:
            payload = base64.b64decode(obj["payload_b64"], validate=True)
        except ValueError:
            raise RecordingError(f"{path}:{n}: payload_b64 is not base64") from None
    else:
        raise RecordingError(f"{path}:{n}: no payload")
    qos = obj.get("qos", 0)
    if qos not in (0, 1, 2):
        raise RecordingError(f"{path}:{n}: qos {qos!r}")
    return Record(t, topic, payload, qos, bool(obj.get("retain", False)))


def rewrite_site(topic: str, site: str | None) -> str:
    """``sitewatch/<old>/rest`` -> ``sitewatch/<site>/rest``; other topics unchanged."""
    if site is None or not topic.startswith("sitewatch/"):
        return topic
    parts = topic.split("/", 2)
    if len(parts) < 3:
        return topic
    return f"sitewatch/{site}/{parts[2]}"


def connect(
    url: str, client_id: str | None = None, setup: Callable[[paho.Client], None] | None = None
) -> paho.Client:
    """A paho client (MQTT 5, clean start) connected to ``url``, its loop started;
    ``setup`` sets its callbacks first."""
    t = parse_mqtt_url(url)
    c = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=client_id or f"sitewatch-rec-{uuid.uuid4().hex[:8]}",
        protocol=paho.MQTTv5,
    )
    if t.username:
        c.username_pw_set(t.username, t.password)
    if t.tls:
        c.tls_set()
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    if setup is not None:
        setup(c)
    c.connect(t.host, t.port)
    c.loop_start()
    return c


def record(
    url: str,
    filters: Sequence[str],
    out: str | Path,
    stop: threading.Event,
    *,
    clock: Clock | None = None,
    limit: int | None = None,
    duration_s: float | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Write what the broker sends on ``filters`` to ``out`` until ``stop`` is set (or
    ``limit`` messages, or ``duration_s``); returns how many messages were written."""
    clk = clock or SystemClock()
    writer = RecordingWriter(out, filters, clk.now_ms())
    subscribed = threading.Event()
    done = threading.Event()

    def on_message(_c: paho.Client, _u: Any, m: paho.MQTTMessage) -> None:
        if done.is_set():
            return
        writer.write(Record(clk.now_ms(), m.topic, bytes(m.payload), m.qos, bool(m.retain)))
        if limit is not None and writer.count >= limit:
            done.set()

    def on_connect(c: paho.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if not rc.is_failure:
            c.subscribe([(f, 1) for f in filters])

    def setup(c: paho.Client) -> None:
        c.on_message = on_message
        c.on_subscribe = lambda *a: subscribed.set()
        c.on_connect = on_connect

    client = connect(url, setup=setup)
    try:
        if not subscribed.wait(10):
            raise ConnectionError(f"no subscription to {', '.join(filters)} at {url}")
        if on_ready is not None:
            on_ready()
        t0 = time.monotonic()
        while not stop.is_set() and not done.is_set():
            if duration_s is not None and time.monotonic() - t0 >= duration_s:
                break
            stop.wait(FLUSH_S)
            writer.flush()
    finally:
        done.set()
        client.disconnect()
        client.loop_stop()
        writer.close()
    return writer.count


def replay(
    url: str,
    path: str | Path,
    *,
    speed: float = 1.0,
    site: str | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Publish the records of ``path`` to ``url``; returns how many were published.

    ``speed`` 2 plays twice as fast, 0 as fast as the broker takes them. QoS 1 and 2
    records wait for the broker's acknowledgement (at most 1,000 in flight)."""
    if speed < 0:
        raise ValueError("speed is 0 (as fast as possible) or more")
    client = connect(url)
    n = 0
    waiting: list[paho.MQTTMessageInfo] = []
    try:
        t0_rec: int | None = None
        t0 = time.monotonic()
        for rec in read_records(path):
            if stop is not None and stop.is_set():
                break
            if t0_rec is None:
                t0_rec = rec.t_ms
            if speed > 0:
                due = t0 + (rec.t_ms - t0_rec) / 1000 / speed
                wait = due - time.monotonic()
                if wait > 0:
                    sleep(wait)
            info = client.publish(
                rewrite_site(rec.topic, site), rec.payload, qos=rec.qos, retain=rec.retain
            )
            if rec.qos:
                waiting.append(info)
                if len(waiting) >= 1000:
                    _settle(waiting)
            n += 1
            if progress is not None:
                progress(n)
        _settle(waiting)
    finally:
        client.disconnect()
        client.loop_stop()
    return n


def _settle(waiting: list[paho.MQTTMessageInfo]) -> None:
    for info in waiting:
        info.wait_for_publish(30)
        if not info.is_published():
            raise ConnectionError("the broker did not acknowledge a replayed message")
    waiting.clear()
