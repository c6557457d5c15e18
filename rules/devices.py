"""Device state: what the gateway knows of each device, owned in one place.

One :class:`DeviceState` per device, kept by the rule engine (``rules.engine``), which
registers devices (from the site file, and on their first valid message) and updates them
with every message it is given. Everything else (the gateway's device registry, the API,
health figures) reads the same objects; nobody else writes them. Pure data, no I/O: time
comes in as arguments (device time ``ts``, gateway time ``received_ms``).

The late-reading rule lives here, once: a field value whose timestamp is older than the
latest one seen for that device's field does not replace the latest value
(:meth:`DeviceState.update` reports it as late); a value with the same timestamp (a QoS 1
duplicate) is applied again, which changes nothing.

The timestamps of the latest values (:attr:`DeviceState.ts`) take no room of their own
while every field has the same one (a device that sends all its fields in every reading):
one int then stands for all; a dict of field -> timestamp is made when they differ, and
dropped again by a reading that carries every field. At 100,000 devices the dict was
~20-27 MB.

What a device has alike with a whole group of devices (its site, system, type, interval,
and whether the site file names it) is one shared :class:`Kind` the device points to; the
engine gives each device the kind of its group (a new one when the device's type or
interval changes: a kind is never written once devices point to it) and keeps the
names the site file gives in one dict for all (a device without one is called by its
id). The group's attributes and the name were six references a device (48 bytes), and a
learned interval a float of its own (24).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from rules.model import Value

#: a device is shown offline after this many usual intervals of silence, at least MIN
SILENCE_FACTOR = 3
MIN_SILENCE_S = 60.0
DEFAULT_INTERVAL_S = 60.0
_NEVER = -(2**62)


class Kind:
    """What the devices of one group have alike: site, system, type, usual interval
    (seconds), whether the site file names them, and the engine's display names (device
    id -> name, for the devices whose name is not their id). One object the group's
    devices point to: never written once they do."""

    __slots__ = ("site", "system", "type", "in_site_file", "interval_s", "names")

    def __init__(
        self,
        site: str,
        system: str,
        dtype: str | None = None,
        in_site_file: bool = False,
        interval_s: float = DEFAULT_INTERVAL_S,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.site = site
        self.system = system
        self.type = dtype
        self.in_site_file = in_site_file
        self.interval_s = interval_s
        self.names: Mapping[str, str] = {} if names is None else names


class DeviceState:
    """One device: identity, latest value of every field (with its device timestamp),
    and when it was last heard from. ``site``, ``system``, ``type``, ``interval_s``,
    ``in_site_file`` and ``name`` are read through its :class:`Kind` (read-only here: the
    engine gives the device another kind)."""

    # 9 slots, 104 bytes a device (there were 15: the kind's attributes, and the time of the
    # first message, which nobody read)
    __slots__ = ("id", "kind", "zone", "values", "_ts", "clock", "last_recv", "status", "messages")

    def __init__(self, did: str, kind: Kind, zone: str | None) -> None:
        self.id = did
        self.kind = kind
        self.zone = zone
        self.values: dict[str, Any] = {}  # field -> latest value
        # the device time of every value (an int: the same for all) or field -> device time
        self._ts: int | dict[str, int] = _NEVER
        self.clock = _NEVER  # newest device timestamp seen
        self.last_recv: int | None = None  # gateway time of the last valid message
        self.status: bool | None = None  # last retained status (True = online)
        self.messages = 0

    @property
    def site(self) -> str:
        return self.kind.site

    @property
    def system(self) -> str:
        return self.kind.system

    @property
    def type(self) -> str | None:
        return self.kind.type

    @property
    def interval_s(self) -> float:
        return self.kind.interval_s

    @property
    def in_site_file(self) -> bool:
        return self.kind.in_site_file

    @property
    def name(self) -> str:
        """The name the site file gives the device, else its id."""
        return self.kind.names.get(self.id, self.id)

    def heard(self, received_ms: int) -> None:
        """A valid message arrived at gateway time ``received_ms``."""
        self.messages += 1
        if self.last_recv is None or received_ms > self.last_recv:
            self.last_recv = received_ms

    def update(self, values: dict[str, Value], ts: int) -> list[str] | None:
        """Take a reading's values at device time ``ts``; returns the late fields (older
        than the latest value of that field), or ``None`` when every field was fresh."""
        if ts >= self.clock:
            # no field has a value newer than the device's newest timestamp: all fresh
            vals = self.values
            t = self._ts
            if t.__class__ is int and (t == ts or not vals):
                vals.update(values)  # every field (old and new) is at ``ts``
                self._ts = ts
            else:
                vals.update(values)
                if len(vals) == len(values):
                    self._ts = ts  # the reading carries every field: one stamp again
                else:
                    self._own_ts().update(dict.fromkeys(values, ts))
            self.clock = ts
            return None
        vals, tss = self.values, self._own_ts()
        late: list[str] | None = None
        for f, x in values.items():
            old = tss.get(f)
            if old is None or ts >= old:
                vals[f] = x
                tss[f] = ts
            elif late is None:
                late = [f]
            else:
                late.append(f)
        if ts > self.clock:
            self.clock = ts
        return late

    @property
    def ts(self) -> Mapping[str, int]:
        """Field -> device time of its latest value (read-only: :meth:`put` writes)."""
        t = self._ts
        if t.__class__ is int:
            return _SameTs(self.values, t)  # type: ignore[arg-type]
        return t  # type: ignore[return-value]

    def ts_of(self, field: str) -> int | None:
        """Device time of ``field``'s latest value (``None``: never sent)."""
        t = self._ts
        if t.__class__ is int:
            return t if field in self.values else None  # type: ignore[return-value]
        return t.get(field)  # type: ignore[union-attr]

    def put(self, field: str, value: Any, ts: int) -> None:
        """``field``'s latest value is ``value`` at device time ``ts`` (no checks: the
        caller decided it is newer; the device's clock is not moved)."""
        t = self._ts
        if t.__class__ is int and (t == ts or not self.values):
            self.values[field] = value
            self._ts = ts
            return
        self._own_ts()[field] = ts
        self.values[field] = value

    def _own_ts(self) -> dict[str, int]:
        """The timestamps as a dict of the device's own (made from the shared one)."""
        t = self._ts
        if t.__class__ is int:
            t = self._ts = dict.fromkeys(self.values, t)
        return t  # type: ignore[return-value]

    def saw(self, ts: int) -> None:
        """A message stamped ``ts`` (device time) that carries no field values."""
        if ts > self.clock:
            self.clock = ts

    @property
    def last_ts(self) -> int | None:
        return None if self.clock == _NEVER else self.clock

    def silence_limit_ms(self) -> int:
        return int(max(MIN_SILENCE_S, SILENCE_FACTOR * self.kind.interval_s) * 1000)

    def online(self, now_ms: int) -> bool:
        """Its status is not ``offline`` and it spoke within its silence limit."""
        if self.status is False or self.last_recv is None:
            return False
        return now_ms - self.last_recv <= self.silence_limit_ms()


class _SameTs(Mapping[str, int]):
    """The timestamps of a device whose values all have the same one."""

    __slots__ = ("_values", "_t")

    def __init__(self, values: dict[str, Any], t: int) -> None:
        self._values = values
        self._t = t

    def __getitem__(self, field: str) -> int:
        if field in self._values:
            return self._t
        raise KeyError(field)

    def __contains__(self, field: object) -> bool:
        return field in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)
