"""Sign-in, sign-out and "who am I" (contract section 6).

Lifecycle of a browser's session as the routes see it:

1. ``POST /api/v1/auth/login`` ``{"user", "password"}``: on success 200 with
   ``{"user", "name", "roles", "crew", "csrf_token"}`` and two cookies:
   :data:`~api.auth.SESSION_COOKIE` (``HttpOnly``, ``SameSite=Strict``, ``Secure``
   unless the API is bound to a loopback address; the session itself, never readable
   by script) and :data:`~api.auth.CSRF_COOKIE` (readable, same flags otherwise: the page
   reads it after a reload and sends it as ``X-CSRF-Token``). On failure 401 (wrong
   pair), 403 (disabled user) or 429 with ``Retry-After`` (locked out after 10
   failures in 5 minutes for that user or that address); each counted in ``/metrics``.
2. Every later call carries the cookie; a state-changing one also ``X-CSRF-Token``.
3. ``POST /api/v1/auth/logout`` ends the session (the CSRF header is needed, as for any
   state-changing call) and clears both cookies: ``{"user", "signed_out": true}``.

The Argon2 work of a sign-in runs in a worker thread, at most :data:`HASHING_AT_ONCE`
at a time, so a burst of sign-ins (or guesses) never stalls the event loop that carries
the building's messages. Neither the password nor a token is logged.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse

from api.auth import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    Caller,
    client_addr,
    count_failure,
    people_of,
    primary_role,
)
from api.schemas_people import LoginIn, LoginOut, MeOut, SignedOut
from gateway.errors import DomainError
from gateway.people import LoginFailed, LoginOk, People, Via

router = APIRouter(tags=["people"])

#: sign-ins hashing at the same time (the machine's cores are shared with the gateway)
HASHING_AT_ONCE = 2


def need_people(request: Request) -> People:
    people = people_of(request)
    if people is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "user service not running")
    return people


async def hashing(request: Request, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` (Argon2 work: a sign-in, a new password) in a worker thread, at most
    :data:`HASHING_AT_ONCE` at a time per app."""
    state = request.app.state
    gate: asyncio.Semaphore | None = getattr(state, "hashing", None)
    if gate is None:
        gate = state.hashing = asyncio.Semaphore(HASHING_AT_ONCE)
    async with gate:
        return await asyncio.to_thread(fn, *args, **kwargs)


def cookie_secure(request: Request) -> bool:
    """``Secure`` cookies unless the API is bound to a loopback address (plain HTTP on
    127.0.0.1 is the demo's and the tests' case); without settings, by the scheme."""
    settings = getattr(request.app.state.runtime, "settings", None)
    host = getattr(settings, "http_host", None)
    if not isinstance(host, str):
        return request.url.scheme == "https"
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _set_cookies(request: Request, response: Response, token: str, csrf: str) -> None:
    secure = cookie_secure(request)
    response.set_cookie(
        SESSION_COOKIE, token, path="/", httponly=True, samesite="strict", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE, csrf, path="/", httponly=False, samesite="strict", secure=secure
    )


def _clear_cookies(request: Request, response: Response) -> None:
    secure = cookie_secure(request)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path="/", httponly=name == SESSION_COOKIE, samesite="strict", secure=secure
        )


@router.post(
    "/api/v1/auth/login",
    response_model=LoginOut,
    responses={
        401: {"description": "wrong user or password"},
        403: {"description": "the user is disabled"},
        429: {"description": "locked out: wait Retry-After seconds"},
    },
)
async def login(body: LoginIn, request: Request) -> Response:
    """Sign in with a user id and a password: a session cookie and a CSRF token."""
    people = need_people(request)
    result: LoginOk | LoginFailed = await hashing(
        request, people.login.authenticate, body.user, body.password, client_addr(request)
    )
    if isinstance(result, LoginFailed):
        count_failure(request, result.reason.value)
        headers = {"Retry-After": str(result.retry_after_s)} if result.status == 429 else None
        return JSONResponse({"detail": result.message}, status_code=result.status, headers=headers)
    response = JSONResponse(result.body())
    _set_cookies(request, response, result.new.token, result.new.csrf_token)
    return response


@router.post("/api/v1/auth/logout", response_model=SignedOut)
async def logout(request: Request, user: Caller) -> Response:
    """End this session and clear its cookies (a key or token has none to end: 400)."""
    if user.via is not Via.SESSION:
        raise DomainError("signed in with a key or token: there is no session to end")
    need_people(request).sessions.end(request.cookies.get(SESSION_COOKIE))
    response = JSONResponse({"user": user.user, "signed_out": True})
    _clear_cookies(request, response)
    return response


@router.get("/api/v1/me", response_model=MeOut)
async def me(user: Caller) -> dict[str, Any]:
    """Who is calling: user, name, roles, crew (and the one ``role`` the pages key their
    view on)."""
    return {**user.me(), "role": primary_role(user), "via": user.via.value}
