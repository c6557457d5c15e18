"""Password sign-in: the one path from (user id, password, address) to a session.

:meth:`Login.authenticate`, in this order:

1. **Locked?** ``Lockout.check(user, addr)``: when either waits, refuse at once with
   ``LOCKED`` and ``retry_after_s`` (HTTP 429, ``Retry-After``); the password is not
   looked at and the try is not counted again.
2. **Password.** Unknown user, user without a password, or a wrong password: the same
   Argon2 work (a dummy hash for the first two) and the same answer ``WRONG_PAIR``
   (HTTP 401); the failure is counted for the user id and the address.
3. **Usable?** The right password of a disabled user (or one with no role left):
   ``DISABLED`` (HTTP 403); said only to whoever knows the password.
4. **Success**: the user's failure count clears, an outdated hash is upgraded, and a
   session is created (:class:`LoginOk` carries its cookie and CSRF tokens, once).

Nothing here logs the password or a token; a user id is logged only when it exists (a
password typed into the user box must not land in the log).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from gateway.people.lockout import Lockout
from gateway.people.models import NewSession, User
from gateway.people.sessions import SessionService
from gateway.people.users import UserService

log = logging.getLogger(__name__)


class LoginFailure(StrEnum):
    WRONG_PAIR = "wrong_pair"
    DISABLED = "disabled"
    LOCKED = "locked"


_STATUS = {LoginFailure.WRONG_PAIR: 401, LoginFailure.DISABLED: 403, LoginFailure.LOCKED: 429}
_MESSAGE = {
    LoginFailure.WRONG_PAIR: "wrong user or password",
    LoginFailure.DISABLED: "this user is disabled",
    LoginFailure.LOCKED: "too many failed sign-ins: try again later",
}


@dataclass(frozen=True, slots=True)
class LoginOk:
    ok: ClassVar[bool] = True
    user: User
    new: NewSession

    def body(self) -> dict[str, object]:
        """The login response (contract §6): user, name, roles and the CSRF token."""
        return {
            "user": self.user.id,
            "name": self.user.name,
            "roles": [r.value for r in self.user.roles],
            "crew": self.user.crew,
            "csrf_token": self.new.csrf_token,
        }


@dataclass(frozen=True, slots=True)
class LoginFailed:
    ok: ClassVar[bool] = False
    reason: LoginFailure
    #: seconds to wait (``LOCKED``; also set when this failure started a lock)
    retry_after_s: int = 0

    @property
    def status(self) -> int:
        """The HTTP status: 401, 403 or 429 (the failure that starts a lock is still a
        401; the next try gets the 429)."""
        return _STATUS[self.reason]

    @property
    def message(self) -> str:
        return _MESSAGE[self.reason]


class Login:
    def __init__(self, users: UserService, sessions: SessionService, lockout: Lockout) -> None:
        self.users = users
        self.sessions = sessions
        self.lockout = lockout

    def authenticate(self, user_id: str, password: str, addr: str | None) -> LoginOk | LoginFailed:
        wait = self.lockout.check(user_id, addr)
        if wait:
            self.users.passwords.verify_dummy("")  # a locked answer is no faster to get
            return LoginFailed(LoginFailure.LOCKED, wait)
        found = self.users.credentials(user_id) if isinstance(user_id, str) else None
        pw = password if isinstance(password, str) else ""
        if found is None:
            self.users.passwords.verify_dummy(pw)
            ok = False
        else:
            user, hashed = found
            ok = self.users.passwords.verify(hashed, pw)
        if not ok:
            wait = self.lockout.failed(user_id if isinstance(user_id, str) else None, addr)
            log.info(
                "sign-in failed for %s from %s",
                found[0].id if found else "an unknown user",
                addr or "?",
            )
            return LoginFailed(LoginFailure.WRONG_PAIR, wait)
        assert found is not None and hashed is not None
        if not user.usable:
            log.info("sign-in refused: user %s is disabled or has no role", user.id)
            return LoginFailed(LoginFailure.DISABLED)
        self.lockout.succeeded(user.id)
        if self.users.passwords.needs_rehash(hashed):
            self.users.rehash(user.id, pw)
        new = self.sessions.create(user, addr)
        log.info("user %s signed in from %s (session %s)", user.id, addr or "?", new.session.id)
        return LoginOk(user, new)
