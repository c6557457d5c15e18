"""The scorecard's figures, one small function each (registered on import).

Every figure reads one month (:class:`~gateway.figures.scorecard.Period`) and returns a
number or ``None`` with a note (English and Chinese); a share of items is
:func:`~gateway.figures.scorecard.share`. Definitions (the text each figure carries):

* ``over_standard_time_pct``: of the people's requests (tickets from ``person`` or
  ``portal``) resolved in the month, the share resolved after their resolve-by time (the
  category's standard time); the seed's 35%.
* ``satisfaction_overall`` / ``_speed`` / ``_thoroughness``: mean survey score (1-10) of
  the tickets closed in the month; overall falls back to the follow-up call's score
  (``satisfaction``) where a ticket has no survey. The seed's 7.2, 6.5, 6.8.
* ``inspection_fail_pct``: failed checkpoints / inspected checkpoints; the seed's 25%.
* ``composite_job_days``: jobs whose tickets went to two crews or more (linked by the
  same alarm or as a first ticket and its follow-ups), from the first opened to the
  last closed, in days; a job counts in the month its last ticket closed. The seed's 1.5.
* ``first_time_fix_pct``: tickets resolved in the month never reopened and not repeated
  within 30 days of closing / tickets resolved.
* ``planned_pct``: preventive tickets (from a plan) / all tickets created in the month
  (cancelled ones left out).
* ``sla_<clock>_pct``: per clock (assign, respond, resolve, callback), of the tickets
  created in the month whose clock is decided (met or breached), the share met.
* ``alarms_per_operator_hour``: alarms raised in the month / the month's hours (one
  operator position); EEMUA 191 calls 6 an hour manageable.
* ``lighting_kwh``: lighting energy in the month (``gateway.figures.energy``); the seed
  asks for 20% less.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gateway.figures.energy import EnergyReader
from gateway.figures.scorecard import Period, Value, figure, share
from gateway.figures.sources import (
    PREVENTIVE,
    REPEAT_WINDOW_MS,
    REQUEST_SOURCES,
)
from gateway.tickets.model import Ticket
from rules.vocab import System, TicketStatus

DONE = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
DAY_MS = 86_400_000


@figure(
    "over_standard_time_pct",
    unit="%",
    better="lower",
    dimension="efficiency",
    name=("Requests over standard time", "超出标准时间的服务请求"),
    definition=(
        "people's requests resolved after their standard time / requests resolved",
        "超出标准处理时间才解决的服务请求 / 已解决的服务请求",
    ),
)
def over_standard_time_pct(p: Period) -> Value:
    done = [
        t
        for t in p.tickets
        if t.source in REQUEST_SOURCES and t.status in DONE and p.within(t.resolved_at_ms)
    ]
    return share(
        done,
        lambda t: (t.resolved_at_ms or 0) > t.resolve_by_ms,
        ("no requests from people resolved in the period", "本期没有已解决的服务请求"),
    )


def _scores(p: Period, dimension: str, fallback: bool) -> list[int]:
    surveys = p.src.surveys or {}
    out: list[int] = []
    for t in p.tickets:
        if t.status != TicketStatus.CLOSED or not p.within(t.closed_at_ms):
            continue
        score = surveys.get(t.tid, {}).get(dimension)
        if score is None and fallback:
            score = t.satisfaction
        if isinstance(score, int | float) and not isinstance(score, bool):
            out.append(int(score))
    return out


def _satisfaction(dimension: str, zh: str, fallback: bool) -> Callable[[Period], Value]:
    def compute(p: Period) -> Value:
        if p.src.surveys is None and not fallback:
            return Value.missing(
                "no surveys are recorded (the request survey is not installed)",
                "尚无问卷数据(服务请求问卷功能未启用)",
            )
        scores = _scores(p, dimension, fallback)
        if not scores:
            return Value.missing(
                f"no {dimension} scores recorded in the period", f"本期没有{zh}评分"
            )
        return Value(sum(scores) / len(scores))

    return compute


for _dim, _zh, _fallback in (
    ("overall", "整体满意度", True),
    ("speed", "响应速度满意度", False),
    ("thoroughness", "问题解决彻底性满意度", False),
):
    figure(
        f"satisfaction_{_dim}",
        unit="/10",
        better="higher",
        dimension="satisfaction",
        name=(f"Satisfaction: {_dim}", _zh),
        definition=(
            f"mean {_dim} score (1-10) of the surveys of tickets closed in the period"
            + (" (the follow-up call's score where there is no survey)" if _fallback else ""),
            f"当期关闭工单的回访/问卷{_zh}平均分(1-10)",
        ),
    )(_satisfaction(_dim, _zh, _fallback))


@figure(
    "inspection_fail_pct",
    unit="%",
    better="lower",
    dimension="quality",
    name=("Inspections failed", "巡检不合格率"),
    definition=(
        "failed checkpoints / inspected checkpoints",
        "不合格检查点 / 已检查的检查点",
    ),
)
def inspection_fail_pct(p: Period) -> Value:
    rows = p.src.inspections
    if rows is None:
        return Value.missing(
            "no inspection results are recorded (rounds are not installed)",
            "尚无巡检结果(巡检功能未启用)",
        )
    done = [failed for at, failed in rows if p.within(at)]
    return share(done, bool, ("no inspections recorded in the period", "本期没有巡检记录"))


def composite_jobs(tickets: list[Ticket]) -> list[list[Ticket]]:
    """Tickets joined by a shared alarm or a parent link, groups of two crews or more."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    by_alarm: dict[int, int] = {}
    ids = {t.tid for t in tickets}
    for t in tickets:
        parent.setdefault(t.tid, t.tid)
        links = []
        if t.alarm_id is not None:
            links.append(by_alarm.setdefault(t.alarm_id, t.tid))
        if t.parent_id is not None and t.parent_id in ids:
            links.append(t.parent_id)
        for other in links:
            parent[root(t.tid)] = root(other)
    groups: dict[int, list[Ticket]] = {}
    for t in tickets:
        groups.setdefault(root(t.tid), []).append(t)
    jobs = []
    for group in groups.values():
        live = [t for t in group if t.status != TicketStatus.CANCELLED]
        if len({t.crew for t in live}) >= 2:
            jobs.append(live)
    return jobs


