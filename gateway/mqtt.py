"""The MQTT link: one broker connection, driven by the asyncio loop, with manual acks.

aiomqtt acknowledges every QoS 1 message as soon as it arrives and has no manual ack, so
a crash would lose what was received but not yet stored. This link is built the way
aiomqtt is built (paho-mqtt 2 on the event loop's reader/writer callbacks: one thread, no
locks) but turns paho's ``manual_ack`` on: the pipeline calls :meth:`MqttLink.ack` for each
message, in order, once the message is safe (stored, or dead-lettered). Until then the
broker keeps it in our persistent session and redelivers it after a crash.
The link reads the socket itself and cuts PUBLISH packets out with
:mod:`gateway.mqtt_codec` (paho's generic decoder was half the gateway's CPU); every other
packet goes whole to paho. The acknowledgements of one slice go out in one write
(:meth:`MqttLink.ack_many`), in the order given.

Lifecycle of a :class:`MqttLink`:

1. ``await link.run()`` connects (``clean_start=False`` with a session expiry, so the
   session and its queued messages survive us), subscribes at QoS 1 and hands every
   message to ``on_message`` on the event-loop thread.
2. On a lost connection it waits a jittered exponential backoff
   (:class:`gateway.retry.Backoff`: full jitter, 0.5 s doubling up to 30 s, reset once a
   connection was up), reconnects and subscribes again. Messages received on the old
   connection and not yet acknowledged are redelivered by the broker; their stale ack
   handles are dropped (``generation``).
3. ``link.stop()`` disconnects cleanly and makes ``run()`` return; ``link.abort()`` drops
   the connection at once instead (no DISCONNECT, and no acknowledgement queued or asked
   for afterwards goes out): what it received is redelivered to the session's next holder.

``link.pause()`` stops reading (a drain: the sink flushes, acknowledgements still go out).
The loop watches a link's socket by its file descriptor, and a process closes and opens
many (several sites, several links each, reconnects): a descriptor number freed by one
link is soon another's. So the link only ever registers, pauses or unregisters *its current
socket*: a registration queued for a socket closed meanwhile is dropped, and ``pause()`` on
a link whose socket has closed touches nothing (it once removed the reader of whichever
link had been given that number: that link then read nothing until its keepalive ran out,
and the readings of its site waited in the broker past the fail-over test's patience).

Backpressure is the broker's in-flight window: with MQTT 5 the broker sends at most
``receive_maximum`` unacknowledged messages, so nothing downstream can be flooded; with
MQTT 3.1.1 the window is the broker's own setting (Mosquitto: ``max_inflight_messages``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway.mqtt_codec import PUBACK, MalformedPacket, PacketReader, Publish, pubacks
from gateway.retry import Backoff
from gateway.settings import MqttTarget

log = logging.getLogger("sitewatch.mqtt")

#: what a link hands to ``on_message``: our fast reader's PUBLISH, or paho's message
Incoming = Publish | paho.MQTTMessage

SESSION_EXPIRY_S = 7 * 24 * 3600
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 30.0
# longest one read callback may run before yielding to the rest of the loop
READ_BUDGET_S = 0.002


class _FastClient(paho.Client):
    """paho's client, with the link reading the socket itself.

    paho reads a packet header a byte at a time and decodes every PUBLISH through its
    generic MQTT 5 code: at thousands of messages a second that was half the gateway's CPU
    (see bench/RESULTS.md). The link reads 64 KiB at a time into a
    :class:`gateway.mqtt_codec.PacketReader`, handles PUBLISH (QoS 0/1) itself and hands
    every other packet, whole, to paho's own ``_packet_read`` through :meth:`handle`
    (``_sock_recv`` then serves exactly that packet's bytes and never touches the socket).
    """

    _rbuf = b""
    _rpos = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._rpos >= len(self._rbuf):
            raise BlockingIOError  # only whole packets are handed in: never reached
        end = self._rpos + bufsize
        chunk = self._rbuf[self._rpos : end]
        self._rpos = min(end, len(self._rbuf))
        return chunk

    def recv_raw(self) -> bytes:
        """One read of the socket (64 KiB at most); ``BlockingIOError`` when empty."""
        data = paho.Client._sock_recv(self, 65536)
        self._last_bytes_received = time.monotonic()  # paho's keepalive clock
        return data

    def handle(self, packet: bytes) -> int:
        """Let paho process one whole packet (not a fast-path PUBLISH)."""
        self._rbuf = packet
        self._rpos = 0
        rc = self._packet_read()
        self._rbuf = b""
        if rc > 0:
            return int(self._loop_rc_handle(rc))
        return 0

    def queue_raw(self, command: int, data: bytes) -> None:
        """Queue ready-made packets (our PUBACKs) behind paho's own in one write."""
        self._packet_queue(command, data, 0, 0)


class MqttLink:
    def __init__(
        self,
        target: MqttTarget,
        client_id: str,
        topics: list[str],
        on_message: Callable[[MqttLink, Incoming], None],
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
        self._sock: Any = None  # the socket whose reader is registered (None: none)
        self._wsock: Any = None  # the socket whose writer is registered (None: none)
        self._paused = False
        self._aborted = False
        self._stopped = asyncio.Event()  # set by stop() / abort(): ends a backoff wait
        self._reader: PacketReader | None = None
        self.backoff = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
        """Reconnect waits (:mod:`gateway.retry`); reset once a connection was up."""
        self._client = self._make_client(will)

    # -- paho client ------------------------------------------------------------------
    def _make_client(self, will: tuple[str, bytes, bool] | None) -> _FastClient:
        kwargs: dict[str, Any] = {}
        if not self.v5:
            kwargs["clean_session"] = False
        c = _FastClient(
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
        self._deliver(msg)  # paho's path: only what the fast reader leaves to it (QoS 2)

    def _deliver(self, msg: Incoming) -> None:
        self._rx += 1
        try:
            self.on_message(self, msg)
        except Exception:  # the gateway never crashes on a message
            log.exception("handler failed on a message from %s", msg.topic)

    def _drop(self) -> None:
        """Close a connection that broke (the socket, or the protocol) and reconnect."""
        self._reader = None
        with contextlib.suppress(Exception):
            self._client._loop_rc_handle(paho.MQTT_ERR_CONN_LOST)  # noqa: SLF001
        if self._lost is not None:
            self._lost.set()

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

        fc = self._client
        rd = self._reader = PacketReader(self.v5)
        rescheduled = [False]  # one call_soon'd reader at most, or they pile up

        def resumed() -> None:
            rescheduled[0] = False
            reader()

        def on_readable() -> None:
            if not rescheduled[0]:  # else a read is already queued: one per loop turn
                reader()

        def reader() -> None:
            # packets already received first, then the socket until it would block, but
            # never longer than read_budget_s at a time, so that other links (fire) and
            # the API get their turn; bytes left in our buffer (or in the SSL object) are
            # invisible to epoll, hence the call_soon to go on
            if self._reader is not rd or self._paused:
                return  # a callback of a closed connection, or of a paused link
            deadline = time.perf_counter() + self.read_budget_s
            deliver = self._deliver
            try:
                while True:
                    pkt = rd.next()
                    if pkt is None:
                        try:
                            data = fc.recv_raw()
                        except BlockingIOError:
                            return  # drained: epoll wakes us for more
                        if not data:  # EOF: the broker closed the connection
                            self._drop()
                            return
                        rd.feed(data)
                        continue
                    if isinstance(pkt, Publish):
                        deliver(pkt)
                        if self._reader is not rd or self._paused:
                            return  # the handler paused or dropped the link
                    elif fc.handle(pkt.data) or self._reader is not rd:
                        return  # paho closed the connection (its callbacks ran)
                    if time.perf_counter() >= deadline:
                        break
                if self._loop is not None and not rescheduled[0]:
                    rescheduled[0] = True
                    self._loop.call_soon(resumed)  # let others run, then go on
            except MalformedPacket as exc:
                log.warning(
                    "%s: malformed packet from the broker, reconnecting: %s", self.name, exc
                )
                self._drop()
            except Exception as exc:  # noqa: BLE001 - a broken socket is a lost link
                log.warning("%s: read failed: %s", self.name, exc)
                self._drop()

        def start() -> None:
            if fc.socket() is not sock:
                return  # closed before the loop got here: its number may be another's now
            self._sock, self._sock_fd = sock, fd
            if not self._paused:
                loop.add_reader(fd, on_readable)
            if self._misc is None or self._misc.done():
                self._misc = loop.create_task(self._misc_loop(), name=f"mqtt-{self.name}-misc")

        loop.call_soon_threadsafe(start)

    def _on_socket_close(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        # paho calls this before it closes ``sock``: its registrations go while the number
        # is still ours (later, it may be another socket's)
        loop = self._loop
        fd = sock.fileno()
        if loop is None or fd < 0:
            return
        if self._sock is sock:
            loop.remove_reader(fd)
            self._sock, self._sock_fd = None, None
        if self._wsock is sock:
            loop.remove_writer(fd)
            self._wsock = None

    def _on_socket_register_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        loop = self._loop
        assert loop is not None
        fd = sock.fileno()

        def writer() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: write failed: %s", self.name, exc)
                if self._lost is not None:
                    self._lost.set()

        def register() -> None:
            if client.socket() is not sock:
                return  # closed meanwhile: never watch a number that may be another's
            self._wsock = sock
            loop.add_writer(fd, writer)

        loop.call_soon_threadsafe(register)

    def _on_socket_unregister_write(self, client: paho.Client, userdata: Any, sock: Any) -> None:
        if self._loop is not None and self._wsock is sock:
            self._loop.remove_writer(sock.fileno())
            self._wsock = None

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
            await self._backoff_sleep(delay)

    async def _backoff_sleep(self, delay: float) -> None:
        """The backoff's sleep, cut short by :meth:`stop` (a site stopped while its link
        waits to reconnect must not hold its process's lease loop for up to 30 s)."""
        sleep = asyncio.ensure_future(self.backoff.sleep(delay))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({sleep, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stopped.cancel()

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
        self._reader = None  # bytes of the old connection mean nothing on a new one

    def ack(self, mid: int) -> None:
        self.ack_many([mid])

    def ack_many(self, mids: list[int]) -> None:
        """Acknowledge QoS 1 messages, in this order, in one write (``PUBACK`` each)."""
        if mids and not self._aborted:
            self._client.queue_raw(PUBACK, pubacks(mids))

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Queue a publish; QoS 1 publishes made while the link is down go out on reconnect."""
        self._client.publish(topic, payload, qos=qos, retain=retain)

    def pause(self) -> None:
        """Stop reading from the broker (acks and publishes still go out), for good: a
        connection made after this (a reconnect) is not read either."""
        self._paused = True
        if self._sock is not None and self._sock_fd is not None and self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._sock_fd)

    def abort(self) -> None:
        """Drop the connection now, without a DISCONNECT, and end :meth:`run`: nothing
        more is read, no acknowledgement goes out (neither those queued nor later ones), so
        the broker keeps every message this link received and did not acknowledge in the
        persistent session and redelivers it to the session's next holder. For a link whose
        acknowledgements can no longer be trusted (its site's lease was lost).

        Safe to call from inside a handler or a store callback (the fence): the socket is
        shut at once, but the link's own state callbacks (``on_state``) run later, from
        :meth:`run`, never nested in the caller's work."""
        self._aborted = True
        self._stopping = True
        self._paused = True
        with contextlib.suppress(Exception):
            self._client._out_packet.clear()  # noqa: SLF001 - PUBACKs queued, not yet written
        sock: Any = self._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the broker sees the connection end
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._aborted_now)

    def _aborted_now(self) -> None:
        self._stopped.set()
        self.pause()
        if self._lost is not None:
            self._lost.set()  # run() tears the connection down and returns

    def stop(self) -> None:
        """Disconnect cleanly (after queued acks are written) and end :meth:`run`."""
        self._stopping = True
        self._stopped.set()
        if self.connected:
            with contextlib.suppress(Exception):
                self._client.disconnect()
        if self._lost is not None and self._loop is not None:
            # paho reports the clean disconnect itself; this is the fallback
            self._loop.call_later(1.0, self._lost.set)
        elif self._lost is not None:
            self._lost.set()
