"""People: users, password sign-in, sessions, lock-out, API keys, single sign-on, and
the :class:`Principal` every request carries (issue 9, contract §6).

Everything lives in the state store (migration 0003: ``users``, ``sessions``,
``api_keys``, ``login_throttle``); every service is synchronous and short, over the
store's engine and the gateway clock. Passwords are Argon2 hashes; session, CSRF and key
tokens are stored as SHA-256 hashes; none of them is ever logged. Single sign-on
(:class:`gateway.people.oidc.OidcVerifier`) is imported from its module: it needs PyJWT,
which nothing else here does.
"""

from gateway.people.keys import KeyService, key_principal
from gateway.people.lockout import Lockout
from gateway.people.login import Login, LoginFailed, LoginFailure, LoginOk
from gateway.people.models import (
    ApiKey,
    NewKey,
    NewSession,
    Session,
    Unauthenticated,
    User,
    parse_roles,
)
from gateway.people.passwords import Passwords, new_password
from gateway.people.principal import (
    Principal,
    Via,
    check_move,
    check_reassign,
    may_move_ticket,
    may_reassign,
    role_token_principal,
)
from gateway.people.service import People
from gateway.people.sessions import SessionService, session_principal
from gateway.people.users import SyncReport, UserService, site_people

__all__ = [
    "ApiKey",
    "KeyService",
    "Lockout",
    "Login",
    "LoginFailed",
    "LoginFailure",
    "LoginOk",
    "NewKey",
    "NewSession",
    "Passwords",
    "People",
    "Principal",
    "Session",
    "SessionService",
    "SyncReport",
    "Unauthenticated",
    "User",
    "UserService",
    "Via",
    "check_move",
    "check_reassign",
    "key_principal",
    "may_move_ticket",
    "may_reassign",
    "new_password",
    "parse_roles",
    "role_token_principal",
    "session_principal",
    "site_people",
]
