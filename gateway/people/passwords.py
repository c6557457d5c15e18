"""Password hashing: Argon2id through argon2-cffi.

:class:`Passwords` hashes with ``argon2.PasswordHasher`` (RFC 9106 low-memory profile by
default: Argon2id, 64 MiB, 3 passes) and verifies in the library's constant-time way.
:meth:`Passwords.verify_dummy` runs the same work (it hashes the password given),
so signing in as an unknown user, or as one without a password yet, takes as long as a
wrong password for a real one (no user enumeration by timing). A hash made with older
parameters is upgraded at the next successful sign-in (:meth:`needs_rehash`).

The policy (:meth:`check`) follows NIST SP 800-63B: at least 8 characters, at most 1024
(to bound hashing work), any characters. A password is never logged nor stored in
clear; the exceptions raised here never quote it.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.errors import Invalid

MIN_LENGTH = 8
MAX_LENGTH = 1024


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    @staticmethod
    def check(password: str) -> None:
        """:class:`Invalid` when ``password`` does not meet the policy."""
        if not isinstance(password, str) or len(password) < MIN_LENGTH:
            raise Invalid(f"a password has at least {MIN_LENGTH} characters")
        if len(password) > MAX_LENGTH:
            raise Invalid(f"a password has at most {MAX_LENGTH} characters")

    def hash(self, password: str) -> str:
        self.check(password)
        return self._hasher.hash(password)

    def verify(self, hashed: str | None, password: str) -> bool:
        """``password`` matches ``hashed``; a missing hash does the dummy's work."""
        if hashed is None or not isinstance(password, str) or len(password) > MAX_LENGTH:
            self.verify_dummy(password if isinstance(password, str) else "")
            return False
        try:
            return self._hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """The work of one verification, for a user that does not exist: hashing the
        password is the same Argon2 work as checking it against a hash of the same
        parameters (no dummy hash is made at start, where its 64 MiB would set the
        gateway's peak memory)."""
        self._hasher.hash(password[:MAX_LENGTH])

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True


def new_password() -> str:
    """A random password for a first-run admin or a demo user (16 characters)."""
    return secrets.token_urlsafe(12)
