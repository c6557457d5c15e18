"""Inspection rounds (contract section 8): every role reads; the round's crew does it.

The site's :class:`~gateway.rounds.RoundService` is ``runtime.rounds`` or
``runtime.services.rounds`` (``gateway.rounds.wiring.rounds_of``: built on first use when
the site factory did not); 503 while there is none. Doing a round (start, a checkpoint's
answers, finish, abandon) is for technicians and leads of its crew and admins (403 for
others, from the service). A checkpoint's answers carry an idempotency key (the body's
``key`` or the ``Idempotency-Key`` header): the phone's queue replays an answer with the
same key after a lost response, and it is applied once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status

from api.deps import CurrentUser
from api.schemas import IdPath, Offset
from api.schemas_rounds import (
    CheckpointAnswers,
    RoundAbandon,
    RoundFigures,
    RoundFinish,
    RoundPage,
    RoundPublic,
    TemplateCreate,
    TemplatePage,
    TemplatePublic,
)
from gateway.rounds import STATUSES
from gateway.rounds.wiring import rounds_of
from gateway.store.filters import split_values
from rules.vocab import ID_PATTERN

if TYPE_CHECKING:
    from gateway.rounds import RoundService

router = APIRouter(prefix="/api/v1", tags=["rounds"])


async def get_rounds(request: Request) -> RoundService:
    svc = rounds_of(request.app.state.runtime)
    if svc is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "rounds not running")
    return svc


RoundsDep = Annotated["RoundService", Depends(get_rounds)]
CheckpointId = Annotated[str, Path(pattern=f"^{ID_PATTERN}$")]


@router.get("/rounds", response_model=RoundPage)
async def list_rounds(
    rounds: RoundsDep,
    user: CurrentUser,
    status: Annotated[
        str | None, Query(description="due|in_progress|done|missed|abandoned")
    ] = None,
    crew: Annotated[str | None, Query(description="a crew id, or me: the caller's")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Rounds, due time newest first (those due within a day included)."""
    wanted = split_values(status)
    bad = [s for s in wanted or () if s not in STATUSES]
    if bad:
        raise HTTPException(422, f"unknown status {bad[0]!r} (statuses: {', '.join(STATUSES)})")
    if crew == "me":
        crew = user.crew or "-"
    items, total = rounds.list(wanted, crew, limit=limit, offset=offset)
    return {"items": items, "total": total}


@router.get("/rounds/templates", response_model=TemplatePage)
async def list_templates(rounds: RoundsDep, user: CurrentUser) -> dict[str, Any]:
    """Every round template (the site file's and the API's)."""
    items = rounds.templates()
    return {"items": items, "total": len(items)}


@router.post("/rounds/templates", status_code=201, response_model=TemplatePublic)
async def create_template(
    body: TemplateCreate, rounds: RoundsDep, user: CurrentUser
) -> dict[str, Any]:
    """A template (managers and admins); 409 for an id in use, 422 for a crew, zone or
    asset the site does not have."""
    return rounds.add_template(body.model_dump(mode="json", exclude_none=True), user)


@router.get("/rounds/{round_id}", response_model=RoundPublic)
async def get_round(round_id: IdPath, rounds: RoundsDep, user: CurrentUser) -> dict[str, Any]:
    """One round: its checkpoints with their answers, its findings and answer log."""
    return rounds.get(round_id)


@router.post("/rounds/{round_id}/start", response_model=RoundPublic)
async def start_round(round_id: IdPath, rounds: RoundsDep, user: CurrentUser) -> dict[str, Any]:
    """Start a due (or, late, a missed) round; starting one in progress changes nothing."""
    return rounds.start(round_id, user)


@router.post("/rounds/{round_id}/checkpoints/{cp}", response_model=RoundPublic)
async def answer_checkpoint(
    round_id: IdPath,
    cp: CheckpointId,
    body: CheckpointAnswers,
    rounds: RoundsDep,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(pattern=r"^[A-Za-z0-9_.:-]{8,64}$")] = None,
) -> dict[str, Any]:
    """A checkpoint's answers; each failed item opens a ticket (or adds to its open one).
    422 for a wrong answer, a missing one or a missing photo; 409 unless in progress."""
    return rounds.answer(
        round_id,
        cp,
        body.answers,
        user,
        photos=body.photos,
        key=body.key or idempotency_key,
        scanned=body.scanned,
        client_at_ms=body.client_at,
    )


@router.post("/rounds/{round_id}/finish", response_model=RoundPublic)
async def finish_round(
    round_id: IdPath, rounds: RoundsDep, user: CurrentUser, body: RoundFinish | None = None
) -> dict[str, Any]:
    """Finish; 409 naming the checkpoints not yet answered."""
    return rounds.finish(round_id, user, body.note if body else None)


@router.post("/rounds/{round_id}/abandon", response_model=RoundPublic)
async def abandon_round(
    round_id: IdPath, body: RoundAbandon, rounds: RoundsDep, user: CurrentUser
) -> dict[str, Any]:
    """Stop half-way; what was answered (and its findings) stays."""
    return rounds.abandon(round_id, user, body.reason)


@router.get("/rounds-figures", response_model=RoundFigures)
async def round_figures(
    rounds: RoundsDep,
    user: CurrentUser,
    days: Annotated[float, Query(gt=0, le=366)] = 30,
) -> dict[str, Any]:
    """The rounds' figures over the last ``days``: per crew, fail rates, fix time, hot spots."""
    return rounds.figures(days)
