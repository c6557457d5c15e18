"""Optional single sign-on: OpenID Connect ID tokens from the site's identity provider.

:class:`OidcVerifier` checks an ID token (a JWT) with PyJWT and turns it into a
:class:`Principal` (``via="oidc"``):

- **signature** against the provider's JWKS (the key named by the token's ``kid``; only
  asymmetric algorithms, never ``none`` nor HMAC, and a JWK that names its ``alg`` must
  match the token's);
- **issuer** and **audience** (the gateway's client id) must be the configured ones; a
  token for several audiences must name the gateway in ``azp``;
- **expiry**, ``nbf`` and ``iat`` are judged on the injected clock (``leeway_s`` of skew);
- **roles** come from a claim (``roles_claim``, a dotted path such as
  ``realm_access.roles``; a list or a space/comma separated string), each value mapped
  by ``role_map`` (e.g. ``{"bms-operators": "operator"}``) or, without a map, taken when
  it is a sitewatch role name. A token that maps to no role is :class:`Forbidden`.

The user id is ``user_claim`` (default ``preferred_username``, else ``sub``). When a
:class:`UserService` is given and the id is a user of the store, that user's crew and
name are used and a disabled user is refused.

The JWKS is a mapping, or a callable that fetches it (the HTTP layer supplies one
reading the configured JWKS URL); it is fetched when first needed, again after
``jwks_ttl_s``, and again (at most once a minute) when a token names an unknown ``kid``
(the provider rotated its keys). Failures raise :class:`Unauthenticated` (401) with a
short reason; the token itself is never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt

from gateway.clock import Clock
from gateway.errors import Forbidden
from gateway.people.models import Unauthenticated
from gateway.people.principal import Principal, Via
from gateway.people.users import UserService
from rules.vocab import ROLES, Role

log = logging.getLogger(__name__)

ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
Jwks = Mapping[str, Any]


class OidcVerifier:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: Jwks | Callable[[], Jwks],
        clock: Clock,
        roles_claim: str = "roles",
        role_map: Mapping[str, str] | None = None,
        user_claim: str = "preferred_username",
        crew_claim: str | None = None,
        users: UserService | None = None,
        leeway_s: float = 30.0,
        jwks_ttl_s: float = 3600.0,
        algorithms: Iterable[str] = ALGORITHMS,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self._source = jwks
        self._clock = clock
        self.roles_claim = roles_claim
        self.role_map = {str(k): Role(v) for k, v in (role_map or {}).items()}
        self.user_claim = user_claim
        self.crew_claim = crew_claim
        self._users = users
        self._leeway = float(leeway_s)
        self._ttl = float(jwks_ttl_s)
        self._algorithms = tuple(a for a in algorithms if a in ALGORITHMS)
        #: kid → (key, the ``alg`` its JWK names, if any)
        self._keys: dict[str, tuple[jwt.PyJWK, str | None]] | None = None
        self._fetched_at = 0.0

    # ------------------------------------------------------------------ verifying
    def claims(self, id_token: str) -> dict[str, Any]:
        """The verified claims of ``id_token``; :class:`Unauthenticated` otherwise."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise Unauthenticated("not an ID token") from exc
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise Unauthenticated(f"ID token algorithm {alg!r} is not accepted")
        key, jwk_alg = self._key(header.get("kid"))
        if jwk_alg is not None and jwk_alg != alg:
            raise Unauthenticated("ID token algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("ID token is for another audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthenticated("ID token is from another issuer") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("ID token signature is not valid") from exc
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"ID token refused: {type(exc).__name__}") from exc
        self._check_times(claims)
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.audience:
            raise Unauthenticated("ID token is for several audiences, not authorised for us")
        return claims

    def principal(self, id_token: str) -> Principal:
        """Who ``id_token`` names, with the roles its claim maps to."""
        claims = self.claims(id_token)
        user_id = claims.get(self.user_claim) or claims["sub"]
        if not isinstance(user_id, str) or not 0 < len(user_id) <= 128:
            raise Unauthenticated(f"ID token claim {self.user_claim!r} is not a user id")
        roles = self.roles_of(claims)
        if not roles:
            raise Forbidden(f"{user_id} has no sitewatch role in claim {self.roles_claim!r}")
        name = claims.get("name") if isinstance(claims.get("name"), str) else user_id
        crew = _path(claims, self.crew_claim) if self.crew_claim else None
        crew = crew if isinstance(crew, str) else None
        stored = self._users.find(user_id) if self._users is not None else None
        if stored is not None:
            if not stored.active:
                raise Unauthenticated(f"user {stored.id} is disabled")
            name, crew = stored.name, crew or stored.crew
        return Principal(
            user=user_id, name=str(name), roles=frozenset(roles), crew=crew, via=Via.OIDC
        )

    def roles_of(self, claims: Mapping[str, Any]) -> set[Role]:
        raw = _path(claims, self.roles_claim)
        if isinstance(raw, str):
            values = raw.replace(",", " ").split()
        elif isinstance(raw, list):
            values = [v for v in raw if isinstance(v, str)]
        else:
            values = []
        if self.role_map:
            return {self.role_map[v] for v in values if v in self.role_map}
        return {Role(v) for v in values if v in ROLES}

    # ------------------------------------------------------------------ machinery
    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now()
        try:
            exp = float(claims["exp"])
            iat = float(claims["iat"])
            nbf = float(claims.get("nbf", iat))
        except (TypeError, ValueError) as exc:
            raise Unauthenticated("ID token times are not numbers") from exc
        if exp <= now - self._leeway:
            raise Unauthenticated("ID token expired")
        if iat > now + self._leeway or nbf > now + self._leeway:
            raise Unauthenticated("ID token is not valid yet")

    def _key(self, kid: str | None) -> tuple[jwt.PyJWK, str | None]:
        now = self._clock.monotonic()
        if self._keys is None or now - self._fetched_at >= self._ttl:
            self._load(now)
        key = self._pick(kid)
        if key is None and callable(self._source) and now - self._fetched_at >= 60.0:
            self._load(now)  # the provider may have rotated its keys
            key = self._pick(kid)
        if key is None:
            raise Unauthenticated("ID token is signed with an unknown key")
        return key

    def _pick(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        keys = self._keys or {}
        if kid is None:
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    def _load(self, now: float) -> None:
        try:
            data = self._source() if callable(self._source) else self._source
            raw_keys = data["keys"]
            keys: dict[str, tuple[jwt.PyJWK, str | None]] = {}
            for i, raw in enumerate(raw_keys):
                if not isinstance(raw, Mapping) or raw.get("use", "sig") != "sig":
                    continue
                try:
                    key = jwt.PyJWK(dict(raw))
                except jwt.PyJWTError as exc:  # a key type we cannot use: skip it
                    log.debug("JWKS key %s skipped: %s", raw.get("kid", i), exc)
                    continue
                keys[str(raw.get("kid") or f"#{i}")] = (key, raw.get("alg"))
            if not keys:
                raise ValueError("the JWKS holds no usable signing key")
        except Exception as exc:  # noqa: BLE001 - any failure to get keys refuses tokens
            log.warning("cannot load the identity provider's keys: %s", exc)
            if self._keys is None:
                raise Unauthenticated("identity provider keys are not available") from exc
            self._fetched_at = now - self._ttl + 60.0  # keep the old keys; retry in a minute
            return
        self._keys = keys
        self._fetched_at = now


def _path(claims: Mapping[str, Any], path: str | None) -> Any:
    value: Any = claims
    for part in (path or "").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
