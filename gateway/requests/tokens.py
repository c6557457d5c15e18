"""The two kinds of token on a request's way: the zone's and the request's own.

**Zone tokens** (the link a zone's QR code carries, ``/r/{zone_token}``): the first 128
bits of HMAC-SHA256(key, ``"sitewatch-zone\\0<site>\\0<zone>"``), base64url without
padding (22 characters). Nobody can make a token for a zone without the key, so a page
for a zone that was not printed cannot be forged (the route answers 404). **Rotation**:
``keys`` is a list; the first signs (the QR codes printed from now on), every one is
accepted, so codes already on the walls keep working until their key is removed from the
list. A token is resolved by a table of every (key, zone) token built once (zones are
few); the table compares whole tokens, never a prefix.

**Progress tokens** (``/p/{progress_token}``): 192 random bits (``secrets``), base64url.
Only their SHA-256 is stored (``portal_requests.token_hash``), so the database alone
never shows a working link; a guessed token finds nothing (2^-192 per guess).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

ZONE_TOKEN_LEN = 22
PROGRESS_TOKEN_BYTES = 24


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def zone_token(key: str, site: str, zone: str) -> str:
    mac = hmac.new(key.encode(), f"sitewatch-zone\0{site}\0{zone}".encode(), hashlib.sha256)
    return _b64(mac.digest()[:16])


def parse_keys(text: str | Sequence[str]) -> list[str]:
    """``"new,old"`` → ``["new", "old"]`` (blank items dropped, order kept)."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for raw in items:
        k = raw.strip()
        if k and k not in out:
            out.append(k)
    return out


class ZoneTokens:
    """Zone tokens of ``site``'s ``zones`` under ``keys`` (the first signs)."""

    def __init__(self, keys: Sequence[str], site: str, zones: Iterable[str]) -> None:
        if not keys:
            raise ValueError("at least one key signs the zone tokens")
        for k in keys:
            if len(k) < 16:
                raise ValueError("a portal key has at least 16 characters")
        self.site = site
        self.keys = list(keys)
        self._zones = list(zones)
        self._by_token: dict[str, str] = {}
        for key in reversed(self.keys):  # the signing key's tokens win a (vanishing) clash
            for z in self._zones:
                self._by_token[zone_token(key, site, z)] = z

    def sign(self, zone: str) -> str:
        if zone not in self._zones:
            raise KeyError(zone)
        return zone_token(self.keys[0], self.site, zone)

    def zone(self, token: str) -> str | None:
        """The zone of ``token``, or ``None`` (a forged or retired token)."""
        if len(token) != ZONE_TOKEN_LEN:
            return None
        return self._by_token.get(token)


def new_progress_token() -> str:
    return secrets.token_urlsafe(PROGRESS_TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
