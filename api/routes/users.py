"""Users, for an admin: list, read, add, change (contract section 6).

Crew members, leads and the site manager come from the site file (each start syncs
them); the others (operators, managers, admins, integrators) are added here or with
``sitewatch users add``. A password given here is hashed (Argon2, in a worker thread)
and never shown again; ``active: false`` or a new password ends the user's sessions at
once. Every change is logged by the user service with the user id, never a password.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.auth import require
from api.routes.auth import hashing, need_people
from api.schemas import Page
from api.schemas_people import UserCreate, UserPatch, UserPublic
from gateway.people import Principal
from gateway.people.users import UNSET
from rules.vocab import Role

router = APIRouter(prefix="/api/v1/users", tags=["people"])

Admin = Annotated[Principal, require()]


@router.get("", response_model=Page[UserPublic])
async def list_users(
    request: Request,
    user: Admin,
    role: Role | None = None,
    crew: str | None = None,
    active: Annotated[bool | None, Query()] = None,
) -> dict[str, Any]:
    """Every user, by id."""
    items = [
        u.public() for u in need_people(request).users.list(role=role, crew=crew, active=active)
    ]
    return {"items": items, "total": len(items)}


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: str, request: Request, user: Admin) -> dict[str, Any]:
    return need_people(request).users.get(user_id).public()


@router.post("", status_code=201, response_model=UserPublic)
async def add_user(body: UserCreate, request: Request, user: Admin) -> dict[str, Any]:
    """Add a user (409 when the id exists); with ``password`` it may sign in at once."""
    people = need_people(request)
    added = await hashing(
        request,
        people.users.add,
        body.user,
        roles=[r.value for r in body.roles],
        name=body.name,
        crew=body.crew,
        password=body.password,
    )
    return added.public()  # type: ignore[no-any-return]


@router.patch("/{user_id}", response_model=UserPublic)
async def change_user(
    user_id: str, body: UserPatch, request: Request, user: Admin
) -> dict[str, Any]:
    """Change what the body gives (see :class:`UserPatch`)."""
    people = need_people(request)
    people.users.get(user_id)  # 404 before any work
    if body.password is not None:
        await hashing(request, people.users.set_password, user_id, body.password)
    given = body.model_fields_set
    changed = people.users.update(
        user_id,
        name=body.name,
        roles=None if body.roles is None else [r.value for r in body.roles],
        crew=body.crew if "crew" in given else UNSET,
        active=body.active,
    )
    return changed.public()
