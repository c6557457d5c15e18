"""One site's services, built by one factory: the unit a process serves.

:func:`build_site` makes everything that holds a site's state — the state store, the rule
engine (which owns device state), the alarm and ticket services, the outbox, the rules
stage that glues them, the device registry view and the alarm fan-out — and wires their
listeners. It starts nothing: the runtime (``gateway.runtime``) runs the site's periodic
work (:meth:`SiteServices.tick`) and its outbox task. A process that serves several sites
calls it once per site; nothing here is a module-level singleton. What a site does not
use is not imported (single sign-on's PyJWT only when it is configured): every module
imported stays in the gateway's memory for its whole life. A new service (preventive
maintenance, rounds, requests) is built here beside the others and joins ``tick``; the
hot path (pipeline, rules stage) does not change.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.alarms import AlarmService
from gateway.clock import Clock
from gateway.dispatch import ServiceLevels
from gateway.events import Hub
from gateway.maintenance import MaintenanceService
from gateway.metrics import Metrics
from gateway.notify import Notifier
from gateway.outbox import MqttSender, Outbox
from gateway.people import People
from gateway.registry import Registry
from gateway.requests import RequestService
from gateway.requests.wiring import build_requests
from gateway.rounds import RoundService
from gateway.rounds.wiring import build_rounds
from gateway.rules_stage import LINK_RULE, RulesStage
from gateway.settings import Settings
from gateway.store import open_store
from gateway.store.rule_state import RuleStateStore
from gateway.tickets import TicketService
from rules import RuleEngine, load_pack
from rules.pack import RulePack, load_packs
from rules.site import Site

log = logging.getLogger("sitewatch")

Publish = Callable[[str, bytes, int, bool], None]
#: how often the people services sweep expired sessions and stale lock-out rows
PEOPLE_TICK_MS = 60_000


@dataclass
class SiteServices:
    site: Site
    site_id: str
    db: Any
    pack: RulePack
    engine: RuleEngine
    registry: Registry
    alarms: AlarmService
    tickets: TicketService
    outbox: Outbox
    rules: RulesStage
    hub: Hub
    people: People
    maintenance: MaintenanceService
    requests: RequestService
    notifier: Notifier
    rounds: RoundService
    _people_at_ms: int = field(default=0, init=False, repr=False)

    def tick(self, now_ms: int) -> None:
        """Once a second: rule delays and silence, alarm timers, ticket clocks, meters;
        once a minute: expired sessions and stale lock-out rows, due maintenance; critical
        alarms unacknowledged 60 s told to the leads and the site manager (notifier)."""
        self.rules.tick(now_ms)
        self.alarms.tick(now_ms / 1000)
        self.tickets.tick(now_ms)
        self.notifier.tick(now_ms)
        self.maintenance.tick(now_ms)
        self.rounds.tick(now_ms)
        if now_ms - self._people_at_ms >= PEOPLE_TICK_MS:
            self._people_at_ms = now_ms
            self.people.tick()


def build_site(
    settings: Settings,
    site: Site,
    clock: Clock,
    metrics: Metrics,
    *,
    mqtt: MqttSender | None,
    publish: Publish,
    store: Any = None,
) -> SiteServices:
    """``store``: the site's state store engine, already open (a cluster fences it:
    ``gateway.cluster.fence``); ``None`` opens ``settings.db_url``."""
    s = settings
    site_id = site.site
    pack = load_pack(s.rules_file) if s.rules_file else load_packs(s.rule_packs)
    engine = RuleEngine(site, pack)
    db = store if store is not None else open_store(s.db_url)
    specs = dict(pack.specs)
    specs[LINK_RULE.id] = LINK_RULE
    alarms = AlarmService(db, specs, clock, site)
    outbox = Outbox(
        db,
        clock,
        site_id,
        mqtt=mqtt,
        webhooks=s.webhook_urls,
        secret=s.webhook_secret,
        backoff_max_s=s.outbox_backoff_max_s,
        timeout_s=s.webhook_timeout_s,
    )
    tickets = TicketService(
        db,
        specs,
        clock,
        site,
        site_id=site_id,
        alarms=alarms,
        outbox=outbox,
        levels=ServiceLevels(s.ticket_sla),
        escalate_at=s.ticket_escalate_at,
        complaint_reply_h=s.complaint_reply_h,
    )
    rules = RulesStage(engine, alarms, tickets, RuleStateStore(db, clock), clock, site_id)
    rules.restore()
    hub = Hub(on_delay=metrics.sse_delay.observe)
    people = People(db, clock)
    if s.oidc_issuer or s.oidc_audience or s.oidc_jwks_url:
        # single sign-on configured: PyJWT and its crypto (~9 MB) only then
        from gateway.people.oidc_setup import oidc_from_settings

        people.oidc = oidc_from_settings(settings, clock, people.users)
    people.users.sync_from_site(site)  # every crew member a user (idempotent)
    requests, notifier = build_requests(
        s, site, clock, db, tickets=tickets, outbox=outbox, alarms=alarms, specs=specs
    )
    maintenance = MaintenanceService(db, site, clock, tickets, devices=engine.devices)
    rounds = build_rounds(s, site, clock, db, tickets=tickets, notifier=notifier, site_id=site_id)
    requests.photos = rounds.photos  # a request page's photo is kept like a round's

    def on_alarm_change(seq: int, alarm: dict[str, Any]) -> None:
        hub.publish(seq, alarm)
        topic = f"sitewatch/{site_id}/alarms/{alarm['id']}"
        try:
            publish(topic, json.dumps(alarm, separators=(",", ":")).encode(), 1, True)
        except Exception:  # noqa: BLE001
            log.exception("cannot publish alarm %s", alarm["id"])

    alarms.subscribe(on_alarm_change)
    return SiteServices(
        site=site,
        site_id=site_id,
        db=db,
        pack=pack,
        engine=engine,
        registry=Registry(engine.devices, clock),
        alarms=alarms,
        tickets=tickets,
        outbox=outbox,
        rules=rules,
        hub=hub,
        people=people,
        requests=requests,
        notifier=notifier,
        maintenance=maintenance,
        rounds=rounds,
    )
