"""Single sign-on: ID tokens signed with a key pair made here, checked against a JWKS
dict (no network), times judged on the injected clock."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from gateway.clock import ManualClock
from gateway.errors import Forbidden
from gateway.people import People, Unauthenticated, Via
from gateway.people.oidc import OidcVerifier
from rules.vocab import Role

ISS = "https://idp.example.com/realms/site"
AUD = "sitewatch"


def _keypair(kid: str) -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid=kid, use="sig", alg="RS256")
    return key, jwk


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[rsa.RSAPrivateKey, dict[str, Any]]]:
    return {kid: _keypair(kid) for kid in ("k1", "k2", "rogue")}


def _token(clock: ManualClock, key: rsa.RSAPrivateKey, kid: str = "k1", **over: Any) -> str:
    now = int(clock.now())
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "0f9c-user",
        "preferred_username": "opa",
        "name": "Olga Operator",
        "iat": now,
        "exp": now + 300,
        "roles": ["operator"],
    }
    claims.update(over)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def verifier(clock: ManualClock, keys: dict[str, Any]) -> OidcVerifier:
    return OidcVerifier(issuer=ISS, audience=AUD, jwks={"keys": [keys["k1"][1]]}, clock=clock)


def test_good_token(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    p = verifier.principal(_token(clock, keys["k1"][0]))
    assert (p.user, p.name, p.roles, p.via) == (
        "opa",
        "Olga Operator",
        frozenset({Role.OPERATOR}),
        Via.OIDC,
    )


def test_wrong_audience(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated, match="audience"):
        verifier.principal(_token(clock, keys["k1"][0], aud="another-app"))
    # several audiences: only when the gateway is the authorised party
    several = ["sitewatch", "another-app"]
    with pytest.raises(Unauthenticated, match="several audiences"):
        verifier.principal(_token(clock, keys["k1"][0], aud=several, azp="another-app"))
    assert verifier.principal(_token(clock, keys["k1"][0], aud=several, azp=AUD)).user == "opa"


def test_wrong_issuer(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated, match="issuer"):
        verifier.principal(_token(clock, keys["k1"][0], iss="https://evil.example.com"))


def test_expired(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    token = _token(clock, keys["k1"][0])  # valid for 300 s, 30 s leeway
    clock.advance(329)
    assert verifier.principal(token).user == "opa"
    clock.advance(1)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.principal(token)
    future = _token(clock, keys["k1"][0], iat=int(clock.now()) + 600, exp=int(clock.now()) + 900)
    with pytest.raises(Unauthenticated, match="not valid yet"):
        verifier.principal(future)
    with pytest.raises(Unauthenticated, match="MissingRequiredClaim"):
        verifier.principal(_token(clock, keys["k1"][0], exp=None))


def test_bad_signature(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    # signed by a key that is not the provider's, under the provider's key id
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.principal(_token(clock, keys["rogue"][0], kid="k1"))
    # a token whose claims were changed after signing
    head, body, sig = _token(clock, keys["k1"][0]).split(".")
    other = _token(clock, keys["k1"][0], roles=["admin"]).split(".")[1]
    with pytest.raises(Unauthenticated, match="signature"):
        verifier.principal(".".join((head, other, sig)))
    with pytest.raises(Unauthenticated, match="unknown key"):
        verifier.principal(_token(clock, keys["rogue"][0], kid="rogue"))


def test_no_none_nor_hmac(verifier: OidcVerifier, clock: ManualClock, keys: dict[str, Any]) -> None:
    now = int(clock.now())
    claims = {"iss": ISS, "aud": AUD, "sub": "x", "iat": now, "exp": now + 60, "roles": ["admin"]}
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="algorithm"):
        verifier.principal(unsigned)
    # HMAC keyed with the public key's text: the classic confusion attack
    hs = jwt.encode(claims, "public-key-text" * 4, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(Unauthenticated, match="algorithm"):
        verifier.principal(hs)
    with pytest.raises(Unauthenticated, match="not an ID token"):
        verifier.principal("not.a.jwt")


def test_role_mapping(clock: ManualClock, keys: dict[str, Any]) -> None:
    v = OidcVerifier(
        issuer=ISS,
        audience=AUD,
        jwks={"keys": [keys["k1"][1]]},
        clock=clock,
        roles_claim="realm_access.roles",
        role_map={"bms-operators": "operator", "bms-admins": "admin"},
    )
    token = _token(
        clock,
        keys["k1"][0],
        roles=None,
        realm_access={"roles": ["bms-operators", "bms-admins", "other"]},
    )
    assert v.principal(token).roles == {Role.OPERATOR, Role.ADMIN}
    nothing = _token(clock, keys["k1"][0], realm_access={"roles": ["other"]})
    with pytest.raises(Forbidden, match="no sitewatch role"):
        v.principal(nothing)
    # without a map, role names are taken as they are (a string claim too)
    plain = OidcVerifier(
        issuer=ISS, audience=AUD, jwks={"keys": [keys["k1"][1]]}, clock=clock, roles_claim="groups"
    )
    t2 = _token(clock, keys["k1"][0], groups="viewer manager boss")
    assert plain.principal(t2).roles == {Role.VIEWER, Role.MANAGER}


def test_key_rotation(clock: ManualClock, keys: dict[str, Any]) -> None:
    served = {"keys": [keys["k1"][1]]}
    fetched: list[int] = []

    def fetch() -> dict[str, Any]:
        fetched.append(1)
        return served

    v = OidcVerifier(issuer=ISS, audience=AUD, jwks=fetch, clock=clock)
    assert v.principal(_token(clock, keys["k1"][0])).user == "opa"
    served = {"keys": [keys["k2"][1]]}  # the provider rotates
    with pytest.raises(Unauthenticated, match="unknown key"):  # not refetched at once
        v.principal(_token(clock, keys["k2"][0], kid="k2"))
    clock.advance(60)
    assert v.principal(_token(clock, keys["k2"][0], kid="k2")).user == "opa"
    assert len(fetched) == 2


def test_stored_user_gives_crew_and_can_be_disabled(
    people: People, clock: ManualClock, keys: dict[str, Any]
) -> None:
    v = OidcVerifier(
        issuer=ISS, audience=AUD, jwks={"keys": [keys["k1"][1]]}, clock=clock, users=people.users
    )
    people.oidc = v
    token = _token(clock, keys["k1"][0], preferred_username="hvac-liu", roles=["technician"])
    p = people.bearer(token)
    assert (p.user, p.crew, p.name, p.via) == ("hvac-liu", "hvac", "刘洋 Liu Yang", Via.OIDC)
    people.users.disable("hvac-liu")
    with pytest.raises(Unauthenticated, match="disabled"):
        people.bearer(token)
