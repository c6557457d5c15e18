"""InfluxDB 1.x sink: ``POST /write?db=...&precision=ns`` and InfluxQL ``/query``.

Status handling of ``/write`` (InfluxDB 1.x semantics):

* 204 (any 2xx): stored;
* 400 / 422 (``unable to parse``, ``partial write: field type conflict ... dropped=N``)
  and 413 (body too large): :class:`WriteRefused` -> the batch is bisected, the good
  points rewritten (rewriting a point InfluxDB already kept from a partial write is
  harmless: same series and time overwrite) and the bad ones handed to ``on_rejected``;
  a ``field type conflict`` that names the field is not bisected: that field alone is
  taken out of the points and rejected, their other fields are written
  (:mod:`gateway.sinks.conflicts`);
* 404 (``database not found``): the database is created again and the write retried;
* 401 / 403, 429, 5xx, connection errors and timeouts: retried with backoff, kept.

Credentials: ``http://user:pass@host:8086`` in the URL (basic auth), or a token sent as
``Authorization: Token <token>`` (InfluxDB 1.8+ accepts ``Token user:password``).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from gateway.metrics import Metrics
from gateway.sinks.base import QueryFailed, WriteRetry
from gateway.sinks.buffered import LineProtocolSink
from gateway.sinks.conflicts import refusal
from rules.vocab import System

log = logging.getLogger("gateway.sinks.influx_v1")

#: one measurement per system (contract section 5)
SYSTEM_MEASUREMENTS: tuple[str, ...] = tuple(
    s.value for s in (System.HVAC, System.LIGHTING, System.ACCESS, System.FIRE)
)


def influxql_ident(name: str) -> str:
    """A double-quoted InfluxQL identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def influxql_string(text: str) -> str:
    """A single-quoted InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
        if isinstance(body, dict) and "error" in body:
            return str(body["error"])
    except ValueError:
        pass
    return (r.text or r.reason_phrase or "").strip()[:1000]


def _retry_after(r: httpx.Response) -> float | None:
    value = r.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class InfluxV1Sink(LineProtocolSink):
    """Writes to InfluxDB 1.x (also VictoriaMetrics' ``/write``) over HTTP with httpx."""

    def __init__(
        self,
        url: str,
        db: str,
        metrics: Metrics,
        *,
        token: str = "",
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(metrics, **kwargs)
        self.url = url.rstrip("/")
        self.db = db
        self.token = token
        self.timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def _open(self) -> None:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        self._client = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            headers=headers,
            transport=self._transport,
        )
        await self._create_database()

    async def _close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("sink not started")
        return self._client

    async def _create_database(self) -> bool:
        """``CREATE DATABASE`` (idempotent); a failure is logged, not raised."""
        try:
            r = await self._http().post(
                "/query", data={"q": f"CREATE DATABASE {influxql_ident(self.db)}"}
            )
        except httpx.HTTPError as exc:
            log.warning("InfluxDB at %s: cannot create database %s: %s", self.url, self.db, exc)
            return False
        if r.status_code >= 300:
            log.warning(
                "InfluxDB at %s: CREATE DATABASE %s -> %s %s",
                self.url,
                self.db,
                r.status_code,
                _error_text(r),
            )
            return False
        return True

    async def _write(self, points: list[str]) -> None:
        body = "\n".join(points).encode("utf-8")
        try:
            r = await self._http().post(
                "/write",
                params={"db": self.db, "precision": "ns"},
                content=body,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.TimeoutException as exc:
            raise WriteRetry("timeout", f"{type(exc).__name__}: {exc}") from None
        except httpx.TransportError as exc:
            raise WriteRetry("connection", f"{type(exc).__name__}: {exc}") from None
        # httpx's Response and its stream refer to each other: left so, each write's body
        # waits for the cyclic GC, which runtime._tune_gc makes rare (+250 MB over 1.9
        # million messages, bench/outage.py); the body is read, so cut the cycle here
        r.stream = httpx.ByteStream(b"")
        status = r.status_code
        if status < 300:
            return
        text = _error_text(r)
        if status in (400, 413, 422):
            raise refusal(f"{status}: {text}")  # names the field on a type conflict
        if status == 404:
            await self._create_database()
            raise WriteRetry("not_found", f"404: {text}")
        if status in (401, 403):
            raise WriteRetry("auth", f"{status}: {text}")
        if status == 429:
            raise WriteRetry("throttled", f"429: {text}", _retry_after(r))
        if status >= 500:
            raise WriteRetry("server", f"{status}: {text}", _retry_after(r))
        raise WriteRetry("error", f"{status}: {text}")

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]:
        limit = max(1, int(limit))
        select = influxql_ident(field) if field else "*::field"
        where = [f"{influxql_ident('device')} = {influxql_string(device)}"]
        if start_ms is not None:
            where.append(f"time >= {int(start_ms) * 1_000_000}")
        if end_ms is not None:
            where.append(f"time <= {int(end_ms) * 1_000_000}")
        frm = ",".join(influxql_ident(m) for m in SYSTEM_MEASUREMENTS)
        q = (
            f"SELECT {select} FROM {frm} WHERE {' AND '.join(where)}"
            f" ORDER BY time DESC LIMIT {limit}"
        )
        try:
            r = await self._http().get("/query", params={"db": self.db, "q": q, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise QueryFailed(f"InfluxDB at {self.url} did not answer: {exc}") from None
        if r.status_code >= 300:
            text = _error_text(r)
            if "database not found" in text:
                return []
            raise QueryFailed(f"InfluxDB query failed: {r.status_code} {text}")
        return parse_influxql_result(r.json(), limit)


def parse_influxql_result(body: dict, limit: int) -> list[dict]:
    """``/query?epoch=ms`` JSON -> ``[{"ts", "field", "value"}]``, the latest ``limit``."""
    out: list[dict] = []
    for result in body.get("results", []):
        if "error" in result:
            if "database not found" in str(result["error"]):
                continue
            raise QueryFailed(f"InfluxDB query failed: {result['error']}")
        for series in result.get("series", []) or []:
            cols = series.get("columns", [])
            for row in series.get("values", []) or []:
                ts = int(row[0])
                for name, value in zip(cols[1:], row[1:], strict=False):
                    if value is None:
                        continue
                    if type(value) is int:  # JSON drops ".0": every number is a float
                        value = float(value)
                    out.append({"ts": ts, "field": name, "value": value})
    out.sort(key=lambda e: (e["ts"], e["field"]))
    return out[-limit:] if len(out) > limit else out
