"""InfluxDB 2.x sink (``/api/v2/write``) through ``influxdb-client``'s async API.

Needs ``influxdb-client[async]`` (it brings ``aiohttp``). Settings: ``influx_url``,
``influx_token``, ``influx_org``, bucket = ``influx_db``. Also works with servers that
speak the v2 write API only (VictoriaMetrics accepts ``/api/v2/write``).

Write status handling is the v1 sink's: 400/413/422 -> bisect and dead-letter the bad
points; 401/403/404 (bad token, unknown bucket/org), 429, 5xx, connection errors and
timeouts -> retried with backoff, points kept.

``query()`` runs Flux (``/api/v2/query``). A server without Flux (VictoriaMetrics, an
InfluxDB 3 with the v2 write API only, ...) answers 400/404/405/501: that raises
:class:`~gateway.sinks.base.QueryNotSupported`, which the API maps to
``501 Not Implemented``; a server that does not answer at all raises
:class:`~gateway.sinks.base.QueryFailed` (503).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from gateway.metrics import Metrics
from gateway.sinks.base import (
    QueryFailed,
    QueryNotSupported,
    WriteRetry,
)
from gateway.sinks.buffered import LineProtocolSink
from gateway.sinks.conflicts import refusal
from gateway.sinks.influx_v1 import SYSTEM_MEASUREMENTS

log = logging.getLogger("gateway.sinks.influx_v2")


def flux_string(text: str) -> str:
    """A double-quoted Flux string literal (``\\``, ``"`` and ``${`` escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def _flux_time(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def flux_query(
    bucket: str,
    device: str,
    field: str | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
) -> str:
    """The Flux query behind :meth:`InfluxV2Sink.query` (latest ``limit`` values)."""
    start = _flux_time(start_ms) if start_ms is not None else "1970-01-01T00:00:00Z"
    # Flux's stop is exclusive: one millisecond past end_ms makes end_ms inclusive
    stop = _flux_time(end_ms + 1) if end_ms is not None else "2262-01-01T00:00:00Z"
    meas = " or ".join(f"r._measurement == {flux_string(m)}" for m in SYSTEM_MEASUREMENTS)
    flt = f"r.device == {flux_string(device)} and ({meas})"
    if field:
        flt += f" and r._field == {flux_string(field)}"
    return (
        f"from(bucket: {flux_string(bucket)})\n"
        f"  |> range(start: {start}, stop: {stop})\n"
        f"  |> filter(fn: (r) => {flt})\n"
        '  |> keep(columns: ["_time", "_field", "_value"])\n'
        "  |> group()\n"
        '  |> sort(columns: ["_time"])\n'
        f"  |> tail(n: {int(limit)})\n"
    )


class InfluxV2Sink(LineProtocolSink):
    def __init__(
        self,
        url: str,
        bucket: str,
        metrics: Metrics,
        *,
        token: str = "",
        org: str = "",
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(metrics, **kwargs)
        self.url = url.rstrip("/")
        self.bucket = bucket
        self.token = token
        self.org = org
        self.timeout = timeout
        self._client: Any = None
        self._write_api: Any = None

    async def _open(self) -> None:
        try:
            from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
        except ImportError as exc:  # aiohttp missing
            raise RuntimeError(
                "SITEWATCH_INFLUX_API=v2 needs influxdb-client[async] (aiohttp): " + str(exc)
            ) from exc
        self._client = InfluxDBClientAsync(
            url=self.url,
            token=self.token or "-",
            org=self.org or "-",
            timeout=int(self.timeout * 1000),
        )
        self._write_api = self._client.write_api()

    async def _close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def _write(self, points: list[str]) -> None:
        import aiohttp
        from influxdb_client.client.write_api import WritePrecision
        from influxdb_client.rest import ApiException

        if self._write_api is None:
            raise RuntimeError("sink not started")
        try:
            await self._write_api.write(
                bucket=self.bucket,
                org=self.org or "-",
                record=points,
                write_precision=WritePrecision.NS,
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            text = _api_text(exc)
            if status in (400, 413, 422):
                raise refusal(f"{status}: {text}") from None  # names a conflicting field
            if status in (401, 403):
                raise WriteRetry("auth", f"{status}: {text}") from None
            if status == 404:
                raise WriteRetry("not_found", f"404: {text}") from None
            retry_after = _float(getattr(exc, "retry_after", None))
            if status == 429:
                raise WriteRetry("throttled", f"429: {text}", retry_after) from None
            if status >= 500:
                raise WriteRetry("server", f"{status}: {text}", retry_after) from None
            raise WriteRetry("error", f"{status}: {text}") from None
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise WriteRetry("timeout", f"{type(exc).__name__}: {exc}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise WriteRetry("connection", f"{type(exc).__name__}: {exc}") from None

    async def query(
        self,
        device: str,
        field: str | None,
        start_ms: int | None,
        end_ms: int | None,
        limit: int = 10000,
    ) -> list[dict]:
        import aiohttp
        from influxdb_client.rest import ApiException

        if self._client is None:
            raise QueryFailed("sink not started")
        q = flux_query(self.bucket, device, field, start_ms, end_ms, max(1, int(limit)))
        try:
            tables = await self._client.query_api().query(q, org=self.org or "-")
        except ApiException as exc:
            status = int(exc.status or 0)
            if status in (400, 404, 405, 501):
                raise QueryNotSupported(
                    f"{self.url} cannot answer Flux queries ({status}: {_api_text(exc)[:200]})"
                ) from None
            raise QueryFailed(f"{self.url}: query failed: {status}: {_api_text(exc)}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise QueryFailed(f"{self.url} did not answer: {exc}") from None
        out: list[dict] = []
        for table in tables:
            for rec in table.records:
                t = rec.get_time()
                value = rec.get_value()
                if type(value) is int:
                    value = float(value)
                out.append(
                    {"ts": round(t.timestamp() * 1000), "field": rec.get_field(), "value": value}
                )
        out.sort(key=lambda e: (e["ts"], e["field"]))
        return out


def _api_text(exc: Any) -> str:
    msg = getattr(exc, "message", None)
    if msg:
        return str(msg)[:1000]
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or getattr(exc, "reason", "") or exc)[:1000]


def _float(value: Any) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except (TypeError, ValueError):
        return None
