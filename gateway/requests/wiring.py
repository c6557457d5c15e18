"""Building a site's request page and notifier from the settings (``build_site`` calls
:func:`build_requests`): the zone tokens' keys (configured or kept in the state store),
the outbox's channel destinations (``email:`` with aiosmtplib when ``smtp_url`` is set,
``chat:``), the notifier hooked into the ticket service's transactions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from gateway.clock import Clock
from gateway.notify import ChatChannel, EmailChannel, Notifier, Profiles, parse_smtp_url
from gateway.notify.delivery import CHAT_PREFIX, EMAIL_PREFIX
from gateway.outbox import Outbox
from gateway.requests.service import RequestService, portal_keys
from gateway.settings import Settings
from gateway.tickets import TicketService
from rules.model import RuleSpec
from rules.site import Site


def build_requests(
    settings: Settings,
    site: Site,
    clock: Clock,
    db: Engine,
    *,
    tickets: TicketService,
    outbox: Outbox | None,
    alarms: Any,
    specs: Mapping[str, RuleSpec],
) -> tuple[RequestService, Notifier]:
    s = settings
    site_id = s.site
    requests = RequestService(
        db,
        clock,
        site,
        tickets,
        keys=portal_keys(db, clock, s.portal_secret),
        site_id=site_id,
        repair_crew=s.portal_repair_crew,
    )
    if outbox is not None:
        target = parse_smtp_url(s.smtp_url) if s.smtp_url else None
        outbox.channels[EMAIL_PREFIX] = EmailChannel(target, s.smtp_from, site_id)
        outbox.channels[CHAT_PREFIX] = ChatChannel()
    notifier = Notifier(
        db,
        clock,
        site,
        Profiles(db, clock),
        outbox,
        site_id=site_id,
        specs=specs,
        alarms=alarms,
        per_hour=s.notify_per_hour,
        link_base=s.public_url,
    )
    tickets.notifier = notifier
    return requests, notifier
