"""The HTTP shapes of people, sign-in and keys (contract section 6).

Like ``api.schemas``: *public* models describe answers (extra fields pass through),
*request* models describe bodies (unknown fields are ignored). A password is accepted
only in a request body and appears in no answer; a key's token only in the answer of
its creation (:class:`KeyCreated`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StrictBool

from api.schemas import Public, Time
from rules.vocab import ID_RE, Role

UserId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_RE)]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class LoginIn(BaseModel):
    """``POST /api/v1/auth/login``."""

    user: str = Field(max_length=256)
    password: str = Field(max_length=1024)


class LoginOut(Public):
    """A signed-in person; ``csrf_token`` goes in ``X-CSRF-Token`` on every
    state-changing call (also in the readable cookie ``sitewatch_csrf``)."""

    user: str
    name: str
    roles: list[Role]
    crew: str | None = None
    csrf_token: str


class SignedOut(Public):
    """``POST /api/v1/auth/logout``: the session ended, its cookies cleared."""

    user: str
    signed_out: bool


class MeOut(Public):
    """``GET /api/v1/me``: who is calling. ``role`` is the one role the pages key their
    view on; ``via`` is how the caller came in (``session``, ``key``, ``token``, ``oidc``)."""

    user: str
    name: str
    roles: list[Role]
    crew: str | None = None
    role: str
    via: str


class UserPublic(Public):
    """A user as the admin sees it (never a password hash)."""

    user: str
    name: str
    roles: list[Role] = Field(description="what the user may do: granted and site roles")
    granted_roles: list[Role] = Field(description="given by an admin")
    site_roles: list[Role] = Field(description="given by the site file (crews, site manager)")
    crew: str | None = None
    active: bool
    has_password: bool
    created_at: Time
    updated_at: Time


class UserCreate(BaseModel):
    """``POST /api/v1/users``: an operator, manager, admin or integrator (crew members
    come from the site file)."""

    user: UserId
    roles: list[Role] = Field(min_length=1)
    name: str | None = Field(None, max_length=256)
    crew: UserId | None = None
    password: Password | None = None


class UserPatch(BaseModel):
    """``PATCH /api/v1/users/{id}``: what is given changes; ``roles`` replaces the granted
    roles (site roles follow the site file); ``crew: null`` removes the crew; a new
    ``password`` ends the user's sessions, ``active: false`` too."""

    name: str | None = Field(None, max_length=256)
    roles: list[Role] | None = None
    crew: UserId | None = None
    active: StrictBool | None = None  # no "true", 1 or "yes" for a boolean
    password: Password | None = None


class KeyCreate(BaseModel):
    """``POST /api/v1/keys``."""

    name: str = Field(min_length=1, max_length=128)
    roles: list[Role] = Field(min_length=1)
    expires_at: Time = Field(None, description="RFC 3339; none: the key does not expire")


class KeyPublic(Public):
    """An API key (never its token nor the token's hash)."""

    id: str
    name: str
    roles: list[Role]
    created_at: Time
    created_by: str | None = None
    expires_at: Time = None
    revoked_at: Time = None
    last_used_at: Time = None


class KeyCreated(KeyPublic):
    """A key just made: ``token`` is shown this once (``Authorization: Bearer``)."""

    token: str
