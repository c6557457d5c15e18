"""Shapes of the manager's figures (contract section 10): the scorecard, energy and the
energy an alarm wasted. Public models like those of ``api.schemas``: extra fields pass
through; times are RFC 3339 UTC strings."""

from __future__ import annotations

from typing import Literal

from api.schemas import Public, Time


class TrendPoint(Public):
    period: str
    value: float | None
    note: str | None = None


class FigureOut(Public):
    """One figure: ``value`` null with a ``note`` when its source data is not recorded;
    ``baseline`` and ``target`` null when the site file gives none."""

    id: str
    name: str
    definition: str
    unit: str
    baseline: float | None
    target: float | None
    value: float | None
    note: str | None = None
    better: Literal["higher", "lower"]
    dimension: str
    trend: list[TrendPoint]


class Scorecard(Public):
    period: str
    site: str
    language: str
    start: Time
    end: Time
    figures: list[FigureOut]


class EnergyItem(Public):
    key: str
    start: Time
    kwh: float


class Energy(Public):
    """kWh per group (``key``: zone, system or device) and step (``start``)."""

    items: list[EnergyItem]
    total: int


class AlarmWaste(Public):
    """The energy the alarm's device used while the alarm was active."""

    alarm_id: int
    rule: str
    device: str
    start: Time
    end: Time
    active: bool
    waste_rule: bool
    kwh: float | None
    covered_s: int
    note: str | None = None