@figure(
    "composite_job_days",
    unit="d",
    better="lower",
    dimension="efficiency",
    digits=3,
    name=("Composite job duration", "综合性服务请求完成时间"),
    definition=(
        "jobs of two crews or more: first ticket opened to last closed, mean days",
        "涉及两个及以上班组的工作:首张工单创建至最后一张关闭的平均天数",
    ),
)
def composite_job_days(p: Period) -> Value:
    days = []
    for job in composite_jobs(p.tickets):
        if any(t.closed_at_ms is None for t in job):
            continue
        last = max(t.closed_at_ms or 0 for t in job)
        if p.within(last):
            days.append((last - min(t.created_at_ms for t in job)) / DAY_MS)
    if not days:
        return Value.missing(
            "no job of several crews finished in the period", "本期没有完成的跨班组综合性工作"
        )
    return Value(math.fsum(days) / len(days))


@figure(
    "first_time_fix_pct",
    unit="%",
    better="higher",
    dimension="efficiency",
    name=("First-time fix", "首次解决率"),
    definition=(
        "tickets resolved, never reopened and not repeated within 30 days / tickets resolved",
        "已解决且未重开、30天内未重复报修的工单 / 已解决工单",
    ),
)
def first_time_fix_pct(p: Period) -> Value:
    done = [t for t in p.tickets if t.status in DONE and p.within(t.resolved_at_ms)]

    def fixed(t: Ticket) -> bool:
        closed = t.closed_at_ms or t.resolved_at_ms or 0
        again = p.src.repeats.get(t.tid, [])
        return t.reopened == 0 and not any(at <= closed + REPEAT_WINDOW_MS for at in again)

    return share(done, fixed, ("no tickets resolved in the period", "本期没有已解决的工单"))


