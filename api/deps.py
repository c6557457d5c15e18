"""Dependencies of the HTTP API: the running gateway and the caller's identity.

Tokens come from ``SITEWATCH_API_TOKENS`` (``role=token`` pairs). Every route but
``/healthz`` and ``/metrics`` needs ``Authorization: Bearer <token>`` (the SSE stream also
takes ``?access_token=``); a missing or wrong token is 401, a role that may not make the
call is 403.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Query, Request, status

if TYPE_CHECKING:
    from gateway.app import Runtime


@dataclass(slots=True, frozen=True)
class Principal:
    role: str
    name: str


def get_runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]


def _lookup(tokens: dict[str, str], presented: str) -> Principal | None:
    found: Principal | None = None
    counts: dict[str, int] = {}
    for token, role in tokens.items():
        counts[role] = counts.get(role, 0) + 1
        # compare against every token: the time taken does not tell which one matched
        if hmac.compare_digest(token.encode(), presented.encode()) and found is None:
            n = counts[role]
            found = Principal(role=role, name=role if n == 1 else f"{role}#{n}")
    return found


def authenticate(
    request: Request,
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    rt: Any = request.app.state.runtime
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    presented = value.strip() if scheme.lower() == "bearer" else ""
    if not presented and access_token and request.url.path.endswith("/stream"):
        presented = access_token
    if not presented:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = _lookup(rt.tokens, presented)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid token", headers={"WWW-Authenticate": "Bearer"}
        )
    return who


CurrentUser = Annotated[Principal, Depends(authenticate)]


def require(*roles: str) -> Any:
    """A dependency that lets ``admin`` and the given roles through, others get 403."""

    allowed = frozenset(roles) | {"admin"}

    def check(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {user.role!r} may not do this (allowed: {', '.join(sorted(allowed))})",
            )
        return user

    return Depends(check)


Operator = Annotated[Principal, require("operator")]
OperatorOrTechnician = Annotated[Principal, require("operator", "technician")]
