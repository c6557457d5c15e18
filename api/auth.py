"""Who is calling: the one dependency that turns a request into a :class:`Principal`.

Per request, :func:`authenticate` tries, in this order:

1. ``Authorization: Bearer <value>`` (the alarm stream, :data:`QUERY_TOKEN_ROUTE`, and
   no other route also takes ``?access_token=``: a browser's EventSource cannot send
   headers):

   a. a shared ``SITEWATCH_API_TOKENS`` token (``runtime.tokens``, compared in constant
      time against every one): a role, no person (:func:`role_token_principal`);
   b. else ``runtime.people.bearer(value)``: an API key (``swk_...``, read from the store
      on every call, so a revoked key is refused at once) or, when single sign-on is
      configured, an OpenID Connect ID token.

   Bearer callers need no CSRF header: a browser never adds that header by itself.
2. else the session cookie :data:`SESSION_COOKIE` (``runtime.people.session``); a
   state-changing call (any method but GET/HEAD/OPTIONS) must also carry the session's
   CSRF token in :data:`CSRF_HEADER` (403 otherwise, nothing changed).
3. else 401.

A caller that cannot be established is :class:`Unauthenticated` (401 with
``WWW-Authenticate: Bearer``, mapped in ``api.errors``); a missing or wrong CSRF token is
:class:`~gateway.errors.Forbidden` (403). Every refusal is counted by reason in
``sitewatch_auth_failures_total`` (``/metrics``, see :func:`count_failure`). No token,
cookie or password is ever logged: a refusal logs its reason and the address only.

A runtime without ``people`` (the API's fake runtime in tests) takes shared tokens only.
"""

from __future__ import annotations

import hmac
import logging
import weakref
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from prometheus_client import CollectorRegistry, Counter

from gateway.errors import Forbidden
from gateway.people import People, Principal, Unauthenticated, role_token_principal
from gateway.people.tokens import KEY_PREFIX
from rules.vocab import Role

log = logging.getLogger("sitewatch.auth")

SESSION_COOKIE = "sitewatch_session"
CSRF_COOKIE = "sitewatch_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: the one route whose caller may send the token as ``?access_token=`` (matched by route,
#: so a device or ticket named ``stream`` is not it)
QUERY_TOKEN_ROUTE = "/api/v1/alarms/stream"

#: reasons a try fails, as the counter's ``reason`` label
REASONS = (
    "missing",  # no credentials at all
    "token",  # a Bearer value that is no shared token, key or ID token
    "key",  # an API key unknown, revoked or expired
    "oidc",  # an ID token refused (signature, expiry, audience, issuer, no role)
    "session",  # a session cookie unknown, forged, expired, or its user disabled
    "csrf",  # a state-changing call with a session but without its CSRF token
    "role",  # established, but the role may not make the call (403)
    "wrong_pair",  # sign-in: wrong user or password
    "disabled",  # sign-in: right password of a disabled user
    "locked",  # sign-in refused while locked out (429)
)

_COUNTERS: weakref.WeakKeyDictionary[CollectorRegistry, Counter] = weakref.WeakKeyDictionary()


def _counter(request: Request) -> Counter | None:
    registry = getattr(getattr(request.app.state.runtime, "metrics", None), "registry", None)
    if not isinstance(registry, CollectorRegistry):
        return None
    counter = _COUNTERS.get(registry)
    if counter is None:
        counter = Counter(
            "sitewatch_auth_failures",
            "failed authentications and sign-ins, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:
            counter.labels(reason=reason)  # every reason shows, at 0, from the first call
        _COUNTERS[registry] = counter
    return counter


def count_failure(request: Request, reason: str) -> None:
    """Count one refused try (``sitewatch_auth_failures_total{reason=...}``) and log its
    reason with the caller's address (never what was presented)."""
    counter = _counter(request)
    if counter is not None:
        counter.labels(reason=reason).inc()
    log.info(
        "refused %s %s from %s: %s",
        request.method,
        request.url.path,
        client_addr(request) or "?",
        reason,
    )


def client_addr(request: Request) -> str | None:
    return request.client.host if request.client else None


def people_of(request: Request) -> People | None:
    people: People | None = getattr(request.app.state.runtime, "people", None)
    return people


def _shared_token(tokens: dict[str, str], presented: str) -> Principal | None:
    """The principal of a ``SITEWATCH_API_TOKENS`` token; a second token of one role is
    named ``role#2`` (so the journal tells them apart)."""
    found: Principal | None = None
    counts: dict[str, int] = {}
    for token, role in tokens.items():
        counts[role] = counts.get(role, 0) + 1
        # compare against every token: the time taken does not tell which one matched
        if hmac.compare_digest(token.encode(), presented.encode()) and found is None:
            n = counts[role]
            found = role_token_principal(role, None if n == 1 else f"{role}#{n}")
    return found


def _bearer_kind(value: str) -> str:
    if value.startswith(KEY_PREFIX):
        return "key"
    return "oidc" if value.count(".") == 2 else "token"


def _bearer(request: Request, presented: str) -> Principal:
    rt: Any = request.app.state.runtime
    who = _shared_token(getattr(rt, "tokens", None) or {}, presented)
    if who is not None:
        return who
    people = people_of(request)
    if people is None:
        count_failure(request, "token")
        raise Unauthenticated("invalid token")
    try:
        return people.bearer(presented)
    except (Unauthenticated, Forbidden):
        count_failure(request, _bearer_kind(presented))
        raise


def _session(request: Request, cookie: str, people: People) -> Principal:
    need_csrf = request.method not in SAFE_METHODS
    try:
        principal, session = people.session(
            cookie, csrf=request.headers.get(CSRF_HEADER), need_csrf=need_csrf
        )
    except Unauthenticated:
        count_failure(request, "session")
        raise
    except Forbidden:
        count_failure(request, "csrf")
        raise
    request.state.session = session
    return principal


async def authenticate(
    request: Request,
    access_token: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Principal:
    """The caller of ``request`` (see the module doc); 401 or 403 otherwise."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    presented = value.strip() if scheme.lower() == "bearer" else ""
    route = getattr(request.scope.get("route"), "path", None)
    if not presented and access_token and route == QUERY_TOKEN_ROUTE:
        presented = access_token
    if presented:
        principal = _bearer(request, presented)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        people = people_of(request)
        if not cookie or people is None:
            count_failure(request, "missing")
            raise Unauthenticated("missing bearer token or session: sign in")
        principal = _session(request, cookie, people)
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role) -> Any:
    """A dependency that lets ``admin`` and ``roles`` through; others get 403."""
    allowed = frozenset(roles) | {Role.ADMIN}
    names = ", ".join(r.value for r in Role if r in allowed)

    async def check(request: Request, user: Caller) -> Principal:
        if not user.has(*allowed):
            count_failure(request, "role")
            have = ", ".join(sorted(r.value for r in user.roles)) or "none"
            raise Forbidden(f"role {have} may not do this (allowed: {names})")
        return user

    return Depends(check)


def primary_role(principal: Principal) -> str:
    """The one role the pages key their view on: the first held of admin, operator,
    technician, lead, manager, integrator, viewer."""
    for role in (
        Role.ADMIN,
        Role.OPERATOR,
        Role.TECHNICIAN,
        Role.LEAD,
        Role.MANAGER,
        Role.INTEGRATOR,
        Role.VIEWER,
    ):
        if role in principal.roles:
            return role.value
    return Role.VIEWER.value
