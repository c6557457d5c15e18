"""Sparkplug B: ``spBv1.0/<group>/<NBIRTH|NDATA|NDEATH|DBIRTH|DDATA|DDEATH>/<node>[/<device>]``.

Lifecycle: built once from its spec; it then keeps, per edge node (group, node), the
session that node's NBIRTH opened: its ``bdSeq``, the last message ``seq`` (0-255,
wrapping), the metric aliases its births declared (aliases are unique across a node and
its devices) with their names and data types, and the devices born since. Per message:

* ``NBIRTH`` starts a new session (everything of the old one forgotten): Status online for
  the node, and its metrics as telemetry. ``DBIRTH``: Status online for the device, and
  its metrics as telemetry; their aliases are remembered.
* ``NDATA``/``DDATA``: metrics by name or by alias (an alias no birth declared is
  rejected: ``unknown_alias``, or ``no_birth`` before any birth of the node) -> telemetry,
  one per distinct metric timestamp (historical metrics keep theirs).
* ``DDEATH`` -> Status offline for the device. ``NDEATH`` whose ``bdSeq`` matches the
  session's (the node's MQTT will) -> Status offline for the node and every device born in
  the session, and the session ends; one with another ``bdSeq`` is a stale will of an old
  session: rejected (``stale_death``).
* A ``seq`` that does not follow the previous one (a lost message) is counted in
  :attr:`SparkplugB.seq_gaps` and the message is still decoded (its values are valid).
* ``NCMD``/``DCMD``/``STATE`` are not device reports: rejected.

Values: integers are read by data type (Int8/16/32/64 are two's complement), Float is
rounded to 7 significant digits (float32), DateTime stays epoch ms, booleans and strings
as they are; null, bytes, data sets and templates are skipped. Metrics named with a
``skip_prefixes`` entry (``bdSeq``, ``Node Control/...``) are not telemetry. The system
comes from the config (or the lookup table); Sparkplug says nothing of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters import sparkplug_proto as sp
from gateway.adapters.base import MAX_REMEMBERED, Adapter, Target, one_or_many
from gateway.adapters.units import Unmappable, check_ts
from gateway.decode import MAX_PAYLOAD
from rules.model import Message, Value

log = logging.getLogger("gateway.adapters.sparkplugb")

_SIGNED = {sp.INT8: 8, sp.INT16: 16, sp.INT32: 32, sp.INT64: 64}
_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"})


@dataclass(slots=True)
class _Session:
    bdseq: int | None = None
    seq: int | None = None
    aliases: dict[int, tuple[str | None, str, int, bool]] = field(default_factory=dict)
    types: dict[tuple[str | None, str], int] = field(default_factory=dict)
    devices: dict[str, None] = field(default_factory=dict)  # born devices, in birth order


class SparkplugB(Adapter):
    kind = "sparkplugb"

    def __init__(self, spec: Any, site: str) -> None:
        super().__init__(spec, site)
        self._skip = tuple(spec.skip_prefixes)
        self._nodes: dict[tuple[str, str], _Session] = {}
        self.seq_gaps = 0

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        parts = topic.split("/")
        if len(parts) not in (4, 5) or parts[0] != "spBv1.0":
            raise Unmappable("bad_topic", "not spBv1.0/<group>/<type>/<node>[/<device>]")
        _, group, mtype, node = parts[:4]
        device = parts[4] if len(parts) == 5 else None
        if mtype not in _TYPES:
            raise Unmappable("unsupported_type", f"{mtype[:20]} is not a birth, data or death")
        if (device is None) != (mtype[0] == "N"):
            raise Unmappable("bad_topic", f"{mtype} with{'out' if device is None else ''} a device")
        if len(payload) > MAX_PAYLOAD:
            raise Unmappable("too_large", "payload larger than 64 KiB")
        try:
            pl = sp.Payload.FromString(bytes(payload))
        except Exception:  # noqa: BLE001 - protobuf's DecodeError, or worse on garbage
            raise Unmappable("bad_protobuf", "payload is not a Sparkplug B protobuf") from None
        key = (group, node)
        sess = self._nodes.get(key)
        if mtype == "NDEATH":
            return self._ndeath(key, sess, pl, topic, node, now_ms)
        if mtype == "NBIRTH":
            sess = _Session()
            if key in self._nodes or len(self._nodes) < MAX_REMEMBERED:
                self._nodes[key] = sess
        elif sess is None:
            if mtype == "DBIRTH" or not _needs_birth(pl):
                sess = _Session()  # a birth we missed: take what carries names
                if len(self._nodes) < MAX_REMEMBERED:
                    self._nodes[key] = sess
            else:
                raise Unmappable("no_birth", f"{mtype} by alias before the node's NBIRTH")
        self._check_seq(sess, pl, mtype, topic)
        t = self.target(device if device is not None else node, topic)
        if mtype == "DDEATH":
            sess.devices.pop(device or "", None)
            return self.status(t, False, now_ms)
        if mtype == "NBIRTH":
            sess.bdseq = _bdseq(pl)
        birth = mtype.endswith("BIRTH")
        if birth and device is not None and len(sess.devices) < MAX_REMEMBERED:
            sess.devices[device] = None
        out: list[Message] = [self.status(t, True, now_ms)] if birth else []
        out.extend(self._telemetry(t, sess, device, pl, birth, now_ms))
        return one_or_many(out)

    def _check_seq(self, sess: _Session, pl: Any, mtype: str, topic: str) -> None:
        if not pl.HasField("seq"):
            return
        seq = int(pl.seq)
        if seq > 255:
            raise Unmappable("bad_seq", f"seq {seq} is not 0-255")
        if mtype == "NBIRTH":
            sess.seq = seq
            return
        if sess.seq is not None and seq != (sess.seq + 1) % 256:
            self.seq_gaps += 1
            log.debug("sparkplug %s: seq %d after %d (a message lost)", topic, seq, sess.seq)
        sess.seq = seq

    def _ndeath(
        self,
        key: tuple[str, str],
        sess: _Session | None,
        pl: Any,
        topic: str,
        node: str,
        now_ms: int,
    ) -> Message | list[Message]:
        bdseq = _bdseq(pl)
        if sess is not None and None not in (sess.bdseq, bdseq) and sess.bdseq != bdseq:
            raise Unmappable(
                "stale_death", f"NDEATH bdSeq {bdseq} is not the session's {sess.bdseq}"
            )
        out: list[Message] = [self.status(self.target(node, topic), False, now_ms)]
        if sess is not None:
            for dev in sess.devices:
                out.append(self.status(self.target(dev, topic), False, now_ms))
            del self._nodes[key]
        return one_or_many(out)

    def _telemetry(
        self,
        t: Target,
        sess: _Session,
        device: str | None,
        pl: Any,
        birth: bool,
        now_ms: int,
    ) -> list[Message]:
        default_ts = int(pl.timestamp) or now_ms
        by_ts: dict[int, dict[str, Value]] = {}
        aliases, types, skip = sess.aliases, sess.types, self._skip
        for m in pl.metrics:
            name: str = m.name
            if not birth and not name:
                # the hot path: DATA by alias, resolved once at birth (name, type, skipped)
                known = aliases.get(m.alias)
                if known is None or known[0] != device:
                    raise Unmappable("unknown_alias", f"alias {m.alias} was not in a birth")
                _, name, dtype, skipped = known
                if skipped:
                    continue
                dtype = m.datatype or dtype
            else:
                dtype = m.datatype  # 0 (Unknown) when absent
                if not name:
                    raise Unmappable("bad_metric", "a birth metric without a name")
                skipped = name.startswith(skip)
                if not dtype:
                    dtype = types.get((device, name), 0)
                elif birth and len(types) < MAX_REMEMBERED:
                    types[(device, name)] = dtype
                if birth and m.HasField("alias") and len(aliases) < MAX_REMEMBERED:
                    aliases[int(m.alias)] = (device, name, dtype, skipped)
                if skipped:
                    continue
            v = _value(m, dtype)
            if v is None:
                continue
            mts = m.timestamp
            ts = check_ts(int(mts), now_ms) if mts else default_ts
            vals = by_ts.get(ts)
            if vals is None:
                vals = by_ts[ts] = {}
            self.put(vals, name, v)
        if not birth and not by_ts:
            raise Unmappable("no_values", "no metric with a value")
        return [self.telemetry(t, ts, vals, now_ms) for ts, vals in sorted(by_ts.items()) if vals]


def _needs_birth(pl: Any) -> bool:
    return any(not m.HasField("name") for m in pl.metrics)


def _bdseq(pl: Any) -> int | None:
    for m in pl.metrics:
        if m.name == "bdSeq":
            which = m.WhichOneof("value")
            return int(getattr(m, which)) if which in ("int_value", "long_value") else None
    return None


def _value(m: Any, dtype: int) -> Value | None:
    which = m.WhichOneof("value")
    if which is None or m.is_null:
        return None
    if which == "int_value" or which == "long_value":
        v = int(getattr(m, which))
        bits = _SIGNED.get(dtype)
        if bits is not None:
            v &= (1 << bits) - 1
            if v >= 1 << (bits - 1):
                v -= 1 << bits
        if dtype == sp.BOOLEAN:
            return v != 0
        return float(v)
    if which == "float_value":
        return float(f"{m.float_value:.7g}")
    if which == "double_value":
        return float(m.double_value)
    if which == "boolean_value":
        return bool(m.boolean_value)
    if which == "string_value":
        return str(m.string_value)
    return None  # bytes, data sets, templates: not a contract value
