"""How many clients the HTTP server holds, and for how long: no client holds the gateway.

Life: the runtime builds its ``uvicorn.Config`` with ``**server_options(settings)``
(:func:`server_options`); the alarm stream route reads :func:`setting` for its own cap.
Every limit is a setting read with ``getattr(settings, name, default)``:

``http_max_connections`` (:data:`MAX_CONNECTIONS`)
    uvicorn's ``limit_concurrency``: a request that arrives while that many connections
    are open (its own among them) or that many requests are running gets ``503``.
``http_keep_alive_s`` (:data:`KEEP_ALIVE_S`)
    uvicorn's ``timeout_keep_alive``: an idle connection is closed after a response.
``http_header_timeout_s`` (:data:`HEADER_TIMEOUT_S`)
    a request's line and headers must arrive whole within this many seconds of the
    connection opening (or of the previous response): :class:`HeaderTimeoutH11` closes
    the connection otherwise, with ``408`` when part of a request came (uvicorn has no
    such timeout: a client sending a header byte now and then held its connection for
    ever).
``http_max_header_bytes`` (:data:`MAX_HEADER_BYTES`)
    a request line and headers larger than this get ``431`` and the connection is closed
    (:class:`HeaderTimeoutH11`; h11's own ``max_incomplete_event_size``, set to the same,
    only bounds headers that arrive in pieces).
``sse_max_clients`` (:data:`SSE_MAX_CLIENTS`)
    live alarm streams per process (``gateway.events.Hub.clients``); the next one gets
    ``503`` with ``Retry-After: SSE_RETRY_AFTER_S`` (checked by ``api.routes.alarms``).

The protocol is h11's (:class:`HeaderTimeoutH11`, a subclass of uvicorn's), whatever
else is installed: the header timeout and size are part of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_CONNECTIONS = 1000
KEEP_ALIVE_S = 5
HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024
SSE_MAX_CLIENTS = 200
SSE_RETRY_AFTER_S = 10

DEFAULTS: dict[str, int | float] = {
    "http_max_connections": MAX_CONNECTIONS,
    "http_keep_alive_s": KEEP_ALIVE_S,
    "http_header_timeout_s": HEADER_TIMEOUT_S,
    "http_max_header_bytes": MAX_HEADER_BYTES,
    "sse_max_clients": SSE_MAX_CLIENTS,
}


def _refusal(status: bytes, body: bytes) -> bytes:
    """A whole ``connection: close`` response, written by the protocol itself."""
    head = (
        b"HTTP/1.1 %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"x-content-type-options: nosniff\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
    )
    return head % (status, len(body)) + body


REQUEST_TIMEOUT = _refusal(b"408 Request Timeout", b"request headers took too long")
HEADERS_TOO_LARGE = _refusal(b"431 Request Header Fields Too Large", b"request headers too large")


def setting(settings: Any, name: str) -> Any:
    """``settings.name``, or its default of :data:`DEFAULTS` while the setting is absent."""
    value = getattr(settings, name, None)
    return DEFAULTS[name] if value is None else value


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol with a header-read timeout of ``header_timeout_s`` and a
    header size limit of ``max_header_bytes``.

    The timer runs from the connection's start (and again after each response) until a
    whole request line and headers have arrived; data arriving does not restart it.
    """

    header_timeout_s: float = HEADER_TIMEOUT_S
    max_header_bytes: int = MAX_HEADER_BYTES
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_size(data) > self.max_header_bytes:
            self._refuse(HEADERS_TOO_LARGE)
            return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request's headers are in

    def _header_size(self, data: bytes) -> int:
        """Bytes of the request line and headers so far (to their blank line, if in)."""
        pending = self.conn.trailing_data[0] + data
        ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := pending.find(sep)) >= 0]
        return min(ends) if ends else len(pending)

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()  # waiting for the next request on a kept-alive connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:  # part of a request came: say why it is dropped
            self._refuse(REQUEST_TIMEOUT)
        else:
            self.transport.close()


def protocol(header_timeout_s: float, max_header_bytes: int) -> type[HeaderTimeoutH11]:
    """A :class:`HeaderTimeoutH11` with these limits."""
    limits = {"header_timeout_s": header_timeout_s, "max_header_bytes": max_header_bytes}
    return type("HeaderTimeoutH11", (HeaderTimeoutH11,), limits)


def server_options(settings: Any) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` that bound the server."""
    header_bytes = int(setting(settings, "http_max_header_bytes"))
    return {
        "http": protocol(float(setting(settings, "http_header_timeout_s")), header_bytes),
        "limit_concurrency": int(setting(settings, "http_max_connections")),
        "timeout_keep_alive": int(setting(settings, "http_keep_alive_s")),
        "h11_max_incomplete_event_size": header_bytes,
    }
