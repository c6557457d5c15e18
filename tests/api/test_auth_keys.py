"""API keys and users over HTTP, for an admin: a key works as a Bearer token until it is
revoked (401 at once) or expires; only an admin manages users and keys; a disabled user's
session ends with it. Single sign-on: an ID token signed by a key pair made here."""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from gateway.people.oidc import OidcVerifier
from tests.api.fakes import FakeRuntime, alarm, auth
from tests.api.people_fixtures import PASSWORD, failures, sign_in


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_key_works_until_revoked(web: TestClient, people_rt: FakeRuntime) -> None:
    assert people_rt.alarms is not None
    people_rt.alarms.alarms = {1: alarm(1)}
    r = web.post(
        "/api/v1/keys", json={"name": "bms bridge", "roles": ["integrator"]}, headers=auth("admin")
    )
    assert r.status_code == 201
    key = r.json()
    assert key["id"] and key["token"].startswith("swk_") and key["roles"] == ["integrator"]
    token = key["token"]
    me = web.get("/api/v1/me", headers=bearer(token)).json()
    assert me["user"] == f"key:{key['id']}" and me["via"] == "key" and me["name"] == "bms bridge"
    assert web.get("/api/v1/alarms", headers=bearer(token)).status_code == 200
    # an integrator may read, not acknowledge; no CSRF header is needed for a Bearer key
    assert web.post("/api/v1/alarms/1/ack", headers=bearer(token)).status_code == 403
    assert failures(web, "role") == 1
    listed = web.get("/api/v1/keys", headers=auth("admin")).json()
    assert listed["total"] == 1 and "token" not in listed["items"][0]
    gone = web.delete(f"/api/v1/keys/{key['id']}", headers=auth("admin"))
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    r = web.get("/api/v1/alarms", headers=bearer(token))
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert failures(web, "key") == 1
    assert web.delete("/api/v1/keys/k-0000000000000000", headers=auth("admin")).status_code == 404


def test_a_key_expires_on_the_clock(web: TestClient, people_rt: FakeRuntime) -> None:
    r = web.post(
        "/api/v1/keys",
        json={"name": "script", "roles": ["viewer"], "expires_at": "2026-01-01T01:00:00Z"},
        headers=auth("admin"),
    )
    assert r.status_code == 201 and r.json()["expires_at"] == "2026-01-01T01:00:00.000Z"
    token = r.json()["token"]
    assert web.get("/api/v1/me", headers=bearer(token)).status_code == 200
    people_rt.clock.advance(3600)
    assert web.get("/api/v1/me", headers=bearer(token)).status_code == 401
    past = web.post(
        "/api/v1/keys",
        json={"name": "old", "roles": ["viewer"], "expires_at": "2025-01-01T00:00:00Z"},
        headers=auth("admin"),
    )
    assert past.status_code == 422
    bad = web.post("/api/v1/keys", json={"name": "x", "roles": ["root"]}, headers=auth("admin"))
    assert bad.status_code == 422


def test_only_an_admin_manages_keys_and_users(web: TestClient) -> None:
    for role in ("viewer", "operator", "technician"):
        assert web.get("/api/v1/users", headers=auth(role)).status_code == 403
        assert web.get("/api/v1/keys", headers=auth(role)).status_code == 403
        r = web.post("/api/v1/keys", json={"name": "k", "roles": ["admin"]}, headers=auth(role))
        assert r.status_code == 403
    assert web.get("/api/v1/users").status_code == 401


def test_an_admin_signed_in_manages_users(web: TestClient) -> None:
    csrf = sign_in(web, "boss")
    users = web.get("/api/v1/users").json()
    ids = {u["user"] for u in users["items"]}
    assert {"boss", "opa", "hvac-zhang", "hvac-liu", "elec-wang"} <= ids
    assert not any({"password", "password_hash"} & set(u) for u in users["items"])
    new = {"user": "ops2", "roles": ["operator"], "name": "Otto", "password": "a-long-password"}
    assert web.post("/api/v1/users", json=new).status_code == 403  # no CSRF header
    r = web.post("/api/v1/users", json=new, headers=csrf)
    assert r.status_code == 201
    assert r.json()["roles"] == ["operator"] and r.json()["has_password"] is True
    assert web.post("/api/v1/users", json=new, headers=csrf).status_code == 409
    short = {**new, "user": "ops3", "password": "short"}
    assert web.post("/api/v1/users", json=short, headers=csrf).status_code == 422
    # the new user signs in elsewhere; disabling them ends that session at once
    other = TestClient(web.app)
    sign_in(other, "ops2", "a-long-password")
    assert other.get("/api/v1/me").json()["name"] == "Otto"
    r = web.patch("/api/v1/users/ops2", json={"active": False}, headers=csrf)
    assert r.status_code == 200 and r.json()["active"] is False
    assert other.get("/api/v1/me").status_code == 401
    # roles replace the granted ones; site roles stay; crew null removes the crew
    r = web.patch(
        "/api/v1/users/hvac-liu", json={"roles": ["operator"], "name": "Liu"}, headers=csrf
    )
    assert r.json()["roles"] == ["operator", "technician"] and r.json()["name"] == "Liu"
    r = web.patch("/api/v1/users/opa", json={"crew": "hvac"}, headers=csrf)
    assert r.json()["crew"] == "hvac"
    r = web.patch("/api/v1/users/opa", json={"crew": None}, headers=csrf)
    assert r.json()["crew"] is None
    r = web.patch("/api/v1/users/opa", json={"password": "another-password"}, headers=csrf)
    assert r.status_code == 200
    assert (
        web.post("/api/v1/auth/login", json={"user": "opa", "password": PASSWORD}).status_code
        == 401
    )
    assert web.patch("/api/v1/users/nobody", json={"name": "x"}, headers=csrf).status_code == 404


ISS, AUD = "https://idp.example.com/realms/site", "sitewatch"


def _keypair() -> tuple[rsa.RSAPrivateKey, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.update(kid="k1", use="sig", alg="RS256")
    return key, jwk


def test_an_id_token_of_the_sites_identity_provider(
    web: TestClient, people_rt: FakeRuntime
) -> None:
    key, jwk = _keypair()
    people = people_rt.people  # type: ignore[attr-defined]
    people.oidc = OidcVerifier(
        issuer=ISS,
        audience=AUD,
        jwks={"keys": [jwk]},
        clock=people_rt.clock,
        role_map={"bms-technicians": "technician"},
        users=people.users,
    )
    now = int(people_rt.clock.now())
    claims = {
        "iss": ISS,
        "aud": AUD,
        "sub": "u-1",
        "preferred_username": "hvac-liu",
        "iat": now,
        "exp": now + 300,
        "roles": ["bms-technicians"],
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    me = web.get("/api/v1/me", headers=bearer(token)).json()
    assert (me["user"], me["name"], me["roles"], me["crew"], me["via"]) == (
        "hvac-liu",
        "刘洋 Liu Yang",
        ["technician"],
        "hvac",
        "oidc",
    )
    people_rt.clock.advance(400)  # past exp and the leeway
    r = web.get("/api/v1/me", headers=bearer(token))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    rogue, _ = _keypair()
    forged = jwt.encode(
        {**claims, "exp": now + 900}, rogue, algorithm="RS256", headers={"kid": "k1"}
    )
    assert web.get("/api/v1/me", headers=bearer(forged)).status_code == 401
    assert failures(web, "oidc") == 2
