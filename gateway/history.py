"""Recorded data as messages again, for the backtest (``sitewatch rules backtest``).

Two sources, both yielding :mod:`rules.model` messages oldest first, each with the time
the gateway received it (``received_ms``), which is the backtest's clock:

* a recording (``sitewatch record``): :func:`file_messages` decodes every record with the
  gateway's own decoder (the contract's, or the adapters of ``SITEWATCH_ADAPTERS_FILE``)
  at its receive time, exactly as the pipeline would; rejected records are counted;
* InfluxDB 1.x (:func:`influx_messages`): the system measurements and ``events`` between
  two times, read an hour at a time with InfluxQL (``GROUP BY *`` gives the tags back);
  one telemetry per (device, timestamp), one event per ``events`` row. The store keeps no
  receive time and no status, so the reading's own time stands for it, and a device's
  ``offline`` status is not in the data (silence still is).

Lifecycle: a generator per run; nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.decode import ContractDecoder
from gateway.recorder import RecordingReader
from gateway.settings import Settings
from gateway.sinks.influx_v1 import influxql_ident, influxql_string
from gateway.stages import Decoder
from rules.model import Event, Message, Rejected, Telemetry
from rules.vocab import System

CHUNK_MS = 3_600_000
EVENT_TAGS = frozenset({"site", "system", "device", "type", "point", "zone"})


def decoder_for(settings: Settings) -> Decoder:
    """The gateway's decoder for ``settings``: the adapters in front of the contract's."""
    if settings.adapters_file:
        from gateway.adapters import load_adapters

        return load_adapters(settings.adapters_file, settings.site)
    return ContractDecoder(settings.site)


@dataclass(slots=True)
class Counts:
    records: int = 0
    messages: int = 0
    rejected: int = 0


def file_messages(
    reader: RecordingReader, decoder: Decoder, counts: Counts | None = None
) -> Iterator[Message]:
    """Every record of ``reader`` decoded at its receive time."""
    c = counts if counts is not None else Counts()
    for rec in reader:
        c.records += 1
        res = decoder.decode(rec.topic, rec.payload, rec.t_ms)
        parts = res if isinstance(res, list | tuple) else (res,)
        for m in parts:
            if isinstance(m, Rejected):
                c.rejected += 1
            else:
                c.messages += 1
                yield m


def influx_messages(
    url: str,
    db: str,
    site: str,
    start_ms: int,
    end_ms: int,
    *,
    chunk_ms: int = CHUNK_MS,
    progress: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
) -> Iterator[Message]:
    """Readings and events of ``site`` in ``[start_ms, end_ms)`` from InfluxDB 1.x."""
    if end_ms <= start_ms:
        raise ValueError("end is not after start")
    http = client or httpx.Client(base_url=url.rstrip("/"), timeout=60.0)
    frm = ",".join(influxql_ident(m) for m in (*(s.value for s in System), "events"))
    try:
        t = start_ms
        while t < end_ms:
            upto = min(end_ms, t + chunk_ms)
            q = (
                f"SELECT * FROM {frm} WHERE {influxql_ident('site')} = {influxql_string(site)}"
                f" AND time >= {t * 1_000_000} AND time < {upto * 1_000_000} GROUP BY *"
            )
            r = http.get("/query", params={"db": db, "q": q, "epoch": "ms"})
            if r.status_code >= 300:
                raise ConnectionError(f"InfluxDB query failed: {r.status_code} {r.text[:200]}")
            yield from sorted(_messages(r.json(), site), key=lambda m: m.ts_ms)
            if progress is not None:
                progress(upto)
            t = upto
    finally:
        if client is None:
            http.close()


def _messages(body: dict[str, Any], site: str) -> list[Telemetry | Event]:
    out: list[Telemetry | Event] = []
    for result in body.get("results", []):
        if "error" in result:
            if "database not found" in str(result["error"]):
                continue
            raise ConnectionError(f"InfluxDB query failed: {result['error']}")
        for series in result.get("series") or []:
            name = series.get("name")
            tags = {k: v for k, v in (series.get("tags") or {}).items() if v}
            cols = series.get("columns", [])
            device = tags.get("device")
            if not device:
                continue
            for row in series.get("values") or []:
                ts = int(row[0])
                values: dict[str, Any] = {}
                for col, v in zip(cols[1:], row[1:], strict=False):
                    if v is None or col in tags:
                        continue
                    values[col] = float(v) if type(v) is int else v
                if name == "events":
                    if "type" not in tags:
                        continue
                    values.pop("count", None)
                    out.append(
                        Event(
                            site,
                            tags.get("system", ""),
                            device,
                            ts,
                            tags["type"],
                            ts,
                            tags.get("point"),
                            tags.get("zone"),
                            values,
                        )
                    )
                elif values:
                    out.append(Telemetry(site, str(name), device, ts, values, ts, tags.get("zone")))
    return out
