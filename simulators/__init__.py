"""Simulated building devices publishing the contract's MQTT messages.

``Simulation`` (pure, clock-driven) in :mod:`simulators.engine`; publishing in
:mod:`simulators.runner`; ``sitewatch simulate`` in :mod:`simulators.cli`.
"""

from .engine import SCENARIOS, Simulation
from .runner import simulate

__all__ = ["SCENARIOS", "Simulation", "simulate"]
