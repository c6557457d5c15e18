"""Random secrets and their stored form.

Every secret sitewatch hands out (session cookie, CSRF token, API key) is 32 random bytes
from :mod:`secrets`, URL-safe base64. The store keeps only :func:`token_hash` of it
(SHA-256, hex): the secret has 256 bits of entropy, so a fast hash is enough (unlike a
password) and makes the lookup a plain indexed equality. Public ids (session and key
ids, which the journal may name) are separate random values, never derived from a secret.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32
#: API key tokens start with this, so a ``Bearer`` value tells at once what it is
KEY_PREFIX = "swk_"
#: a presented secret longer than this is refused before hashing
MAX_TOKEN_LEN = 256


def new_token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def new_id(prefix: str) -> str:
    """A public id such as ``s-3f9a0c1b2d4e5f60`` (matches the contract's ``ID_RE``)."""
    return f"{prefix}-{secrets.token_hex(8)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
