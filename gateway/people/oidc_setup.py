"""Single sign-on from the settings: the :class:`OidcVerifier` the gateway runs with, or
``None`` when it is not configured.

Settings read (each also ``SITEWATCH_<NAME>``; all optional, single sign-on is on when
the first three are set):

- ``oidc_issuer``: the identity provider's issuer URL (the ``iss`` of its ID tokens);
- ``oidc_audience``: the gateway's client id at the provider (``aud``);
- ``oidc_jwks_url``: where the provider publishes its signing keys (JWKS);
- ``oidc_roles_claim`` (default ``roles``; a dotted path such as ``realm_access.roles``);
- ``oidc_role_map`` (``{"provider-group": "sitewatch-role"}``; none: a claim value that is
  a sitewatch role name is taken as is);
- ``oidc_user_claim`` (default ``preferred_username``).

The JWKS is fetched over HTTPS with httpx (5 s timeout) when the verifier first needs it,
again after an hour, and when a token names a key it does not know (at most once a
minute); a failure to fetch refuses ID tokens (401) and never stops the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

from gateway.clock import Clock
from gateway.people.oidc import OidcVerifier
from gateway.people.users import UserService
from gateway.settings import Settings

JWKS_TIMEOUT_S = 5.0


def jwks_fetcher(url: str, timeout_s: float = JWKS_TIMEOUT_S) -> Callable[[], Mapping[str, Any]]:
    def fetch() -> Mapping[str, Any]:
        r = httpx.get(url, timeout=timeout_s, follow_redirects=False)
        r.raise_for_status()
        data: Mapping[str, Any] = r.json()
        return data

    return fetch


def oidc_from_settings(settings: Settings, clock: Clock, users: UserService) -> OidcVerifier | None:
    """The verifier the settings describe, or ``None`` (see the module doc)."""
    s = settings
    if not (s.oidc_issuer and s.oidc_audience and s.oidc_jwks_url):
        return None
    return OidcVerifier(
        issuer=s.oidc_issuer,
        audience=s.oidc_audience,
        jwks=jwks_fetcher(s.oidc_jwks_url),
        clock=clock,
        roles_claim=s.oidc_roles_claim or "roles",
        role_map=s.oidc_role_map or None,
        user_claim=s.oidc_user_claim or "preferred_username",
        users=users,
    )
