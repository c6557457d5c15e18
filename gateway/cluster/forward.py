"""Any process answers for any site: a request for a site another member owns is forwarded.

Each member of a cluster advertises its HTTP base URL in its heartbeat row
(``cluster_members.url``: ``SITEWATCH_ADVERTISE_URL``, else ``http://<SITEWATCH_HTTP_BIND>``,
:func:`member_url`), so a load balancer can send any request to any process. The HTTP layer
(``api.main.SitePaths``) hands a request for a site not served here to :class:`Forwarder`::

    carries X-Sitewatch-Forwarded? ──yes──> 503 + Retry-After (it was sent here as the
      │ no                                   owner and the site has moved: never again)
    owner_of(site) (the leases, cached OWNER_CACHE_S)
      ├─ nobody / not alive / no URL ─────> 503 + Retry-After (a new owner comes within a
      │                                       lease time)
      ├─ this process ─────────────────────> 503 + Retry-After (its runtime is starting)
      └─ another member ──> the same method, path, query, headers (Authorization, cookies,
           CSRF...; hop-by-hop ones dropped) and body to <url><path>, X-Sitewatch-Forwarded
           added; its status, headers and body come back as they come (a Server-Sent-Events
           stream flows through chunk by chunk until either side goes)

A request is forwarded at most once: the owner answers it itself or refuses it, so two
members that disagree about an owner for a moment cannot bounce it between them. The
owner does everything else (authentication, roles, the fence), exactly as if asked
directly. An owner that does not answer gets its cache entry dropped and the client a 503
(connect within ``CONNECT_TIMEOUT_S``) or 504 (no response head within ``READ_TIMEOUT_S``,
which also ends a stream whose owner went silent: its heartbeats come every 10-15 s).

Lifecycle: one :class:`Forwarder` per HTTP app, made with the app; its ``httpx`` client is
opened on the first forwarded request (one per event loop; at most ``max_connections``
connections, so it never holds more than the server accepts) and closed by
:meth:`Forwarder.aclose` (or with the process).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any, Protocol

import httpx

from gateway.cluster.leases import Owner

log = logging.getLogger("sitewatch.cluster.forward")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

FORWARDED = "x-sitewatch-forwarded"
#: a site's owner as read from the leases is trusted this long (a takeover is seen by then)
OWNER_CACHE_S = 1.0
CONNECT_TIMEOUT_S = 3.0
#: between two reads of a response (a stream sends a comment at least every 15 s)
READ_TIMEOUT_S = 60.0
#: waiting for a free connection of the pool
POOL_TIMEOUT_S = 5.0
RETRY_MOVED_S = 1
#: RFC 9110 7.6.1, plus the ones a proxy sets itself
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)


def member_url(advertise: str, http_bind: str) -> str:
    """The base URL other members reach this process at: ``advertise`` if set, else the
    bound address (the host name when bound to every address)."""
    if advertise:
        return advertise.rstrip("/")
    host, _, port = http_bind.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class Owners(Protocol):
    """What the forwarder reads of the leases (``gateway.cluster.leases.LeaseStore``)."""

    instance: str
    ttl_ms: int

    def owner_of(self, site: str) -> Owner | None: ...


class _ClientGone(Exception):
    """The client went while its request body was being sent on."""


class Forwarder:
    def __init__(
        self,
        owners: Owners,
        *,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owners = owners
        self.instance = owners.instance
        self.max_connections = max_connections
        self.transport = transport
        self.now = now
        # a new owner takes a site within about a lease time
        self.retry_no_owner_s = max(1, round(owners.ttl_ms / 3000))
        self._cache: dict[str, tuple[float, Owner | None]] = {}
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.forwarded = 0  # requests sent on to an owner
        self.refused = 0  # requests answered 5xx here

    # -- the owner ------------------------------------------------------------------------
    async def owner(self, site: str) -> Owner | None:
        hit = self._cache.get(site)
        t = self.now()
        if hit is not None and hit[0] > t:
            return hit[1]
        found = await asyncio.to_thread(self.owners.owner_of, site)
        if len(self._cache) >= 4096:  # sites are few; never grow without a bound anyway
            self._cache.clear()
        self._cache[site] = (t + OWNER_CACHE_S, found)
        return found

    def forget(self, site: str) -> None:
        self._cache.pop(site, None)

    # -- the request ----------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send, site: str) -> None:
        """Answer ``scope`` (an HTTP request for ``site``, not served here)."""
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if any(k.lower() == FORWARDED.encode() for k, _ in headers):
            detail = f"site {site} is not served by {self.instance} (it moved): retry"
            await self._refuse(send, 503, detail, RETRY_MOVED_S)
            return
        try:
            owner = await self.owner(site)
        except Exception:  # noqa: BLE001 - the store is out of reach: say so, retry later
            log.warning("site %s: cannot read its lease", site, exc_info=True)
            await self._refuse(send, 503, "the cluster's leases cannot be read", 5)
            return
        if owner is None or not owner.url:
            detail = f"site {site} has no live owner now: retry"
            await self._refuse(send, 503, detail, self.retry_no_owner_s)
        elif owner.instance == self.instance:
            await self._refuse(send, 503, f"site {site} is starting here: retry", RETRY_MOVED_S)
        else:
            await self._forward(scope, receive, send, site, owner)

    async def _forward(
        self, scope: Scope, receive: Receive, send: Send, site: str, owner: Owner
    ) -> None:
        client = self._http()
        request = client.build_request(
            scope["method"],
            _target(owner.url, scope),
            headers=self._headers(scope),
            content=_body(receive) if _has_body(scope) else None,
        )
        try:
            response = await client.send(request, stream=True)
        except _ClientGone:
            return
        except httpx.TimeoutException as exc:
            self.forget(site)
            status = 503 if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout) else 504
            log.info("site %s: %s at %s: %r", site, owner.instance, owner.url, exc)
            await self._refuse(send, status, f"site {site}: its owner does not answer", 1)
            return
        except (httpx.HTTPError, OSError) as exc:
            self.forget(site)
            status = 503 if isinstance(exc, httpx.ConnectError) else 502
            log.info("site %s: %s at %s: %r", site, owner.instance, owner.url, exc)
            await self._refuse(send, status, f"site {site}: its owner does not answer", 1)
            return
        self.forwarded += 1
        if response.status_code == 503:
            self.forget(site)  # moving, or gone: ask the leases again next time
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": _response_headers(response.headers.raw),
                }
            )
            await _relay(response, receive, send)
        finally:
            await response.aclose()

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        raw: list[tuple[bytes, bytes]] = scope.get("headers", [])
        drop = _connection_tokens(raw) | HOP_BY_HOP
        out: list[tuple[bytes, bytes]] = []
        host = b""
        for name, value in raw:
            key = name.lower().decode("latin-1")
            if key == "host":
                host = value
            if key not in drop:
                out.append((name, value))
        # where the request came from, unless a proxy before us said so already (uvicorn
        # has then put that address in the scope: it would only be repeated)
        have = {k.lower() for k, _ in out}
        client = scope.get("client")
        if client and b"x-forwarded-for" not in have:
            out.append((b"x-forwarded-for", str(client[0]).encode()))
        if host and b"x-forwarded-host" not in have:
            out.append((b"x-forwarded-host", host))
        if b"x-forwarded-proto" not in have:
            out.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
        out.append((FORWARDED.encode(), self.instance.encode()))
        return out

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(
                    READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=POOL_TIMEOUT_S
                ),
                limits=httpx.Limits(
                    max_connections=self.max_connections,
                    max_keepalive_connections=min(20, self.max_connections),
                ),
                transport=self.transport,
                follow_redirects=False,
                trust_env=False,  # no HTTP_PROXY between members
            )
            self._client.headers.clear()  # only what the client sent (no Accept-Encoding)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _refuse(self, send: Send, status: int, detail: str, retry_after_s: int) -> None:
        self.refused += 1
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after_s).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _target(base: str, scope: Scope) -> str:
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    url = base + path.decode("latin-1")
    return f"{url}?{query.decode('latin-1')}" if query else url


def _connection_tokens(raw: list[tuple[bytes, bytes]]) -> set[str]:
    """The headers a ``Connection`` header names (hop-by-hop too, RFC 9110 7.6.1)."""
    return {
        t.strip().lower()
        for k, v in raw
        if k.lower() == b"connection"
        for t in v.decode("latin-1").split(",")
        if t.strip()
    }


def _response_headers(raw: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    drop = _connection_tokens(raw) | HOP_BY_HOP
    return [(k, v) for k, v in raw if k.lower().decode("latin-1") not in drop]


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        low = name.lower()
        if low == b"transfer-encoding" or (low == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    """The request's body as it arrives (never held whole: an upload streams through)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _relay(response: httpx.Response, receive: Receive, send: Send) -> None:
    """The response body, chunk by chunk as the owner writes it, until it ends or the
    client goes (then the owner's side is closed at once: its stream ends too)."""

    async def pump() -> None:
        try:
            async for chunk in response.aiter_raw():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except httpx.HTTPError as exc:  # the owner went mid-body: end what was sent
            log.info("forwarded response cut: %r", exc)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(gone())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if tasks[0] in done:
        tasks[0].result()
