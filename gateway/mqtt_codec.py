"""A reader of MQTT packets off a byte stream, with a fast path for PUBLISH.

paho-mqtt decodes every packet through generic code (one ``recv`` per header byte, a
:class:`~paho.mqtt.properties.Properties` object per MQTT 5 message, a debug log line
built per message): at thousands of messages a second that was half of the gateway's CPU
(bench/RESULTS.md). PUBLISH is the only packet that comes at that rate, and it is a few
slices: this module cuts them out of the stream and leaves every other packet (CONNACK,
SUBACK, PUBACK of our own publishes, PINGRESP, DISCONNECT, QoS 2) to paho, whole.

Lifecycle of a :class:`PacketReader` (one per connection, never reused across one):

1. :meth:`PacketReader.feed` appends the bytes of one ``recv``; a packet may be split
   anywhere across feeds (inside the fixed header, the remaining length, the body).
2. :meth:`PacketReader.next` returns the next complete packet: a :class:`Publish`
   (QoS 0 or 1), an :class:`OtherPacket` (the packet's bytes as received, header
   included, for paho), or ``None`` while the packet is incomplete.
3. A malformed packet raises :class:`MalformedPacket`; the connection must then be
   closed (MQTT 5 section 4.13): the reader's state is undefined after it.

Packets are checked as the spec asks of a receiver: remaining length in at most 4 bytes,
topic within the packet, valid UTF-8, no wildcard and not empty (we never allow topic
aliases), QoS 3 refused, packet id non-zero for QoS 1, properties within the packet.
"""

from __future__ import annotations

import struct

PUBLISH = 0x30
PUBACK = 0x40
MAX_REMAINING = 268_435_455  # 0xFF 0xFF 0xFF 0x7F
_PUBACK_WORD = 0x40020000  # PUBACK, remaining length 2, then the packet id


class MalformedPacket(ValueError):
    """The stream broke the protocol: close the connection."""


class Publish:
    """One PUBLISH as the pipeline reads it (the attributes of ``paho.MQTTMessage`` it
    uses: ``topic``, ``payload``, ``qos``, ``mid``; plus ``retain``, ``dup`` and the raw
    MQTT 5 ``properties`` bytes)."""

    __slots__ = ("dup", "mid", "payload", "properties", "qos", "retain", "topic")

    def __init__(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        mid: int,
        retain: bool = False,
        dup: bool = False,
        properties: bytes = b"",
    ) -> None:
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.mid = mid
        self.retain = retain
        self.dup = dup
        self.properties = properties

    def __repr__(self) -> str:
        return f"Publish({self.topic!r}, {len(self.payload)} bytes, qos={self.qos}, mid={self.mid})"


class OtherPacket:
    """A packet the reader does not decode: its bytes, fixed header included."""

    __slots__ = ("data", "kind")

    def __init__(self, kind: int, data: bytes) -> None:
        self.kind = kind  # the packet type, high nibble of the first byte (0x10..0xF0)
        self.data = data


def encode_remaining_length(n: int) -> bytes:
    """The variable byte integer of the fixed header (1 to 4 bytes)."""
    if not 0 <= n <= MAX_REMAINING:
        raise ValueError(f"remaining length {n} out of range")
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def decode_varint(buf: bytes, pos: int, end: int) -> tuple[int, int] | None:
    """A variable byte integer at ``buf[pos:end]`` -> (value, position after it); ``None``
    when the bytes end inside it; :class:`MalformedPacket` past 4 bytes."""
    value = 0
    shift = 0
    for i in range(pos, min(end, pos + 4)):
        b = buf[i]
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise MalformedPacket("variable byte integer longer than 4 bytes")
    return None


def pubacks(mids: list[int]) -> bytes:
    """PUBACK packets (success, no properties: 4 bytes each) for ``mids``, in order."""
    return struct.pack(f">{len(mids)}I", *[_PUBACK_WORD | m for m in mids])


