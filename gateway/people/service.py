"""The people services together, as the gateway holds them.

:class:`People` is built once at start over the state store's engine and the gateway
clock; the HTTP layer reaches everything through it. Lifecycle at start::

    people = People(db, clock)            # optionally oidc=OidcVerifier(...)
    people.users.sync_from_site(site)     # every crew member a user (idempotent)
    password = people.users.ensure_admin()  # first run: print it once, never log it

Per request the HTTP layer asks :meth:`People.session` (cookie) or :meth:`People.bearer`
(``Authorization: Bearer``) for a :class:`Principal`; both raise :class:`Unauthenticated`
(401), and a state-changing call without the session's CSRF token is :class:`Forbidden`
(403). ``bearer`` takes API keys (``swk_...``) and, when single sign-on is configured,
ID tokens (three dot-separated parts); the shared ``SITEWATCH_API_TOKENS`` stay with the
HTTP layer (:func:`role_token_principal`) and are checked before this.
:meth:`People.tick` (once a minute is plenty) sweeps expired sessions and stale
throttle rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.errors import Forbidden
from gateway.people.keys import KeyService
from gateway.people.lockout import Lockout
from gateway.people.login import Login
from gateway.people.models import Session, Unauthenticated
from gateway.people.passwords import Passwords
from gateway.people.principal import Principal
from gateway.people.sessions import IDLE_S, SessionService, session_principal
from gateway.people.tokens import KEY_PREFIX
from gateway.people.users import UserService

if TYPE_CHECKING:  # PyJWT is needed only when single sign-on is configured
    from gateway.people.oidc import OidcVerifier


class People:
    def __init__(
        self,
        db: Engine,
        clock: Clock,
        *,
        passwords: Passwords | None = None,
        idle_s: float = IDLE_S,
        oidc: OidcVerifier | None = None,
    ) -> None:
        self.users = UserService(db, clock, passwords)
        self.sessions = SessionService(db, clock, idle_s=idle_s)
        self.lockout = Lockout(db, clock)
        self.keys = KeyService(db, clock)
        self.login = Login(self.users, self.sessions, self.lockout)
        self.oidc = oidc

    def session(
        self, token: str | None, *, csrf: str | None = None, need_csrf: bool = False
    ) -> tuple[Principal, Session]:
        """The caller behind session cookie ``token``; with ``need_csrf`` (a
        state-changing call) the ``X-CSRF-Token`` header ``csrf`` must match."""
        session = self.sessions.lookup(token)
        if need_csrf and not session.csrf_ok(csrf):
            raise Forbidden("missing or wrong CSRF token (X-CSRF-Token)")
        return session_principal(session), session

    def bearer(self, token: str | None) -> Principal:
        """The caller behind a ``Bearer`` value: an API key or an ID token."""
        if token and token.startswith(KEY_PREFIX):
            return self.keys.principal(token)
        if token and self.oidc is not None and token.count(".") == 2:
            return self.oidc.principal(token)
        raise Unauthenticated("invalid token")

    def tick(self) -> None:
        self.sessions.purge()
        self.lockout.purge()
