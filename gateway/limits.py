"""Bounds on what devices can make the gateway keep (issue: nothing grows without a bound).

:class:`BoundedDecoder` wraps the pipeline's decoder stage. After a message decodes, it is
checked against the shared device state (``rules.devices``, owned by the rule engine):

* ``device_limit``: a device the site does not know yet while ``max_devices`` devices are
  known already (a flood of made-up ids) is dead-lettered, never registered;
* ``field_limit``: a reading that would give one device more than ``max_fields`` distinct
  fields is dead-lettered whole (the device's known fields keep arriving).

Both are counted by reason in ``/metrics`` like every rejection. Pure checks on the event
loop: a dict lookup per message (the fields are compared only near the limit). The id of a
device seen for the first time is interned (``sys.intern``), so every structure that keeps
it shares one string.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from gateway.stages import Decoder
from rules.devices import DeviceState
from rules.model import Message, Rejected, Telemetry

DEFAULT_MAX_DEVICES = 100_000
DEFAULT_MAX_FIELDS = 200


class BoundedDecoder:
    name = "limits"

    def __init__(
        self,
        inner: Decoder,
        devices: Mapping[str, DeviceState],
        *,
        max_devices: int = DEFAULT_MAX_DEVICES,
        max_fields: int = DEFAULT_MAX_FIELDS,
    ) -> None:
        self.inner = inner
        self.devices = devices
        self.max_devices = max_devices
        self.max_fields = max_fields

    def decode(
        self, topic: str, payload: bytes, now_ms: int
    ) -> Message | Rejected | Sequence[Message | Rejected]:
        res = self.inner.decode(topic, payload, now_ms)
        if type(res) is Telemetry:  # the usual answer, before the general checks
            return self._check(res, topic, payload, now_ms)
        if isinstance(res, Rejected):
            return res
        if isinstance(res, Message):
            return self._check(res, topic, payload, now_ms)
        return [
            p if isinstance(p, Rejected) else self._check(p, topic, payload, now_ms) for p in res
        ]

    def _check(self, res: Message, topic: str, payload: bytes, now_ms: int) -> Message | Rejected:
        dev = self.devices.get(res.device)
        if dev is None:
            if len(self.devices) >= self.max_devices:
                return Rejected(
                    topic,
                    payload,
                    "device_limit",
                    f"the site already has {len(self.devices)} devices (limit "
                    f"{self.max_devices}); {res.device!r} is not registered",
                    now_ms,
                )
            # a device not yet known: its id, site and system are kept by the engine, the
            # sink's tag cache and the meters, one string each for all (each message brings
            # copies of its own: ~150 bytes a device)
            res.device = sys.intern(res.device)
            res.site = sys.intern(res.site)
            res.system = sys.intern(res.system)
            known: Mapping[str, object] = {}
        else:
            known = dev.values
        if (
            isinstance(res, Telemetry)
            # under the limit even if every field were new: nothing to look up
            and len(known) + len(res.values) > self.max_fields
        ):
            new = [f for f in res.values if f not in known]
            if len(known) + len(new) > self.max_fields:
                return Rejected(
                    topic,
                    payload,
                    "field_limit",
                    f"device {res.device!r} would have {len(known) + len(new)} fields "
                    f"(limit {self.max_fields}); new: {', '.join(sorted(new)[:5])}",
                    now_ms,
                )
        return res