def parse_publish(first: int, buf: bytes, start: int, end: int, v5: bool) -> Publish:
    """The PUBLISH whose body (variable header and payload) is ``buf[start:end]``."""
    qos = (first >> 1) & 3
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    if end - start < 2:
        raise MalformedPacket("PUBLISH shorter than its topic length")
    p = start + 2
    tend = p + ((buf[start] << 8) | buf[start + 1])
    if tend > end:
        raise MalformedPacket("PUBLISH topic runs past the packet")
    try:
        topic = buf[p:tend].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("PUBLISH topic is not UTF-8") from None
    if not topic or "#" in topic or "+" in topic or "\x00" in topic:
        raise MalformedPacket(f"PUBLISH topic {topic[:80]!r} not allowed")
    p = tend
    mid = 0
    if qos:
        if p + 2 > end:
            raise MalformedPacket("PUBLISH without its packet id")
        mid = (buf[p] << 8) | buf[p + 1]
        if mid == 0:
            raise MalformedPacket("PUBLISH with packet id 0")
        p += 2
    props = b""
    if v5:
        if p < end and buf[p] < 0x80:  # the common case: a one-byte length
            plen = buf[p]
            p += 1
        else:
            got = decode_varint(buf, p, end)
            if got is None:
                raise MalformedPacket("PUBLISH properties length runs past the packet")
            plen, p = got
        if p + plen > end:
            raise MalformedPacket("PUBLISH properties run past the packet")
        if plen:
            props = buf[p : p + plen]
        p += plen
    return Publish(topic, buf[p:end], qos, mid, bool(first & 1), bool(first & 8), props)


class PacketReader:
    """Cuts a stream of bytes into MQTT packets (see the module's lifecycle)."""

    __slots__ = ("_buf", "_pos", "v5")

    def __init__(self, v5: bool = True) -> None:
        self.v5 = v5
        self._buf = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos < len(self._buf):
            self._buf = self._buf[self._pos :] + data
        else:
            self._buf = data
        self._pos = 0

    def buffered(self) -> int:
        """Bytes received and not yet returned as a packet."""
        return len(self._buf) - self._pos

    def next(self) -> Publish | OtherPacket | None:
        buf = self._buf
        pos = self._pos
        end = len(buf)
        if end - pos < 2:
            return None
        first = buf[pos]
        b = buf[pos + 1]
        if b < 0x80:  # remaining length in one byte
            length, body = b, pos + 2
        elif end - pos > 2 and buf[pos + 2] < 0x80:  # in two (a packet under 16 KiB)
            length, body = (b & 0x7F) | (buf[pos + 2] << 7), pos + 3
        else:
            got = decode_varint(buf, pos + 1, end)
            if got is None:
                return None
            length, body = got
        stop = body + length
        if stop > end:
            return None
        self._pos = stop
        if (first & 0xF6) == 0x32 and self.v5 and length > 5:
            # the stream's usual packet, a QoS 1 PUBLISH of MQTT 5, read inline: topic,
            # packet id, a properties length under 128; parse_publish checks the rest
            p = body + 2
            tend = p + ((buf[body] << 8) | buf[body + 1])
            if tend + 3 <= stop:
                mid = (buf[tend] << 8) | buf[tend + 1]
                plen = buf[tend + 2]
                data = tend + 3 + plen
                if mid and plen < 0x80 and data <= stop:
                    try:
                        topic = buf[p:tend].decode("utf-8")
                    except UnicodeDecodeError:
                        raise MalformedPacket("PUBLISH topic is not UTF-8") from None
                    if not topic or "#" in topic or "+" in topic or "\x00" in topic:
                        raise MalformedPacket(f"PUBLISH topic {topic[:80]!r} not allowed")
                    props = buf[tend + 3 : data] if plen else b""
                    return Publish(
                        topic, buf[data:stop], 1, mid, bool(first & 1), bool(first & 8), props
                    )
        kind = first & 0xF0
        if kind == PUBLISH and (first & 6) != 6 and (first & 6) != 4:  # QoS 0 or 1
            return parse_publish(first, buf, body, stop, self.v5)
        if kind == PUBLISH and (first & 6) == 6:
            raise MalformedPacket("PUBLISH with QoS 3")
        if kind == 0:
            raise MalformedPacket("packet type 0 is reserved")
        return OtherPacket(kind, buf[pos:stop])
