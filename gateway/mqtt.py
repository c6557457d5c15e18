"""The MQTT link: one broker connection, driven by the asyncio loop, with manual acks.

aiomqtt acknowledges every QoS 1 message as soon as it arrives and has no manual ack, so
a crash would lose what was received but not yet stored. This link is built the way
aiomqtt is built (paho-mqtt 2 on the event loop's reader/writer callbacks: one thread, no
locks) but turns paho's ``manual_ack`` on: the pipeline calls :meth:`MqttLink.ack` for each
message, in order, once the message is safe (stored, or dead-lettered). Until then the
broker keeps it in our persistent session and redelivers it after a crash.

Lifecycle of a :class:`MqttLink`:

1. ``await link.run()`` connects (``clean_start=False`` with a session expiry, so the
   session and its queued messages survive us), subscribes at QoS 1 and hands every
   message to ``on_message`` on the event-loop thread.
2. On a lost connection it waits a jittered exponential backoff
   (:class:`gateway.retry.Backoff`: full jitter, 0.5 s doubling up to 30 s, reset once a
   connection was up), reconnects and subscribes again. Messages received on the old
   connection and not yet acknowledged are redelivered by the broker; their stale ack
   handles are dropped (``generation``).
3. ``link.stop()`` disconnects cleanly and makes ``run()`` return.

Backpressure is the broker's in-flight window: with MQTT 5 the broker sends at most
``receive_maximum`` unacknowledged messages, so nothing downstream can be flooded; with
MQTT 3.1.1 the window is the broker's own setting (Mosquitto: ``max_inflight_messages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.retry import Backoff
from gateway.settings import MqttTarget

log = logging.getLogger("sitewatch.mqtt")

SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
# longest one read callback may run before yielding to the rest of the loop
READ_BUDGET_S = 0.002


class _BufferedClient(paho.Client):
    """paho's client reading the socket through a 64 KiB buffer.

    paho reads every packet header a byte at a time (one ``recv`` system call per byte):
    at thousands of messages a second that was the gateway's largest single cost (see
    bench/RESULTS.md). Here ``_sock_recv`` serves those small reads from a buffer filled by
    one large ``recv``. The link's reader keeps calling ``loop_read`` while the buffer
    holds bytes, since epoll cannot see them.
    """

    _rbuf = b""
    _rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            data = super()._sock_recv(65536)
            if not data:
                return data  # EOF: paho sees the connection closed
            self._rbuf = data
            self._rpos = 0
        end = self._rpos + bufsize
        chunk = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return chunk

    def buffered(self) -> int:
        return len(self._rbuf) - self._rpos

    def reset_buffer(self) -> None:
        self._rbuf = b""
        self._rpos = 0


class MqttLink:
    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        topics: list[str],
        on_message: Callable[[MqttLink, paho.MQTTMessage], None],
        *,
        name: str = "main",
        protocol: str = "5",
        receive_maximum: int = 10_000,
        keepalive: int = 30,
        on_state: Callable[[MqttLink, bool], None] | None = None,
        will: tuple[str, bytes, bool] | None = None,
    ) -> None:
        self.target = target
        self.client_id = client_id
        self.topics = topics
        self.on_message = on_message
        self.name = name
        self.v5 = protocol == "5"
        self.receive_maximum = receive_maximum
        self.keepalive = keepalive
        self.on_state = on_state
        self.generation = 0
        self.connected = False
        self.session_present: bool | None = None
        self.reconnects = 0
        self._rx = 0
        self.read_budget_s = READ_BUDGET_S
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lost: asyncio.Event | None = None
        self._up: asyncio.Event | None = None
        self._misc: asyncio.Task[None] | None = None
        self._sock_fd: int | None = None
        self.backoff = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
        """Reconnect waits (:mod:`gateway.retry`); reset once a connection was up."""
        self._client = self._make_client(will)

    # -- paho client ------------------------------------------------------------------
    def _make_client(self, will: tuple[str, bytes, bool] | None) -> _BufferedClient:
        kwargs: dict[str, Any] = {}
        if not self.v5:
            kwargs["clean_session"] = False
        c = _BufferedClient(
            paho.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            manual_ack=True,
            reconnect_on_failure=False,
            **kwargs,
        )
        # publishes of our own (dead letters, alarms) in flight at once; more are queued
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        if self.target.username:
            c.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            c.tls_set_context(ssl.create_default_context(cafile=self.target.ca_file))
        if will:
            c.will_set(will[0], will[1], qos=1, retain=will[2])
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_socket_register_write
        c.on_socket_unregister_write = self._on_socket_unregister_write
        return c

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        self._rx += 1
        try:
            self.on_message(self, msg)
        except Exception:  # the gateway never crashes on a message
            log.exception("handler failed on a message from %s", msg.topic)

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        assert self._up is not None and self._lost is not None
        if rc.is_failure:
            log.warning("%s: broker refused the connection: %s", self.name, rc)
            self._lost.set()
            return
        self.session_present = bool(flags.session_present)
        if self.v5:
            opts = SubscribeOptions(qos=1, noLocal=True)
            client.subscribe([(t, opts) for t in self.topics])
        else:
            client.subscribe([(t, 1) for t in self.topics])
        self.connected = True
        self._up.set()
        if self.on_state:
            self.on_state(self, True)
        log.info("%s: connected (session present: %s)", self.name, self.session_present)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        was = self.connected
        self.connected = False
        self.generation += 1
        if self._lost is not None:
            self._lost.set()
        if was and self.on_state:
            self.on_state(self, False)

    # -- asyncio socket integration (as aiomqtt does it) ---------------------------------
    def _on_socket_open(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        loop = self._loop
        assert loop is not None
        fd = sock.fileno()

        bc = self._client

        rescheduled = [False]  # one call_soon'd reader at most, or they pile up

        def resumed() -> None:
            rescheduled[0] = False
            reader()

        def on_readable() -> None:
            if not rescheduled[0]:  # else a read is already queued: one per loop turn
                reader()

        def reader() -> None:
            # paho reads one packet per loop_read(): go on while bytes are waiting in our
            # buffer or in the SSL object (epoll cannot see those), but never longer than
            # read_budget_s at a time, so other links (fire) and the API get their turn
            deadline = time.perf_counter() + self.read_budget_s
            try:
                while True:
                    before = self._rx
                    client.loop_read()
                    more = bc.buffered() > 0
                    if not more:
                        pending = getattr(client.socket(), "pending", None)
                        more = bool(pending and pending() > 0)
                    if not more and self._rx == before:
                        return  # the socket is drained: epoll wakes us for more
                    if time.perf_counter() >= deadline:
                        break
                if self._loop is not None and not rescheduled[0]:
                    rescheduled[0] = True
                    self._loop.call_soon(resumed)  # let others run, then go on
            except Exception as exc:  # noqa: BLE001 - a broken socket is a lost link
                log.warning("%s: read failed: %s", self.name, exc)
                if self._lost is not None:
                    self._lost.set()

        def start() -> None:
            self._sock_fd = fd
            loop.add_reader(fd, on_readable)
            if self._misc is None or self._misc.done():
                self._misc = loop.create_task(self._misc_loop(), name=f"mqtt-{self.name}-misc")

        loop.call_soon_threadsafe(start)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        fd = sock.fileno()
        if fd > -1 and self._loop is not None:
            self._loop.remove_reader(fd)
            self._loop.remove_writer(fd)

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        loop = self._loop
        assert loop is not None

        def writer() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: write failed: %s", self.name, exc)
                if self._lost is not None:
                    self._lost.set()

        loop.call_soon_threadsafe(loop.add_writer, sock.fileno(), writer)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None:
            self._loop.remove_writer(sock.fileno())

    async def _misc_loop(self) -> None:
        while self._client.loop_misc() == paho.MQTT_ERR_SUCCESS:  # noqa: ASYNC110 - paho's keepalive tick
            await asyncio.sleep(1)
        if self._lost is not None:
            self._lost.set()

    # -- public -----------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, reconnect with jittered backoff, until :meth:`stop`."""
        self._loop = asyncio.get_running_loop()
        backoff = self.backoff
        first = True
        while not self._stopping:
            self._lost = asyncio.Event()
            self._up = asyncio.Event()
            try:
                await self._connect(first)
                first = False
                await self._lost.wait()
            except (OSError, ssl.SSLError) as exc:
                log.warning(
                    "%s: cannot reach %s:%s: %s", self.name, self.target.host, self.target.port, exc
                )
            finally:
                up = self._up.is_set()
                self._teardown()
            if self._stopping:
                break
            if up:
                backoff.reset()
                self.reconnects += 1
            delay = backoff.next_delay()
            log.info("%s: reconnecting in %.1f s", self.name, delay)
            await backoff.sleep(delay)

    async def _connect(self, first: bool) -> None:
        assert self._loop is not None
        c = self._client
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_EXPIRY_S
            props.ReceiveMaximum = self.receive_maximum
            await self._loop.run_in_executor(
                None,
                lambda: c.connect(
                    self.target.host,
                    self.target.port,
                    self.keepalive,
                    clean_start=False,
                    properties=props,
                ),
            )
        else:
            await self._loop.run_in_executor(
                None, lambda: c.connect(self.target.host, self.target.port, self.keepalive)
            )

    def _teardown(self) -> None:
        if self.connected:
            self._on_disconnect(self._client, None, None, None, None)
        if self._misc is not None:
            self._misc.cancel()
            self._misc = None
        sock = self._client.socket()
        if sock is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(sock.fileno())
                self._loop.remove_writer(sock.fileno())
        with contextlib.suppress(Exception):
            self._client._sock_close()  # noqa: SLF001 - paho has no public "drop socket"
        self._client.reset_buffer()  # bytes of the old connection mean nothing on a new one

    def ack(self, mid: int) -> None:
        self._client.ack(mid, 1)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; QoS 1 publishes made while the link is down go out on reconnect."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def pause(self) -> None:
        """Stop reading from the broker (acks and publishes still go out)."""
        if self._sock_fd is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock_fd)

    def stop(self) -> None:
        """Disconnect cleanly (after queued acks are written) and end :meth:`run`."""
        self._stopping = True
        if self.connected:
            with contextlib.suppress(Exception):
                self._client.disconnect()
        if self._lost is not None and self._loop is not None:
            # paho reports the clean disconnect itself; this is the fallback
            self._loop.call_later(1.0, self._lost.set)
        elif self._lost is not None:
            self._lost.set()
