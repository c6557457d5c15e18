"""The simulated fleet: one :class:`SimDevice` a device, and the site grown to a count.

Lifecycle: :func:`expand_devices` turns the site file's devices into as many as asked
(cut, or copied with suffixed ids); the engine then makes one :class:`SimDevice` for each
and keeps it for the whole simulation (``silent`` and ``sched`` change as it runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.site import Device, Site

from .model import DeviceModel

MAX_DEVICES = 100_000


@dataclass(slots=True, eq=False)
class SimDevice:
    """One simulated device: its identity, topics and model."""

    index: int
    id: str
    system: str
    type: str
    zone: str
    interval_s: float
    copy: int  # 0 = the site file's device, n = the n-th generated copy
    model: DeviceModel
    prefix: str  # sitewatch/<site>/<system>/<device>/
    flat: bool = False
    silent: bool = False
    sched: float = math.inf

    @property
    def status_topic(self) -> str:
        return self.prefix + "status"


def expand_devices(site: Site, count: int | None) -> list[tuple[Device, str, int]]:
    """The site's devices, cut to ``count`` or grown to it by copies with suffixed ids.

    Returns ``(template, id, copy)``; copy ``n`` of ``lt-lobby-01`` is ``lt-lobby-01-xn``.
    """
    base = list(site.devices)
    if not base:
        raise ValueError(f"site {site.site} has no devices to simulate")
    n = len(base) if count is None else count
    if not 1 <= n <= MAX_DEVICES:
        raise ValueError(f"devices must be between 1 and {MAX_DEVICES}, not {n}")
    out: list[tuple[Device, str, int]] = []
    seen: set[str] = set()
    for k in range(n):
        tpl = base[k % len(base)]
        copy = k // len(base)
        did = tpl.id
        if copy:
            suffix = f"-x{copy}"
            did = tpl.id[: 64 - len(suffix)] + suffix
            while did in seen:
                suffix += "x"
                did = tpl.id[: 64 - len(suffix)] + suffix
        seen.add(did)
        out.append((tpl, did, copy))
    return out
