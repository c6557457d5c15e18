"""Scenarios: faults and incidents started and ended on the simulated devices.

:class:`Scenarios` is a base of :class:`simulators.engine.Simulation`. Lifecycle: the
panels' points are mapped to their detectors once, when the simulation is built
(:meth:`Scenarios._map_panels`); :meth:`Scenarios.inject` starts a scenario at the
simulated now (a device's model takes it over, or messages are queued to go out next),
and a lasting one runs until :meth:`Scenarios.clear` ends it (or, for the timed ones, its
model's own reset).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gateway.site import Device, Site
from simulators.wire import Value

from .access import Door
from .ahu import FAULTS as AHU_FAULTS
from .fire import Detector, FirePanel
from .fleet import SimDevice
from .hvac import HvacUnit
from .lighting import LightingCircuit
from .model import (
    DISABLEMENT_RESET_S,
    FAULT_RESET_S,
    FIRE_PANEL_CONFIRM_S,
    FIRE_RESET_S,
    PRE_ALARM_RESET_S,
    SUPERVISORY_RESET_S,
    DeviceModel,
)
from .schedule import Message, Schedule

if TYPE_CHECKING:
    import asyncio

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

_POINT_RE = re.compile(r"-([DH])(\d+)$")


@dataclass(slots=True)
class _PanelMap:
    points: dict[str, int] = field(default_factory=dict)  # point -> detector index


class Scenarios(Schedule):
    """Starting and ending scenarios on the devices of :class:`Schedule`."""

    site: Site
    _by_id: dict[str, SimDevice]
    _panels: dict[int, _PanelMap]
    _detector_panel: dict[int, tuple[int, str]]
    _wake: asyncio.Event | None

    # -- fire panels ----------------------------------------------------------------------
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
