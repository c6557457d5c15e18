"""Inspection rounds: cleaning, security patrols and service checks done on a phone.

The package, by the part of a round's life each module holds:

- ``schedule``: when a template's rounds are due (RFC 5545 rules or fixed times, in the
  site's time zone); ``model``: the :class:`Round` record and its statuses;
- ``store``: templates, rounds, inspected checkpoints, answers (idempotency keys) and
  findings in the state store (migration 0006);
- ``findings``: answers judged against the checklist, failed items turned into tickets
  (one per failure, repeats added to the open one);
- ``rights``: who does a round; ``figures``: on time / late / missed, fail rates, finding
  to fix, hot spots;
- ``service``: :class:`RoundService`; ``wiring``: building it for a site.

Templates come from the site file's ``rounds:`` (``rules.site``) or the API.
"""

from __future__ import annotations

from gateway.rounds.model import SOURCE_INSPECTION, STATUSES, Round, RoundStatus
from gateway.rounds.service import RoundService

__all__ = ["SOURCE_INSPECTION", "STATUSES", "Round", "RoundService", "RoundStatus"]