@figure(
    "planned_pct",
    unit="%",
    better="higher",
    dimension="efficiency",
    name=("Planned work", "计划性(预防性)工作占比"),
    definition=(
        "preventive tickets / tickets created in the period (cancelled left out)",
        "预防性维护工单 / 当期创建的工单(不含取消)",
    ),
)
def planned_pct(p: Period) -> Value:
    if not p.src.plans:
        return Value.missing("no maintenance plans are recorded", "尚无维护计划")
    made = [
        t for t in p.tickets if p.within(t.created_at_ms) and t.status != TicketStatus.CANCELLED
    ]
    return share(
        made,
        lambda t: t.plan_id is not None or t.category == PREVENTIVE,
        ("no tickets created in the period", "本期没有创建工单"),
    )


SLA_CLOCKS: dict[str, tuple[str, Callable[[Ticket], int | None]]] = {
    "assign": ("assigned", lambda t: t.assigned_at_ms),
    "respond": ("in progress", lambda t: t.started_at_ms),
    "resolve": ("resolved", lambda t: t.resolved_at_ms),
    "callback": (
        "followed up",
        lambda t: t.closed_at_ms if t.source in REQUEST_SOURCES else None,
    ),
}
_SLA_ZH = {"assign": "派单", "respond": "响应", "resolve": "解决", "callback": "回访"}


def _sla(clock: str) -> Callable[[Period], Value]:
    _, when = SLA_CLOCKS[clock]

    none = (
        f"no ticket's {clock} clock was decided in the period",
        f"本期没有{_SLA_ZH[clock]}时限已有结论的工单",
    )

    def compute(p: Period) -> Value:
        decided = [
            t
            for t in p.tickets
            if p.within(t.created_at_ms) and (clock in t.breached or when(t) is not None)
        ]
        return share(decided, lambda t: clock not in t.breached, none)

    return compute


for _clock, (_done, _) in SLA_CLOCKS.items():
    figure(
        f"sla_{_clock}_pct",
        unit="%",
        better="higher",
        dimension="efficiency",
        name=(f"SLA met: {_clock}", f"时限达标率:{_SLA_ZH[_clock]}"),
        definition=(
            f"tickets created in the period {_done} in time / those whose {_clock} "
            "clock is decided (met or breached)",
            f"当期创建的工单中按时{_SLA_ZH[_clock]}的 / 该时限已有结论(达标或超时)的",
        ),
    )(_sla(_clock))


@figure(
    "alarms_per_operator_hour",
    unit="/h",
    better="lower",
    dimension="quality",
    digits=3,
    name=("Alarms per operator-hour", "每操作员小时报警数"),
    definition=(
        "alarms raised in the period / hours in the period (one operator position)",
        "当期产生的报警数 / 当期小时数(一个值班席位)",
    ),
)
def alarms_per_operator_hour(p: Period) -> Value:
    if p.hours <= 0:
        return Value.missing("the period has not started", "统计期尚未开始")
    n = sum(1 for at in p.src.alarm_times if p.within(at))
    return Value(n / p.hours)


@figure(
    "lighting_kwh",
    unit="kWh",
    better="lower",
    dimension="energy",
    digits=3,
    energy=True,
    name=("Lighting energy", "照明用电量"),
    definition=(
        "lighting circuits' power_w integrated over time (trapezoid; gaps not filled)",
        "照明回路功率对时间积分(梯形法,数据中断不补)",
    ),
)
async def lighting_kwh(p: Period, energy: EnergyReader) -> Value:
    kwh, devices = await energy.total(p.start, p.end, System.LIGHTING)
    if devices == 0:
        return Value.missing("no lighting power readings in the period", "本期没有照明功率读数")
    return Value(kwh)
