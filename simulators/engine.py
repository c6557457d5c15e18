"""The simulated building: every device of a site, scheduled on one simulated clock.

:class:`Simulation` is pure: :meth:`Simulation.generate` turns simulated time into MQTT
messages ``(topic, payload, qos, retain)`` with no broker and no real time involved, so
tests can replay days in milliseconds. :meth:`Simulation.run` (see
:mod:`simulators.runner`) drives the same generator from a clock and publishes.

The simulation is a class stack: :class:`simulators.schedule.Schedule` (the devices'
timetable and the generator) -> :class:`simulators.scenarios.Scenarios` (starting and
ending scenarios) -> :class:`Simulation` (building the devices from the site file, and
:meth:`Simulation.run`). The device models are :mod:`simulators.devices`; the fleet's
records :mod:`simulators.fleet`.
"""

from __future__ import annotations

import os
import random
import zlib
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock, SystemClock
from gateway.site import Device, Site

from .access import Door
from .ahu import AhuPlant
from .environment import Environment, zone_kind
from .fire import Detector, FirePanel
from .fleet import MAX_DEVICES, SimDevice, expand_devices
from .hvac import HvacUnit
from .lighting import LightingCircuit
from .model import DeviceModel
from .scenarios import AHU_SCENARIOS, SCENARIOS, Scenarios, _PanelMap
from .schedule import Message, _Routed

if TYPE_CHECKING:
    import asyncio

    from .runner import ClientFactory

PAYLOAD_FORMS = ("values", "flat", "mixed")

__all__ = [
    "AHU_SCENARIOS",
    "MAX_DEVICES",
    "PAYLOAD_FORMS",
    "SCENARIOS",
    "Message",
    "SimDevice",
    "Simulation",
    "expand_devices",
]


class Simulation(Scenarios):
    """A simulated site: about 60 devices from the site file, or up to 100,000.

    ``rate`` (messages per second in total) rescales every device's reporting interval
    so the heartbeats add up to that rate (doors' on-change messages come on top);
    ``None`` keeps the site file's intervals. ``start`` is the simulated epoch time of
    the first messages (default: now); ``speed`` > 1 replays simulated time faster than
    real time in :meth:`run` (never past the present). ``payload`` picks the telemetry
    form: ``values`` (``{"ts", "values": {...}}``), ``flat`` or ``mixed``.
    """

    def __init__(
        self,
        site: Site,
        *,
        devices: int | None = None,
        rate: float | None = None,
        clock: Clock | None = None,
        seed: int = 0,
        start: float | None = None,
        speed: float = 1.0,
        payload: str = "values",
        ahu_points: bool | None = None,
    ) -> None:
        if ahu_points is None:  # the air-handler points go with the fault-detection pack
            ahu_points = "fdd" in os.environ.get("SITEWATCH_RULE_PACKS", "")
        self.ahu_points = ahu_points
        if rate is not None and not rate > 0:
            raise ValueError(f"rate must be a positive number of messages per second, not {rate}")
        if not speed > 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if payload not in PAYLOAD_FORMS:
            raise ValueError(f"payload must be one of {', '.join(PAYLOAD_FORMS)}")
        self.site = site
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        self.speed = speed
        self.start = self.clock.now() if start is None else float(start)
        self.env = Environment(site.timezone, seed)
        self.rng = random.Random(seed)
        self.published = 0  # messages the broker acknowledged (run)
        self.dropped = 0  # messages dropped while the broker was away (run)
        self._now = self.start
        self._started = False
        self._pending: list[_Routed] = []
        self._heap: list[tuple[float, int, int]] = []
        self._seq = 0
        self._wake: asyncio.Event | None = None

        expanded = expand_devices(site, devices)
        natural = sum(1.0 / tpl.interval_s for tpl, _, _ in expanded)
        self.natural_rate = natural
        self.scale = natural / rate if rate else 1.0
        self.rate = natural / self.scale
        spread_cap = max(1.0, len(expanded) / self.rate)
        self.devices: list[SimDevice] = []
        self._by_id: dict[str, SimDevice] = {}
        self._panels: dict[int, _PanelMap] = {}
        self._detector_panel: dict[int, tuple[int, str]] = {}
        for i, (tpl, did, copy) in enumerate(expanded):
            period = tpl.interval_s * self.scale
            first = self.start + self.rng.uniform(0.0, min(period, spread_cap))
            model = self._model(tpl, did, period, first)
            flat = payload == "flat" or (payload == "mixed" and zlib.crc32(did.encode()) % 2 == 1)
            d = SimDevice(
                i,
                did,
                tpl.system,
                tpl.type,
                tpl.zone,
                tpl.interval_s,
                copy,
                model,
                f"sitewatch/{site.site}/{tpl.system}/{did}/",
                flat,
            )
            self.devices.append(d)
            self._by_id[did] = d
        self._map_panels(expanded)
        for d in self.devices:
            d.model.start(self.start, self.env)
            self._reschedule(d)

    # -- construction -------------------------------------------------------------------
    def _model(self, tpl: Device, did: str, period: float, first: float) -> DeviceModel:
        kind = zone_kind(tpl.zone)
        common: dict[str, Any] = {
            "id": did,
            "zone": tpl.zone,
            "kind": kind,
            "period": period,
            "next_beat": first,
            "rng": self.rng,
            "last_t": self.start,
        }
        t = tpl.type
        if t == "lighting_circuit" or (tpl.system == "lighting" and t != "lighting_circuit"):
            return LightingCircuit(**common)
        if tpl.system == "hvac":
            unit = HvacUnit(**common, is_ahu=(t == "ahu"))
            if self.ahu_points:
                unit.plant = AhuPlant(self.rng) if t == "ahu" else None
                unit.water = t != "ahu"
            return unit
        if tpl.system == "access":
            low = did.lower()
            free = "main" in low or "entrance" in low
            traffic = 0.4 if "plant" in low else 0.1 if "fire" in low else 3.0
            return Door(**common, free_access=free, traffic_per_h=traffic)
        if t == "fire_panel" or tpl.points:
            return FirePanel(**common, points=tuple(tpl.points))
        return Detector(**common, smoke_sensor=(t != "heat_detector"))

    # -- publishing ---------------------------------------------------------------------
    async def run(self, target: str | ClientFactory, stop: asyncio.Event) -> int:
        """Publish until ``stop`` is set; returns the messages published.

        ``target`` is an ``mqtt://[user:pass@]host:port`` URL (or ``mqtts://``) or a
        client factory (see :data:`simulators.runner.ClientFactory`).
        """
        from .runner import run_simulation

        return await run_simulation(self, target, stop)
