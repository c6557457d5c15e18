"""The device registry: the gateway's read-only view of every device it knows.

The rule engine owns device state (``rules.devices``: registration from the site file
and on a device's first valid message, latest values with the late-reading rule, last
heard, retained status); this view reads the very same objects for the API and health
figures, so the two can never disagree. ``online`` follows the device's retained
``status`` and, between status messages, silence: a device quiet for 3 × its usual
interval (at least 60 s) is shown offline.

Runs on the event loop only (like everything that touches state): the API's routes are
``async`` and read it between messages, never from another thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gateway.clock import Clock, iso_ms
from rules.devices import DeviceState


class Registry:
    def __init__(self, devices: Mapping[str, DeviceState], clock: Clock) -> None:
        self._devices = devices
        self.clock = clock

    @property
    def devices(self) -> Mapping[str, DeviceState]:
        return self._devices

    def get(self, device: str) -> DeviceState | None:
        return self._devices.get(device)

    def __iter__(self) -> Iterator[DeviceState]:
        return iter(list(self._devices.values()))

    def __len__(self) -> int:
        return len(self._devices)

    def zone_of(self, device: str) -> str | None:
        st = self._devices.get(device)
        return st.zone if st else None

    def counts(self, now_ms: int | None = None) -> dict[str, int]:
        now = self.clock.now_ms() if now_ms is None else now_ms
        online = sum(1 for d in self._devices.values() if d.online(now))
        return {"online": online, "offline": len(self._devices) - online}

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
            "last_seen": iso_ms(st.last_recv),
            "last_ts": iso_ms(st.last_ts),
            "values": dict(st.values),
            "value_ts": {k: iso_ms(v) for k, v in st.ts.items()},
            "messages": st.messages,
            "registered": "site_file" if st.in_site_file else "auto",
        }
