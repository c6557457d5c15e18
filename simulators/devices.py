"""Device models: the state and behaviour of one simulated device each, in one place.

The base (:class:`DeviceModel`, :class:`Emission`, how long scenarios last) is
:mod:`simulators.model`; the kinds are one module a system: :mod:`simulators.lighting`,
:mod:`simulators.hvac`, :mod:`simulators.access` and :mod:`simulators.fire`. This module
only gathers them, so ``from simulators.devices import HvacUnit`` keeps working.
"""

from __future__ import annotations

from .access import Door
from .fire import Detector, FirePanel
from .hvac import FCU_FILTER_DRIFT, HvacUnit
from .lighting import LightingCircuit
from .model import (
    AHU_FAULT_CODE,
    CLOGGED_DP,
    DISABLEMENT_RESET_S,
    DOOR_FORCED_CLOSE_S,
    DOOR_HELD_S,
    EVENT,
    FAULT_RESET_S,
    FCU_FAULT_CODE,
    FIRE_PANEL_CONFIRM_S,
    FIRE_RESET_S,
    FIRE_SMOKE_S,
    PRE_ALARM_RESET_S,
    SUPERVISORY_RESET_S,
    TELEMETRY,
    ZONE_OVERHEAT_S,
    Action,
    DeviceModel,
    Emission,
)

__all__ = [
    "AHU_FAULT_CODE",
    "CLOGGED_DP",
    "DISABLEMENT_RESET_S",
    "DOOR_FORCED_CLOSE_S",
    "DOOR_HELD_S",
    "EVENT",
    "FAULT_RESET_S",
    "FCU_FAULT_CODE",
    "FCU_FILTER_DRIFT",
    "FIRE_PANEL_CONFIRM_S",
    "FIRE_RESET_S",
    "FIRE_SMOKE_S",
    "PRE_ALARM_RESET_S",
    "SUPERVISORY_RESET_S",
    "TELEMETRY",
    "ZONE_OVERHEAT_S",
    "Action",
    "Detector",
    "DeviceModel",
    "Door",
    "Emission",
    "FirePanel",
    "HvacUnit",
    "LightingCircuit",
]
