"""Errors to HTTP, in one place.

Routes call the services directly and let their :class:`~gateway.errors.DomainError`
propagate; :func:`install` registers the one handler that turns it into
``{"detail": exc.detail()}`` with the status of its family (:data:`STATUS`);
:class:`~gateway.people.Unauthenticated` is 401 with ``WWW-Authenticate: Bearer``. A bad
request body or query gets 422 with ``{"detail": [{"loc": [...], "msg": ...}, ...]}``:
``loc`` names the field.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gateway.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from gateway.people import Unauthenticated

#: the status of each family; a subclass takes its nearest ancestor's
STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Forbidden: 403,
    Unauthenticated: 401,
}
#: a DomainError of no family above: the request was refused as it stands
DEFAULT_STATUS = 400


def status_of(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        code = STATUS.get(cls)
        if code is not None:
            return code
    return DEFAULT_STATUS


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    # who is calling could not be established: say how to authenticate (RFC 9110)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return JSONResponse({"detail": exc.detail()}, status_code=status_of(exc), headers=headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail: list[dict[str, Any]] = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
