"""The simulated building: every device of a site, scheduled on one simulated clock.

:class:`Simulation` is pure: :meth:`Simulation.generate` turns simulated time into MQTT
messages ``(topic, payload, qos, retain)`` with no broker and no real time involved, so
tests can replay days in milliseconds. :meth:`Simulation.run` (see
:mod:`simulators.runner`) drives the same generator from a clock and publishes.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock, SystemClock
from gateway.site import Device, Site
from simulators.wire import Value

from .ahu import FAULTS as AHU_FAULTS
from .ahu import AhuPlant
from .devices import (
    DISABLEMENT_RESET_S,
    EVENT,
    FAULT_RESET_S,
    FIRE_PANEL_CONFIRM_S,
    FIRE_RESET_S,
    PRE_ALARM_RESET_S,
    SUPERVISORY_RESET_S,
    Detector,
    DeviceModel,
    Door,
    Emission,
    FirePanel,
    HvacUnit,
    LightingCircuit,
)
from .environment import Environment, zone_kind

if TYPE_CHECKING:
    import asyncio

    from .runner import ClientFactory

MAX_DEVICES = 100_000
PAYLOAD_FORMS = ("values", "flat", "mixed")

SCENARIOS: list[str] = [
    # the scenarios of the brief
    "filter_clog",  # filter_dp drifts above 250 Pa and stays (until cleared)
    "ahu_fault",  # fault_code != 0, fan stops (until cleared)
    "lamp_failure",  # lamp_fault true, power drops (until cleared)
    "door_forced",  # event door_forced + door_open true, closes after 30 s
    "door_held",  # door_open true for 120 s while secure
    "fire_alarm",  # detector smoke high, panel fire_alarm at its point, reset after 10 min
    "device_silent",  # the device stops publishing, retained offline (until cleared)
    "malformed",  # one of each contract violation, once
    "zone_overheat",  # zone_temp > setpoint + 3 (fan on) for 10 minutes
    # more of the same kinds, for demos of the other rules
    "pre_alarm",  # detector smoke elevated, panel pre_alarm, reset after 3 min
    "fire_fault",  # panel fault at a point, reset after 15 min
    "supervisory",  # panel supervisory (sprinkler valve), reset after 10 min
    "disablement",  # panel disablement of a detector, reset after 30 min
    "door_tamper",  # event tamper
    "lights_left_on",  # a circuit on with nobody there (until cleared)
]

# AHU-1 faults of the physical model (simulators.ahu), when its points are on
AHU_SCENARIOS: list[str] = [f"ahu_{f}" for f in AHU_FAULTS]

Message = tuple[str, bytes, int, bool]
_Routed = tuple[int, str, bytes, int, bool]
_POINT_RE = re.compile(r"-([DH])(\d+)$")


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


@dataclass(slots=True)
class _PanelMap:
    points: dict[str, int] = field(default_factory=dict)  # point -> detector index


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


class Simulation:
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

    def _map_panels(self, expanded: list[tuple[Device, str, int]]) -> None:
        """A panel's ``L1-Dnn``/``L1-Hnn`` points -> the nn-th smoke/heat detector of its copy."""
        by_copy: dict[int, dict[str, list[int]]] = {}
        for d in self.devices:
            if isinstance(d.model, Detector):
                key = "D" if d.model.smoke_sensor else "H"
                by_copy.setdefault(d.copy, {"D": [], "H": []})[key].append(d.index)
        for d in self.devices:
            if not isinstance(d.model, FirePanel):
                continue
            pm = self._panels[d.index] = _PanelMap()
            family = by_copy.get(d.copy, {"D": [], "H": []})
            for point in d.model.points:
                m = _POINT_RE.search(point)
                if not m:
                    continue
                members = family[m.group(1)]
                nn = int(m.group(2)) - 1
                if 0 <= nn < len(members):
                    pm.points[point] = members[nn]
                    self._detector_panel.setdefault(members[nn], (d.index, point))

    # -- scheduling ---------------------------------------------------------------------
    def _reschedule(self, d: SimDevice) -> None:
        t = d.model.next_time()
        if t == d.sched:
            return
        d.sched = t
        if not d.silent and t != math.inf:
            self._seq += 1
            heapq.heappush(self._heap, (t, self._seq, d.index))

    def next_due(self) -> float:
        """Simulated time of the next message (``inf`` if none is scheduled)."""
        if self._pending or not self._started:
            return self._now
        heap = self._heap
        while heap:
            t, _, idx = heap[0]
            d = self.devices[idx]
            if d.silent or t != d.sched:
                heapq.heappop(heap)
                continue
            return t
        return math.inf

    @property
    def now(self) -> float:
        """The simulated time up to which messages have been generated."""
        return self._now

    # -- the generator ------------------------------------------------------------------
    def generate(self, until: float) -> Iterator[Message]:
        """Every message due up to simulated time ``until`` (epoch s), in time order.

        The first call starts with each device's retained ``online`` status. Consume the
        iterator fully: the simulation's state moves forward as it goes.
        """
        for _, topic, payload, qos, retain in self._generate(until):
            yield topic, payload, qos, retain

    def _generate(self, until: float) -> Iterator[_Routed]:
        if not self._started:
            self._started = True
            for d in self.devices:
                yield d.index, d.status_topic, b"online", 1, True
        yield from self._flush()
        heap = self._heap
        env = self.env
        out: list[Emission] = []
        while heap and heap[0][0] <= until:
            t, _, idx = heapq.heappop(heap)
            d = self.devices[idx]
            if d.silent or t != d.sched:
                continue
            if t > self._now:
                self._now = t
            d.sched = math.inf
            out.clear()
            d.model.advance(t, env, out)
            for e in out:
                yield idx, *self._encode(d, e)
            self._reschedule(d)
            if self._pending:
                yield from self._flush()
        if until > self._now:
            self._now = until

    def _flush(self) -> Iterator[_Routed]:
        while self._pending:
            batch, self._pending = self._pending, []
            yield from batch

    def _encode(self, d: SimDevice, e: Emission) -> tuple[str, bytes, int, bool]:
        ts = int(e.t * 1000)
        obj: dict[str, Any]
        if e.kind == EVENT:
            obj = {"ts": ts, **e.body}
            kind = "event"
        elif d.flat:
            obj = {**e.body, "ts": ts}
            kind = "telemetry"
        else:
            obj = {"ts": ts, "values": e.body}
            kind = "telemetry"
        return d.prefix + kind, json.dumps(obj, separators=(",", ":")).encode(), 1, False

    def shutdown_messages(self) -> list[Message]:
        """Retained ``offline`` for every device still talking (a clean stop)."""
        return [(d.status_topic, b"offline", 1, True) for d in self.devices if not d.silent]

    # -- scenarios ------------------------------------------------------------------------
    def device(self, device_id: str) -> SimDevice:
        d = self._by_id.get(device_id)
        if d is None:
            raise ValueError(f"no simulated device {device_id!r}")
        return d

    def _first(self, *types: str, pred: Any = None) -> SimDevice:
        for d in self.devices:
            if d.type in types and (pred is None or pred(d)):
                return d
        for d in self.devices:
            if d.type in types:
                return d
        raise ValueError(f"no device of type {' or '.join(types)} to run the scenario on")

    def inject(self, scenario: str, device: str | None = None) -> str:
        """Start ``scenario`` now (at :attr:`now`) on ``device`` or a sensible default.

        Returns the id of the device the scenario runs on. Raises :class:`ValueError`
        for an unknown scenario, an unknown device or a device of the wrong kind.
        """
        if scenario not in SCENARIOS and scenario not in AHU_SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; scenarios: {', '.join(SCENARIOS)}")
        t = self._now
        target = self.device(device) if device is not None else None
        if scenario in AHU_SCENARIOS:
            d = target or self._first("ahu")
            self._need(d, scenario, HvacUnit)
            if d.model.plant is None:  # type: ignore[attr-defined]
                raise ValueError(f"scenario {scenario} needs the AHU points (ahu_points=True)")
            d.model.apply(scenario, t, self.env)
        elif scenario in ("filter_clog", "ahu_fault", "zone_overheat"):
            d = target or (
                self._first("fcu") if scenario == "zone_overheat" else self._first("ahu", "fcu")
            )
            self._need(d, scenario, HvacUnit)
            d.model.apply(scenario, t, self.env)
        elif scenario in ("lamp_failure", "lights_left_on"):
            d = target or self._first("lighting_circuit", pred=lambda x: "office" in x.zone)
            self._need(d, scenario, LightingCircuit)
            d.model.apply(scenario, t, self.env)
        elif scenario in ("door_forced", "door_held", "door_tamper"):
            d = target or self._first(
                "door", pred=lambda x: isinstance(x.model, Door) and not x.model.free_access
            )
            self._need(d, scenario, Door)
            d.model.apply(scenario, t, self.env)
        elif scenario in ("fire_alarm", "pre_alarm", "fire_fault", "supervisory", "disablement"):
            d = self._fire(scenario, target, t)
        elif scenario == "device_silent":
            d = target or self._first("lighting_circuit")
            if not d.silent:
                d.silent = True
                self._pending.append((d.index, d.status_topic, b"offline", 1, True))
        else:  # malformed
            d = target or self.devices[0]
            self._pending.extend((d.index, *m) for m in self.malformed_messages(d, t))
        self._reschedule(d)
        if self._wake is not None:
            self._wake.set()
        return d.id

    def clear(self, scenario: str | None = None, device: str | None = None) -> int:
        """End lasting scenarios (all, or one by name, on all devices or one).

        Returns how many were ended. A silent device comes back ``online``.
        """
        if scenario is not None and scenario not in SCENARIOS and scenario not in AHU_SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        names = [scenario] if scenario else SCENARIOS + AHU_SCENARIOS
        targets = [self.device(device)] if device else self.devices
        t = self._now
        ended = 0
        for d in targets:
            for name in names:
                if name == "device_silent":
                    if d.silent:
                        d.silent = False
                        d.model.actions.clear()
                        d.model.next_beat = t
                        if isinstance(d.model, Door):
                            d.model.start(t, self.env)
                        d.sched = math.inf
                        self._pending.append((d.index, d.status_topic, b"online", 1, True))
                        ended += 1
                elif d.model.clear(name, t):
                    ended += 1
            self._reschedule(d)
        if ended and self._wake is not None:
            self._wake.set()
        return ended

    @staticmethod
    def _need(d: SimDevice, scenario: str, cls: type[DeviceModel]) -> None:
        if not isinstance(d.model, cls):
            raise ValueError(f"scenario {scenario} cannot run on {d.id} (a {d.type})")

    def _fire(self, scenario: str, target: SimDevice | None, t: float) -> SimDevice:
        """Fire scenarios: the detector (if any) and its panel act together."""
        panel: SimDevice | None = None
        detector: SimDevice | None = None
        point: str | None = None
        if target is not None and isinstance(target.model, Detector):
            detector = target
            link = self._detector_panel.get(target.index)
            if link is not None:
                panel, point = self.devices[link[0]], link[1]
        elif target is not None and isinstance(target.model, FirePanel):
            panel = target
        elif target is not None:
            raise ValueError(f"scenario {scenario} cannot run on {target.id} (a {target.type})")
        else:
            panel = self._first("fire_panel", pred=lambda x: isinstance(x.model, FirePanel))
        if panel is not None and not isinstance(panel.model, FirePanel):
            raise ValueError(f"scenario {scenario} needs a fire panel")
        if panel is not None and point is None and isinstance(panel.model, FirePanel):
            point = self._panel_point(panel, panel.model, scenario)
            if point is not None and scenario in ("fire_alarm", "pre_alarm"):
                idx = self._panels[panel.index].points.get(point)
                detector = self.devices[idx] if idx is not None else None
        if detector is not None and scenario in ("fire_alarm", "pre_alarm"):
            detector.model.apply(scenario, t, self.env)
            self._reschedule(detector)
        if panel is not None and isinstance(panel.model, FirePanel):
            etype = "fault" if scenario == "fire_fault" else scenario
            hold = {
                "fire_alarm": FIRE_RESET_S,
                "pre_alarm": PRE_ALARM_RESET_S,
                "fire_fault": FAULT_RESET_S,
                "supervisory": SUPERVISORY_RESET_S,
                "disablement": DISABLEMENT_RESET_S,
            }[scenario]
            zone = detector.zone if detector is not None else panel.zone
            delay = FIRE_PANEL_CONFIRM_S if scenario == "fire_alarm" else 0.0
            panel.model.raise_event(t + delay, etype, point, zone, hold)
            self._reschedule(panel)
            return panel
        assert detector is not None
        return detector

    def _panel_point(self, panel: SimDevice, model: FirePanel, scenario: str) -> str | None:
        mapped = self._panels.get(panel.index, _PanelMap()).points
        detectors = [p for p in model.points if p in mapped]
        others = [p for p in model.points if p not in mapped]
        if scenario in ("fire_alarm", "pre_alarm", "fire_fault"):
            pool = detectors or list(model.points)
            if scenario == "fire_fault" and len(pool) > 6:
                return pool[6]
            return pool[0] if pool else None
        if scenario == "supervisory":
            sv = [p for p in others if "SV" in p or "FS" in p]
            pool = sv or others or list(model.points)
            return pool[0] if pool else None
        pool = detectors or list(model.points)  # disablement: the last detector
        return pool[-1] if pool else None

    def malformed_messages(self, d: SimDevice, t: float) -> list[Message]:
        """One message per way of breaking the contract (none retained)."""
        site = self.site.site
        ts = int(t * 1000)
        good_values: dict[str, Value] = {"zone_temp": 22.5}
        base = d.prefix

        def j(obj: Any) -> bytes:
            return json.dumps(obj).encode()

        return [
            (base + "telemetry", b'{"ts": ' + str(ts).encode() + b', "values": {"x": 1', 1, False),
            (base + "telemetry", b"", 1, False),
            (base + "telemetry", b"\xff\xfe\x00garbage", 1, False),
            (base + "telemetry", j([ts, {"zone_temp": 22.5}]), 1, False),
            (base + "telemetry", j({"ts": "yesterday at noon", "values": good_values}), 1, False),
            (base + "telemetry", j({"ts": {"ms": ts}, "values": good_values}), 1, False),
            (base + "telemetry", j({"ts": ts + 3_600_000, "values": good_values}), 1, False),
            (base + "telemetry", j({"ts": ts, "values": [1, 2, 3]}), 1, False),
            (base + "telemetry", j({"ts": ts, "values": {"zone_temp": {"c": 22.5}}}), 1, False),
            (base + "telemetry", j({"ts": ts, "values": {"zone_temp": [22.5]}}), 1, False),
            (base + "event", j({"ts": ts, "point": "L1-D01"}), 1, False),
            (base + "status", b"maybe", 1, False),
            (
                f"sitewatch/{site}/elevator/{d.id}/telemetry",
                j({"ts": ts, "values": good_values}),
                1,
                False,
            ),
            (
                f"sitewatch/{site}/{d.system}/bad!device/telemetry",
                j({"ts": ts, "values": good_values}),
                1,
                False,
            ),
            (
                f"sitewatch/{site}/{d.system}/{'d' * 65}/telemetry",
                j({"ts": ts, "values": good_values}),
                1,
                False,
            ),
            (base + "config", j({"ts": ts, "values": good_values}), 1, False),
            (f"sitewatch/{site}/{d.system}/{d.id}", j({"ts": ts, "values": good_values}), 1, False),
        ]

    # -- publishing ---------------------------------------------------------------------
    async def run(self, target: str | ClientFactory, stop: asyncio.Event) -> int:
        """Publish until ``stop`` is set; returns the messages published.

        ``target`` is an ``mqtt://[user:pass@]host:port`` URL (or ``mqtts://``) or a
        client factory (see :data:`simulators.runner.ClientFactory`).
        """
        from .runner import run_simulation

        return await run_simulation(self, target, stop)
