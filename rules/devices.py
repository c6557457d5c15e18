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
"""

from __future__ import annotations

from typing import Any

from rules.model import Value

#: a device is shown offline after this many usual intervals of silence, at least MIN
SILENCE_FACTOR = 3
MIN_SILENCE_S = 60.0
DEFAULT_INTERVAL_S = 60.0
_NEVER = -(2**62)


class DeviceState:
    """One device: identity, latest value of every field (with its device timestamp),
    and when it was last heard from."""

    __slots__ = (
        "id",
        "site",
        "system",
        "zone",
        "type",
        "name",
        "interval_s",
        "in_site_file",
        "values",
        "ts",
        "clock",
        "last_recv",
        "status",
        "messages",
        "first_seen",
    )

    def __init__(
        self,
        did: str,
        site: str,
        system: str,
        zone: str | None,
        dtype: str | None = None,
        name: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        in_site_file: bool = False,
    ) -> None:
        self.id = did
        self.site = site
        self.system = system
        self.zone = zone
        self.type = dtype
        self.name = name or did
        self.interval_s = interval_s
        self.in_site_file = in_site_file
        self.values: dict[str, Any] = {}  # field -> latest value
        self.ts: dict[str, int] = {}  # field -> device time of that value
        self.clock = _NEVER  # newest device timestamp seen
        self.last_recv: int | None = None  # gateway time of the last valid message
        self.status: bool | None = None  # last retained status (True = online)
        self.messages = 0
        self.first_seen: int | None = None  # gateway time of the first message

    def heard(self, received_ms: int) -> None:
        """A valid message arrived at gateway time ``received_ms``."""
        self.messages += 1
        if self.first_seen is None:
            self.first_seen = received_ms
        if self.last_recv is None or received_ms > self.last_recv:
            self.last_recv = received_ms

    def update(self, values: dict[str, Value], ts: int) -> list[str] | None:
        """Take a reading's values at device time ``ts``; returns the late fields (older
        than the latest value of that field), or ``None`` when every field was fresh."""
        if ts >= self.clock:
            # no field has a value newer than the device's newest timestamp: all fresh
            self.values.update(values)
            self.ts.update(dict.fromkeys(values, ts))
            self.clock = ts
            return None
        vals, tss = self.values, self.ts
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

    def saw(self, ts: int) -> None:
        """A message stamped ``ts`` (device time) that carries no field values."""
        if ts > self.clock:
            self.clock = ts

    @property
    def last_ts(self) -> int | None:
        return None if self.clock == _NEVER else self.clock

    def silence_limit_ms(self) -> int:
        return int(max(MIN_SILENCE_S, SILENCE_FACTOR * self.interval_s) * 1000)

    def online(self, now_ms: int) -> bool:
        """Its status is not ``offline`` and it spoke within its silence limit."""
        if self.status is False or self.last_recv is None:
            return False
        return now_ms - self.last_recv <= self.silence_limit_ms()
