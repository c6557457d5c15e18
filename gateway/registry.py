"""The device registry: every device the gateway knows, its last values and liveness.

Devices come from the site file and are also registered on their first valid message
(auto-registration). ``online`` follows the device's retained ``status`` and, between
status messages, silence: a device quiet for 3 × its usual interval (at least 60 s) is
shown offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.clock import Clock, iso_ms
from gateway.model import Event, Status, Telemetry, Value
from gateway.site import Site

SILENCE_FACTOR = 3
MIN_SILENCE_S = 60.0
DEFAULT_INTERVAL_S = 60.0


@dataclass(slots=True)
class DeviceState:
    id: str
    system: str
    zone: str | None
    name: str
    type: str | None
    interval_s: float
    in_site_file: bool
    values: dict[str, Value] = field(default_factory=dict)
    value_ts: dict[str, int] = field(default_factory=dict)
    last_seen_ms: int | None = None  # gateway time of the last valid message
    last_ts_ms: int | None = None  # newest device timestamp seen
    status: bool | None = None  # last retained status (True = online)
    messages: int = 0
    first_seen_ms: int | None = None

    def silence_limit_ms(self) -> int:
        return int(max(MIN_SILENCE_S, SILENCE_FACTOR * self.interval_s) * 1000)

    def online(self, now_ms: int) -> bool:
        if self.status is False:
            return False
        if self.last_seen_ms is None:
            return False
        return now_ms - self.last_seen_ms <= self.silence_limit_ms()


class Registry:
    def __init__(self, site: Site, clock: Clock) -> None:
        self.site = site
        self.clock = clock
        self.devices: dict[str, DeviceState] = {}
        for d in site.devices:
            self.devices[d.id] = DeviceState(
                id=d.id,
                system=d.system,
                zone=d.zone,
                name=d.display_name,
                type=d.type,
                interval_s=d.interval_s,
                in_site_file=True,
            )

    def _get(self, system: str, device: str, now_ms: int) -> DeviceState:
        st = self.devices.get(device)
        if st is None:
            st = DeviceState(
                id=device,
                system=system,
                zone=None,
                name=device,
                type=None,
                interval_s=DEFAULT_INTERVAL_S,
                in_site_file=False,
            )
            self.devices[device] = st
        if st.first_seen_ms is None:
            st.first_seen_ms = now_ms
        return st

    def zone_of(self, device: str) -> str | None:
        st = self.devices.get(device)
        return st.zone if st else None

    def observe(self, msg: Telemetry | Event | Status) -> DeviceState:
        """Record a valid message; returns the device's state (registering it if new)."""
        st = self._get(msg.system, msg.device, msg.received_ms)
        st.last_seen_ms = msg.received_ms
        st.messages += 1
        if isinstance(msg, Status):
            st.status = msg.online
            return st
        if isinstance(msg, Telemetry):
            if msg.zone is None:
                msg.zone = st.zone
            vts = st.value_ts
            vals = st.values
            ts = msg.ts_ms
            for k, v in msg.values.items():
                if vts.get(k, -1) <= ts:  # a late reading never overwrites a newer value
                    vals[k] = v
                    vts[k] = ts
        elif msg.zone is None:
            # an event's zone: the zone of the device its point names (a detector behind a
            # panel), else the zone of the device that sent it (as the rule engine judges)
            pd = self.devices.get(msg.point) if msg.point else None
            msg.zone = pd.zone if pd is not None and pd.zone else st.zone
        if st.last_ts_ms is None or msg.ts_ms > st.last_ts_ms:
            st.last_ts_ms = msg.ts_ms
        if st.status is False:
            st.status = True  # a device that speaks is online again
        return st

    def counts(self, now_ms: int | None = None) -> dict[str, int]:
        now = self.clock.now_ms() if now_ms is None else now_ms
        online = sum(1 for d in self.devices.values() if d.online(now))
        return {"online": online, "offline": len(self.devices) - online}

    def public(self, st: DeviceState, now_ms: int | None = None) -> dict[str, Any]:
        now = self.clock.now_ms() if now_ms is None else now_ms
        return {
            "id": st.id,
            "device": st.id,
            "name": st.name,
            "system": st.system,
            "type": st.type,
            "zone": st.zone,
            "interval_s": st.interval_s,
            "online": st.online(now),
            "status": None if st.status is None else ("online" if st.status else "offline"),
            "last_seen": iso_ms(st.last_seen_ms),
            "last_ts": iso_ms(st.last_ts_ms),
            "values": dict(st.values),
            "value_ts": {k: iso_ms(v) for k, v in st.value_ts.items()},
            "messages": st.messages,
            "registered": "site_file" if st.in_site_file else "auto",
        }
