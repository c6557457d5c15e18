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
from gateway.decode import MAX_FIELDS, MAX_PAYLOAD
from rules.model import Message, Telemetry, Value

log = logging.getLogger("gateway.adapters.sparkplugb")

_SIGNED = {sp.INT8: 8, sp.INT16: 16, sp.INT32: 32, sp.INT64: 64}
_TYPES = frozenset({"NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH"})
_HOT = frozenset({"float_value", "boolean_value", "int_value", "long_value"})


@dataclass(slots=True)
class _Session:
    bdseq: int | None = None
    seq: int | None = None
    aliases: dict[int, tuple[str | None, str, int, bool]] = field(default_factory=dict)
    types: dict[tuple[str | None, str], int] = field(default_factory=dict)
    devices: dict[str, None] = field(default_factory=dict)  # born devices, in birth order
    # alias -> (device, output name, the type put wants, data type) of an alias whose
    # value put took before: the next one is stored without resolving it again
    hot: dict[int, tuple[str | None, str, type | None, int]] = field(default_factory=dict)


class SparkplugB(Adapter):
    kind = "sparkplugb"

    def __init__(self, spec: Any, site: str) -> None:
        super().__init__(spec, site)
        self._skip = tuple(spec.skip_prefixes)
        self._nodes: dict[tuple[str, str], _Session] = {}
        # topic -> the Target of its device (or node): Sparkplug gives no system hint, so
        # one topic always resolves alike (what Adapter.target raises is not kept)
        self._targets: dict[str, Target] = {}
        self.seq_gaps = 0

    def decode(
        self, topic: str, payload: bytes | bytearray, now_ms: int
    ) -> Message | list[Message]:
        parts = topic.split("/")
        if len(parts) == 5:
            spb, group, mtype, node, device = parts
            if mtype[0] == "N":
                raise Unmappable("bad_topic", f"{mtype[:20]} with a device")
        elif len(parts) == 4:
            spb, group, mtype, node = parts
            device = None
            if mtype[:1] == "D":
                raise Unmappable("bad_topic", f"{mtype[:20]} without a device")
        else:
            raise Unmappable("bad_topic", "not spBv1.0/<group>/<type>/<node>[/<device>]")
        if spb != "spBv1.0":
            raise Unmappable("bad_topic", "not spBv1.0/<group>/<type>/<node>[/<device>]")
        if mtype not in _TYPES:
            raise Unmappable("unsupported_type", f"{mtype[:20]} is not a birth, data or death")
        if len(payload) > MAX_PAYLOAD:
            raise Unmappable("too_large", "payload larger than 64 KiB")
        try:
            pl_ts, seq, metrics = sp.decode_payload(payload)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError, or worse on garbage
            raise Unmappable("bad_protobuf", "payload is not a Sparkplug B protobuf") from None
        key = (group, node)
        sess = self._nodes.get(key)
        if mtype == "NDEATH":
            return self._ndeath(key, sess, metrics, topic, node, now_ms)
        if mtype == "NBIRTH":
            sess = _Session()
            if key in self._nodes or len(self._nodes) < MAX_REMEMBERED:
                self._nodes[key] = sess
        elif sess is None:
            if mtype == "DBIRTH" or not _needs_birth(metrics):
                sess = _Session()  # a birth we missed: take what carries names
                if len(self._nodes) < MAX_REMEMBERED:
                    self._nodes[key] = sess
            else:
                raise Unmappable("no_birth", f"{mtype} by alias before the node's NBIRTH")
        if seq is not None:
            prev = sess.seq
            if seq > 255 or mtype == "NBIRTH" or (prev is not None and seq != (prev + 1) & 255):
                self._check_seq(sess, seq, mtype, topic)
            else:
                sess.seq = seq  # the next in order
        t = self._targets.get(topic)
        if t is None:
            t = self._target(node if device is None else device, topic)
        if mtype[1:] == "DATA":
            out = self._telemetry(t, sess, device, pl_ts, metrics, False, now_ms)
            return out[0] if len(out) == 1 else one_or_many(out)
        if mtype == "DDEATH":
            sess.devices.pop(device or "", None)
            return self.status(t, False, now_ms)
        if mtype == "NBIRTH":
            sess.bdseq = _bdseq(metrics)
        elif device is not None and len(sess.devices) < MAX_REMEMBERED:
            sess.devices[device] = None
        out = self._telemetry(t, sess, device, pl_ts, metrics, True, now_ms)
        out.insert(0, self.status(t, True, now_ms))
        return one_or_many(out)

    def _target(self, name: str, topic: str) -> Target:
        t = self.target(name, topic)
        if len(self._targets) < MAX_REMEMBERED and len(topic) <= 256:
            self._targets[topic] = t
        return t

    def _check_seq(self, sess: _Session, seq: int, mtype: str, topic: str) -> None:
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
        metrics: list[sp.Metric],
        topic: str,
        node: str,
        now_ms: int,
    ) -> Message | list[Message]:
        bdseq = _bdseq(metrics)
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
        payload_ts: int,
        metrics: list[sp.Metric],
        birth: bool,
        now_ms: int,
    ) -> list[Message]:
        by_ts: dict[int, dict[str, Value]] = {}
        plain: dict[str, Value] | None = None  # the values without a timestamp of their own
        aliases, types, skip, put, hot = sess.aliases, sess.types, self._skip, self.put, sess.hot
        checked = self._names  # field -> (output name, the type it must be), once put
        v: Value | None
        for name, alias, mts, mtype, is_null, which, raw in metrics:
            by_alias = not birth and not name
            if by_alias and not (mts or is_null) and which in _HOT:
                # the hottest path: a float or boolean of an alias whose value put took
                # before, stored as the general path below would (which it falls to when
                # anything differs: a non-finite float, a type put would refuse, too many)
                slot = hot.get(alias)  # type: ignore[arg-type]
                if slot is not None and slot[0] == device:
                    if plain is None:
                        plain = by_ts.setdefault(payload_ts or now_ms, {})
                    if len(plain) < MAX_FIELDS:
                        if which == "float_value":  # _float32, inline
                            if raw.is_integer() and -1e7 < raw < 1e7:
                                v = raw
                            else:
                                v = float("%.7g" % raw)  # noqa: UP031 - faster
                        elif which == "boolean_value":
                            v = raw
                        elif not mtype:
                            v = _integer(raw, slot[3])
                        else:
                            v = None  # another data type than its birth's: not here
                        if v.__class__ is float:
                            if v - v == 0.0 and slot[2] is not bool:  # finite, a number
                                plain[slot[1]] = v
                                continue
                        elif v is not None and slot[2] is not float:  # a boolean
                            plain[slot[1]] = v
                            continue
            if by_alias:
                # the hot path: DATA by alias, resolved once at birth (name, type, skipped)
                known = aliases.get(alias or 0)
                if known is None or known[0] != device:
                    raise Unmappable("unknown_alias", f"alias {alias or 0} was not in a birth")
                _, name, dtype, skipped = known
                if skipped:
                    continue
                dtype = mtype or dtype
            else:
                dtype = mtype  # 0 (Unknown) when absent
                if not name:
                    raise Unmappable("bad_metric", "a birth metric without a name")
                skipped = name.startswith(skip)
                if not dtype:
                    dtype = types.get((device, name), 0)
                elif birth and len(types) < MAX_REMEMBERED:
                    types[(device, name)] = dtype
                if birth and alias is not None and len(aliases) < MAX_REMEMBERED:
                    aliases[alias] = (device, name, dtype, skipped)
                    hot.pop(alias, None)
                if skipped:
                    continue
            if which is None or is_null:
                continue
            if which == "float_value":
                v = _float32(raw)
            elif which == "boolean_value" or which == "double_value":
                v = raw
            elif which == "int_value" or which == "long_value":
                v = _integer(raw, dtype)
            elif which == "string_value":
                v = str(raw)
            else:
                continue  # bytes: not a contract value
            if mts:
                ts = check_ts(mts, now_ms)
                vals = by_ts.get(ts)
                if vals is None:
                    vals = by_ts[ts] = {}
            elif plain is None:
                vals = plain = by_ts.setdefault(payload_ts or now_ms, {})
            else:
                vals = plain
            put(vals, name, v)
            if by_alias and not (mts or mtype) and which in _HOT:
                kind = checked.get(name)  # how put named and checked it
                if kind is not None and kind[0] is not None and len(hot) < MAX_REMEMBERED:
                    hot[alias] = (device, kind[0], kind[1], dtype)  # type: ignore[index]
        if not birth and not by_ts:
            raise Unmappable("no_values", "no metric with a value")
        if len(by_ts) == 1:
            ((ts, vals),) = by_ts.items()
            return (
                [Telemetry(self.site, t.system, t.device, ts, vals, now_ms, t.zone)] if vals else []
            )
        return [self.telemetry(t, ts, vals, now_ms) for ts, vals in sorted(by_ts.items()) if vals]


def _needs_birth(metrics: list[sp.Metric]) -> bool:
    return any(m[0] is None for m in metrics)


def _bdseq(metrics: list[sp.Metric]) -> int | None:
    for name, _, _, _, _, which, raw in metrics:
        if name == "bdSeq":
            return int(raw) if which in ("int_value", "long_value") else None
    return None


def _float32(x: float) -> float:
    """A float32 to 7 significant digits (23.100000381469727 -> 23.1); a whole number
    below 10**7 is that already (the formatting is the costly part)."""
    if x.is_integer() and -1e7 < x < 1e7:
        return x
    return float("%.7g" % x)  # noqa: UP031 - faster than an f-string (~25 %)


def _integer(raw: int, dtype: int) -> Value:
    """An integer metric by its data type: Int8-64 are two's complement, Boolean a flag."""
    v = int(raw)
    bits = _SIGNED.get(dtype)
    if bits is not None:
        v &= (1 << bits) - 1
        if v >= 1 << (bits - 1):
            v -= 1 << bits
    if dtype == sp.BOOLEAN:
        return v != 0
    return float(v)
