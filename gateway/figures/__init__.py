"""The manager's figures: the scorecard (baseline, value, target and trend of each
figure), energy from the power the sensors report, and the monthly report.

Modules: ``periods`` (months and buckets in the site's time zone), ``energy`` (kWh by
the trapezoid rule, gaps not filled), ``sources`` (what the scorecard reads from the
state store), ``scorecard`` (the registry) and ``definitions`` (the figures, one small
function each), ``report_data`` / ``report`` / ``report_text`` (the monthly report),
``service`` (:class:`Figures`, what the HTTP API and the command line call).
"""

from __future__ import annotations

from gateway.figures.scorecard import REGISTRY, Figure, Value, figure
from gateway.figures.service import Figures

__all__ = ["REGISTRY", "Figure", "Figures", "Value", "figure"]
