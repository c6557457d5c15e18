"""The durable outbox: ticket notifications that survive restarts and outages.

Each new or changed ticket is written, **in the same database transaction as the change**,
as one row per destination in the ``outbox`` table:

- ``mqtt``: published to ``sitewatch/<site>/tickets/<crew>`` at QoS 1 (not retained);
- ``webhook:<url>``: for each URL of ``SITEWATCH_WEBHOOKS``, POSTed as
  ``application/json`` with ``X-Sitewatch-Signature: sha256=<hex HMAC-SHA256 of the body
  with SITEWATCH_WEBHOOK_SECRET>`` and ``X-Sitewatch-Delivery: <row id>`` (the same id on
  every retry, for receivers that deduplicate);
- a **channel** destination, ``<prefix><name>`` for a prefix registered in
  :attr:`Outbox.channels` (``gateway.notify``: ``email:<address>``, ``chat:<kind>:<id>``):
  rows written one by one with :meth:`Outbox.add_row`, delivered by that channel. A
  sender runs for such a destination while it has rows (a supervisor starts one when rows
  appear), with the same order, retries and backoff as the others.

:meth:`Outbox.run` starts one sender per destination. A sender delivers that
destination's rows strictly oldest first: the next row goes only once the one before is
delivered (a webhook answered 2xx; the MQTT link connected and the message handed to the
client session). A failed delivery is retried with :class:`gateway.retry.Backoff` (full
jitter, ``backoff_min_s`` doubling up to ``backoff_max_s``, reset by a delivery) for as
long as it takes, so a receiver that is down for an hour gets every message, in order,
once it is back.
Delivered rows are deleted; rows still waiting when the gateway stops are sent by the
next start (delivery is at least once: a crash between delivery and the delete sends a
row again). Backoff runs on real (monotonic) time, never on the gateway clock, so a
driven test clock cannot stall deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock
from gateway.retry import Backoff
from gateway.store import models as m
from gateway.store.db import reader

log = logging.getLogger(__name__)

MQTT_DEST = "mqtt"
WEBHOOK_PREFIX = "webhook:"
SIGNATURE_HEADER = "X-Sitewatch-Signature"
DELIVERY_HEADER = "X-Sitewatch-Delivery"


class Channel(Protocol):
    """A kind of destination the outbox delivers through someone else's code (e-mail,
    chat webhooks): ``None`` when the row is delivered, else why not."""

    async def deliver(self, row: Mapping[str, Any], client: httpx.AsyncClient) -> str | None: ...


class MqttSender(Protocol):
    """What the outbox needs of an MQTT link (``gateway.mqtt.MqttLink`` fits)."""

    connected: bool

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False
    ) -> Any: ...


def sign(secret: str, body: bytes) -> str:
    """The ``X-Sitewatch-Signature`` header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_webhooks(text: str | Sequence[str]) -> list[str]:
    """``"http://a/x, https://b/y"`` → the URLs (http or https only; ``ValueError``)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in items:
        url = raw.strip()
        if not url:
            continue
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: a webhook URL starts with http:// or https://")
        if url not in out:
            out.append(url)
    return out


class Outbox:
    """Durable, ordered delivery of ticket notifications (see the module doc).

    ``mqtt`` is the link to publish on (``None``: no MQTT rows are written), ``site`` the
    site id of the topics, ``webhooks`` the URLs, ``secret`` the HMAC key."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        site: str,
        *,
        mqtt: MqttSender | None = None,
        webhooks: Sequence[str] = (),
        secret: str = "",
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 60.0,
        timeout_s: float = 10.0,
        poll_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._reader = reader(engine)
        self._clock = clock
        self.site = site
        self.mqtt = mqtt
        self.webhooks = list(webhooks)
        self.secret = secret
        if backoff_min_s <= 0:
            raise ValueError("backoff_min_s > 0")
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = max(backoff_min_s, backoff_max_s)
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self.delivered = 0
        self.failures = 0
        self._wake: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        #: channel destinations: dest prefix (e.g. ``email:``) -> its channel
        self.channels: dict[str, Channel] = {}
        if webhooks and not secret:
            log.warning(
                "webhooks configured without SITEWATCH_WEBHOOK_SECRET: signed with an empty key"
            )

    # ------------------------------------------------------------------ writing
    @property
    def destinations(self) -> list[str]:
        out = [MQTT_DEST] if self.mqtt is not None else []
        return out + [WEBHOOK_PREFIX + u for u in self.webhooks]

    def topic(self, crew: str) -> str:
        return f"sitewatch/{self.site}/tickets/{crew}"

    def add(
        self,
        conn: Connection,
        *,
        crew: str,
        message: Mapping[str, Any],
        ticket_id: int | None,
        now_ms: int,
    ) -> int:
        """Queue ``message`` for every destination, in the caller's transaction ``conn``
        (so it is stored if and only if the change is). Returns the rows written."""
        payload = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        rows = [
            {
                "dest": dest,
                "topic": self.topic(crew) if dest == MQTT_DEST else dest[len(WEBHOOK_PREFIX) :],
                "payload": payload,
                "ticket_id": ticket_id,
                "created_at_ms": now_ms,
                "attempts": 0,
            }
            for dest in self.destinations
        ]
        if rows:
            conn.execute(sa.insert(m.outbox), rows)
        return len(rows)

    def add_row(
        self,
        conn: Connection,
        *,
        dest: str,
        topic: str,
        payload: str,
        ticket_id: int | None,
        now_ms: int,
    ) -> None:
        """Queue one row for a channel destination ``dest``, in ``conn``'s transaction."""
        if self._channel(dest) is None:
            raise ValueError(f"no channel registered for destination {dest!r}")
        conn.execute(
            sa.insert(m.outbox).values(
                dest=dest,
                topic=topic,
                payload=payload,
                ticket_id=ticket_id,
                created_at_ms=now_ms,
                attempts=0,
            )
        )

    def _channel(self, dest: str) -> Channel | None:
        prefix, sep, _rest = dest.partition(":")
        return self.channels.get(prefix + sep) if sep else None

    def channel_destinations(self) -> list[str]:
        """Channel destinations that have rows waiting."""
        return sorted(d for d in self.pending() if self._channel(d) is not None)

    def wake(self) -> None:
        """New rows were committed: let the senders look now (any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for ev in list(self._wake.values()):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(ev.set)

    # ------------------------------------------------------------------- status
    def pending(self) -> dict[str, int]:
        """Rows waiting per destination (configured or left from an earlier setup)."""
        o = m.outbox
        with self._reader.connect() as conn:
            rows = conn.execute(sa.select(o.c.dest, sa.func.count()).group_by(o.c.dest)).all()
        return {str(d): int(n) for d, n in rows}

    def rows(self, dest: str | None = None) -> list[dict[str, Any]]:
        o = m.outbox
        q = sa.select(o).order_by(o.c.id)
        if dest is not None:
            q = q.where(o.c.dest == dest)
        with self._reader.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    # ----------------------------------------------------------------- delivery
    async def run(self) -> None:
        """One sender per destination until cancelled."""
        self._loop = asyncio.get_running_loop()
        stale = {
            d for d in set(self.pending()) - set(self.destinations) if self._channel(d) is None
        }
        if stale:
            log.warning(
                "outbox: rows kept for destinations no longer configured: %s",
                ", ".join(sorted(stale)),
            )
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            async with asyncio.TaskGroup() as tg:
                for dest in self.destinations:
                    self._wake[dest] = asyncio.Event()
                    tg.create_task(self._sender(dest, client), name=f"outbox-{dest}")
                if self.channels:
                    tg.create_task(self._supervise(client, tg), name="outbox-channels")

    async def _supervise(self, client: httpx.AsyncClient, tg: asyncio.TaskGroup) -> None:
        """Start a sender for each channel destination with rows and none running."""
        wake = self._wake["*channels"] = asyncio.Event()
        running: dict[str, asyncio.Task[None]] = {}
        while True:
            wake.clear()
            for dest in self.channel_destinations():
                task = running.get(dest)
                if task is None or task.done():
                    self._wake[dest] = asyncio.Event()
                    running[dest] = tg.create_task(
                        self._sender(dest, client, transient=True), name=f"outbox-{dest}"
                    )
            for dest in [d for d, t in running.items() if t.done()]:
                del running[dest]
                self._wake.pop(dest, None)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_s)

    async def _sender(
        self, dest: str, client: httpx.AsyncClient, *, transient: bool = False
    ) -> None:
        """Deliver ``dest``'s rows in order; a ``transient`` sender ends once none is left."""
        wake = self._wake[dest]
        backoff = Backoff(self.backoff_min_s, self.backoff_max_s)
        while True:
            wake.clear()
            batch = self._head(dest, 100)
            progressed = False
            for row in batch:
                error = await self._deliver(dest, row, client)
                if error is None:
                    self._done(row["id"])
                    self.delivered += 1
                    backoff.reset()
                    progressed = True
                    continue
                self.failures += 1
                self._failed(row["id"], error)
                delay = backoff.next_delay()
                log.info(
                    "outbox %s: row %s not delivered (%s); retry in %.1f s",
                    dest,
                    row["id"],
                    error,
                    delay,
                )
                await backoff.sleep(delay)
                break
            if progressed and len(batch) == 100:
                continue
            if not batch and transient:
                return
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.poll_s)

    async def deliver_pending(self, client: httpx.AsyncClient | None = None) -> int:
        """Deliver what can be delivered now, once per destination, stopping at each
        destination's first failure (no waiting). Returns the rows delivered. For tests
        and tools; the gateway uses :meth:`run`."""
        n = 0
        own = client is None
        c = client or httpx.AsyncClient(timeout=self.timeout_s)
        try:
            for dest in [*self.destinations, *self.channel_destinations()]:
                for row in self._head(dest, 10_000):
                    error = await self._deliver(dest, row, c)
                    if error is not None:
                        self._failed(row["id"], error)
                        break
                    self._done(row["id"])
                    n += 1
        finally:
            if own:
                await c.aclose()
        return n

    async def _deliver(
        self, dest: str, row: Mapping[str, Any], client: httpx.AsyncClient
    ) -> str | None:
        """``None`` when delivered, else why not."""
        channel = self._channel(dest)
        if channel is not None:
            try:
                return await channel.deliver(row, client)
            except Exception as exc:  # noqa: BLE001 - retried
                return f"{type(exc).__name__}"
        body = str(row["payload"]).encode()
        if dest == MQTT_DEST:
            link = self.mqtt
            if link is None or not link.connected:
                return "MQTT link down"
            try:
                link.publish(row["topic"], body, 1, False)
            except Exception as exc:  # noqa: BLE001 - retried
                return f"publish failed: {exc}"
            return None
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            DELIVERY_HEADER: str(row["id"]),
        }
        try:
            resp = await client.post(row["topic"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 200 <= resp.status_code < 300:
            return None
        return f"HTTP {resp.status_code}"

    def _head(self, dest: str, limit: int) -> list[dict[str, Any]]:
        o = m.outbox
        q = sa.select(o).where(o.c.dest == dest).order_by(o.c.id).limit(limit)
        with self._reader.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def _done(self, row_id: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(sa.delete(m.outbox).where(m.outbox.c.id == row_id))

    def _failed(self, row_id: int, error: str) -> None:
        o = m.outbox
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(o)
                .where(o.c.id == row_id)
                .values(
                    attempts=o.c.attempts + 1,
                    last_attempt_ms=self._clock.now_ms(),
                    last_error=error[:2000],
                )
            )
