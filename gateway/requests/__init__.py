"""Requests from the people in the building: the zone's page, progress and survey.

- ``tokens``: zone tokens (HMAC of the zone, rotatable keys) and progress tokens (random,
  stored hashed);
- ``limits``: the page's submission limits (per address, per zone token), bounded;
- ``service``: :class:`RequestService`, from the page to a ticket and back;
- ``figures``: satisfaction by dimension, standard time, complaint replies, channels.
"""

from __future__ import annotations

from gateway.requests.figures import request_figures
from gateway.requests.service import (
    KINDS,
    RateLimited,
    RequestService,
    portal_keys,
)
from gateway.requests.tokens import ZoneTokens, zone_token

__all__ = [
    "KINDS",
    "RateLimited",
    "RequestService",
    "ZoneTokens",
    "portal_keys",
    "request_figures",
    "zone_token",
]
