"""The manager's scorecard: a registry of figures, each with its definition, unit,
baseline and target (the site file's ``scorecard:`` section), its value for a month and
its trend over the 12 months ending there.

Adding a figure is one small function in ``gateway.figures.definitions``::

    @figure("planned_pct", unit="%", better="higher", dimension="efficiency",
            name=("Planned work", "计划性工作占比"),
            definition=("preventive tickets / all tickets created", "预防性工单 / 全部工单"))
    def planned_pct(src: Period) -> Value:
        ...

A figure returns :class:`Value`: a number, or ``None`` with a note in English and
Chinese that says why (its source data is not recorded: no table or no rows in the
period); the scorecard gives the note, name and definition in the site's language. No figure ever
shows an invented number. A figure is synchronous over the :class:`Period` view of the
store, unless it is marked ``energy=True``: then it is awaited with the energy reader.

Lifecycle: :func:`scorecard` loads the state store once for the whole trend horizon
(``gateway.figures.sources``), then computes every figure for each of the 12 months.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine

from gateway.figures import sources
from gateway.figures.energy import EnergyReader
from gateway.figures.periods import (
    month_bounds,
    month_name,
    trailing_months,
)
from gateway.figures.sources import Sources
from gateway.sinks.base import SinkError
from gateway.tickets.model import Ticket
from rules.site import FigureGoal, Site

Lang = Literal["en", "zh"]
T = TypeVar("T")
#: notes of the energy figures (English, Chinese); the report uses them too
NO_STORE = ("no time-series store to read power from", "没有可读取功率的时序库")
NO_ANSWER = ("the time-series store did not answer", "时序库没有应答")
#: the seed's KPI table (section 7.3): evaluation dimensions and their weights
DIMENSIONS: dict[str, tuple[str, str, int]] = {
    "satisfaction": ("Customer satisfaction", "客户满意度", 30),
    "efficiency": ("Process efficiency", "流程执行效率", 25),
    "quality": ("Service quality", "服务质量", 20),
    "collaboration": ("Teamwork and communication", "团队协作与沟通", 15),
    "improvement": ("Initiative and improvement", "主动改进与创新", 10),
    "energy": ("Energy and resources", "能源与资源", 0),
}


@dataclass(frozen=True, slots=True)
class Value:
    """A figure's number, or ``None`` with a note saying why in English and Chinese."""

    value: float | None
    note: str | None = None
    note_zh: str | None = None

    @staticmethod
    def missing(note: str, zh: str) -> Value:
        return Value(None, note, zh)

    def note_in(self, lang: Lang) -> str | None:
        return self.note_zh if lang == "zh" and self.note_zh else self.note


@dataclass(frozen=True, slots=True)
class Period:
    """One month as the figures see it: ``[start, end)`` (epoch ms; the current month
    ends now) and the store's rows loaded for the whole horizon."""

    start: int
    end: int
    src: Sources

    def within(self, ms: int | None) -> bool:
        return ms is not None and self.start <= ms < self.end

    @property
    def tickets(self) -> list[Ticket]:
        return self.src.tickets

    @property
    def hours(self) -> float:
        return (self.end - self.start) / 3_600_000


SyncFn = Callable[[Period], Value]
EnergyFn = Callable[[Period, EnergyReader], Awaitable[Value]]


@dataclass(frozen=True, slots=True)
class Figure:
    id: str
    unit: str
    better: Literal["higher", "lower"]
    dimension: str
    name: tuple[str, str]
    definition: tuple[str, str]
    digits: int
    compute: SyncFn | None = None
    compute_energy: EnergyFn | None = None

    def text(self, lang: Lang) -> tuple[str, str]:
        i = 1 if lang == "zh" else 0
        return self.name[i], self.definition[i]


REGISTRY: dict[str, Figure] = {}


def figure(
    id: str,
    *,
    unit: str,
    better: Literal["higher", "lower"],
    dimension: str,
    name: tuple[str, str],
    definition: tuple[str, str],
    digits: int = 2,
    energy: bool = False,
) -> Callable[[Any], Any]:
    """Register the decorated function as figure ``id`` (see the module doc)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"figure {id}: unknown dimension {dimension!r}")

    def deco(fn: Any) -> Any:
        if id in REGISTRY:
            raise ValueError(f"figure {id!r} is registered twice")
        REGISTRY[id] = Figure(
            id,
            unit,
            better,
            dimension,
            name,
            definition,
            digits,
            compute=None if energy else fn,
            compute_energy=fn if energy else None,
        )
        return fn

    return deco


def goals(site: Site) -> dict[str, FigureGoal]:
    return dict(site.scorecard.figures) if site.scorecard is not None else {}


def language(site: Site) -> Lang:
    return site.scorecard.language if site.scorecard is not None else "en"


async def evaluate(fig: Figure, period: Period, energy: EnergyReader | None) -> Value:
    if fig.compute is not None:
        v = fig.compute(period)
    elif energy is None:
        v = Value.missing(NO_STORE[0], NO_STORE[1])
    else:
        assert fig.compute_energy is not None
        try:
            v = await fig.compute_energy(period, energy)
        except SinkError as exc:
            v = Value.missing(f"{NO_ANSWER[0]}: {exc}", f"{NO_ANSWER[1]}:{exc}")
    if v.value is not None:
        return Value(round(float(v.value), fig.digits), v.note, v.note_zh)
    return v


async def scorecard(
    site: Site,
    reader: Engine,
    energy: EnergyReader | None,
    year: int,
    month: int,
    now_ms: int,
    *,
    lang: Lang | None = None,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """``{"period", "site", "language", "figures": [...]}`` (contract section 10); each
    figure with ``id``, ``name``, ``definition``, ``unit``, ``baseline``, ``target``,
    ``value``, ``note``, ``better``, ``dimension`` and ``trend`` (12 months, oldest
    first, ``{"period", "value", "note"}``)."""
    tz = site.tz
    lang = lang or language(site)
    months = trailing_months(year, month)
    spans = [month_bounds(y, mo, tz) for y, mo in months]
    horizon_end = min(spans[-1][1], now_ms + 1)
    src = await asyncio.to_thread(sources.load, reader, spans[0][0], horizon_end)
    periods = [Period(s, min(e, horizon_end), src) for s, e in spans]
    site_goals = goals(site)
    figs = [REGISTRY[i] for i in (only or list(REGISTRY))]
    out = []
    for fig in figs:
        values = [await evaluate(fig, p, energy) for p in periods]
        goal = site_goals.get(fig.id)
        name, definition = fig.text(lang)
        out.append(
            {
                "id": fig.id,
                "name": name,
                "definition": definition,
                "unit": fig.unit,
                "better": fig.better,
                "dimension": fig.dimension,
                "baseline": goal.baseline if goal else None,
                "target": goal.target if goal else None,
                "value": values[-1].value,
                "note": values[-1].note_in(lang),
                "trend": [
                    {"period": month_name(y, mo), "value": v.value, "note": v.note_in(lang)}
                    for (y, mo), v in zip(months, values, strict=True)
                ],
            }
        )
    return {
        "period": month_name(year, month),
        "site": site.site,
        "language": lang,
        "start": spans[-1][0],
        "end": periods[-1].end,
        "figures": out,
    }


def pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def share(items: Sequence[T], hit: Callable[[T], bool], none: tuple[str, str]) -> Value:
    """The percentage of ``items`` for which ``hit`` holds; missing with the note
    ``none`` (English, Chinese) when there are no items."""
    if not items:
        return Value.missing(*none)
    return Value(pct(sum(1 for x in items if hit(x)), len(items)))
