"""API keys for machines, for an admin: list, create, revoke (contract section 6).

A key is made with a name, roles and an optional expiry; the answer of its creation
(201) is the only place its token ever appears (the store keeps a SHA-256 hash). The
token works as ``Authorization: Bearer <token>`` until it expires or is revoked
(``DELETE``): the next call with it gets 401, since every call reads the store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request

from api.auth import require
from api.routes.auth import need_people
from api.schemas import Page
from api.schemas_people import KeyCreate, KeyCreated, KeyPublic
from gateway.clock import parse_rfc3339_ms
from gateway.errors import Invalid
from gateway.people import Principal

router = APIRouter(prefix="/api/v1/keys", tags=["people"])

Admin = Annotated[Principal, require()]


@router.get("", response_model=Page[KeyPublic])
async def list_keys(request: Request, user: Admin, revoked: bool = True) -> dict[str, Any]:
    """Every key (``revoked=false``: the live ones), oldest first; never a token."""
    keys = need_people(request).keys.list(include_revoked=revoked)
    items = [k.public() for k in keys]
    return {"items": items, "total": len(items)}


@router.post("", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyCreate, request: Request, user: Admin) -> dict[str, Any]:
    """A new key: ``{"id", "token", ...}``, the token shown this once."""
    expires: int | None = None
    if body.expires_at is not None:
        try:
            expires = parse_rfc3339_ms(body.expires_at)
        except ValueError as exc:
            raise Invalid(f"expires_at: {exc}") from None
    new = need_people(request).keys.create(
        body.name, [r.value for r in body.roles], expires, by=user.user
    )
    return {**new.key.public(), "token": new.token}


@router.delete("/{key_id}", response_model=KeyPublic)
async def revoke_key(key_id: str, request: Request, user: Admin) -> dict[str, Any]:
    """Revoke (idempotent): from now on the token gets 401; the key stays listed with
    ``revoked_at`` so the journal's ``via_id`` still names it. 404 for an unknown id."""
    return need_people(request).keys.revoke(key_id).public()
