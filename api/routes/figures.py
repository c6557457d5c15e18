"""The manager's figures (contract section 10): the scorecard, energy, the monthly report
and the energy an alarm wasted.

The figures service (``gateway.figures.Figures``) is the runtime's ``figures`` when it
has one, else built once per app from the runtime's site, state store, sink and clock.
Scorecard, energy and report are for ``manager``, ``viewer`` and ``admin``; the energy
of an alarm for every role (it belongs with the alarm). A bad period, month or energy
query is 422 naming the accepted forms.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.auth import require
from api.deps import CurrentUser, RuntimeDep
from api.schemas_figures import AlarmWaste, Energy, Scorecard
from gateway.clock import parse_rfc3339_ms
from gateway.errors import Invalid
from gateway.figures import Figures
from gateway.figures.periods import ACCEPTED_PERIOD
from gateway.figures.report import render
from gateway.people import Principal
from rules.vocab import Role

router = APIRouter(prefix="/api/v1", tags=["figures"])

Manager = Annotated[Principal, require(Role.MANAGER, Role.VIEWER)]
_EPOCH_MS = re.compile(r"-?[0-9]{1,16}")
TIME_HELP = "RFC 3339 time with a zone offset (e.g. Z), or epoch milliseconds"


def figures_of(request: Request, rt: Any) -> Figures:
    own = getattr(rt, "figures", None)
    if isinstance(own, Figures):
        return own
    made: Figures | None = getattr(request.app.state, "figures", None)
    if made is None:
        made = Figures(rt.site, rt.db, getattr(rt, "sink", None), rt.clock)
        request.app.state.figures = made
    return made


def _time(name: str, text: str) -> int:
    try:
        return int(text) if _EPOCH_MS.fullmatch(text) else parse_rfc3339_ms(text)
    except ValueError:
        raise Invalid(f"{name}: {TIME_HELP}, not {text!r}") from None


@router.get("/scorecard", response_model=Scorecard)
async def get_scorecard(
    request: Request,
    rt: RuntimeDep,
    user: Manager,
    period: Annotated[str | None, Query(description=ACCEPTED_PERIOD)] = None,
    lang: Annotated[Literal["en", "zh"] | None, Query(description="default: the site's")] = None,
) -> dict[str, Any]:
    """Each figure's definition, baseline, target, value for ``period`` (default: this
    month, to date) and trend over the 12 months ending there."""
    return await figures_of(request, rt).scorecard(period, lang)


@router.get("/energy", response_model=Energy)
async def get_energy(
    request: Request,
    rt: RuntimeDep,
    user: Manager,
    start: Annotated[str, Query(description=TIME_HELP)],
    end: Annotated[str, Query(description=TIME_HELP)],
    by: Annotated[Literal["zone", "system", "device"], Query()] = "zone",
    step: Annotated[Literal["1h", "1d", "1mo"], Query(description="site-local steps")] = "1d",
) -> Response:
    """kWh from ``power_w`` / ``power_kw`` by the trapezoid rule (a step longer than 1.5
    reporting intervals is a gap: no energy is invented for it). At most 2,000 steps
    and 350,000 items (groups x steps) in one answer."""
    body = await figures_of(request, rt).energy(_time("start", start), _time("end", end), by, step)
    # the body as the model documents it, written by orjson off the event loop: checking
    # and encoding 310,000 items through the model took longer than computing them
    return Response(await asyncio.to_thread(orjson.dumps, body), media_type="application/json")


@router.get("/energy/alarms/{alarm_id}", response_model=AlarmWaste)
async def get_alarm_waste(
    alarm_id: int, request: Request, rt: RuntimeDep, user: CurrentUser
) -> dict[str, Any]:
    """The energy the alarm's device used from the alarm's activation to its clearing
    (or now): for ``lighting.after_hours_waste``, the energy wasted."""
    return await figures_of(request, rt).alarm_waste(alarm_id)


@router.get(
    "/reports/monthly",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "text/csv": {}}}},
)
async def monthly_report(
    request: Request,
    rt: RuntimeDep,
    user: Manager,
    month: Annotated[str, Query(description=ACCEPTED_PERIOD)],
    format: Annotated[Literal["html", "csv"], Query()] = "html",
) -> Response:
    """The monthly report in the site's language and time zone (HTML with a print
    stylesheet; ``format=csv`` for a spreadsheet)."""
    figs = figures_of(request, rt)
    data = await figs.monthly(month)
    body = render(data, format)
    if format == "csv":
        name = f"sitewatch-{data['site']['id']}-{data['month']}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(body, media_type="text/html; charset=utf-8")
