"""A small stand-in for the running gateway: just what the HTTP layer reads from it.

:class:`FakeRuntime` carries the attributes the routes use (``tokens``, ``alarms``,
``tickets``, ``registry``, ``clock``, ``sink``, ``health()``, ...); its services keep
their objects in dicts and raise the gateway's own domain errors, so a test sees the
HTTP layer exactly as it treats the real services, without a database or a broker.
"""

from __future__ import annotations

import asyncio
import builtins
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from api.main import create_app
from gateway.clock import ManualClock, iso_ms
from gateway.errors import Conflict, Invalid, NotFound
from gateway.events import Hub
from gateway.sinks import QueryFailed

TOKENS = {
    "viewer": "tok-viewer-1",
    "operator": "tok-operator-1",
    "technician": "tok-tech-1",
    "admin": "tok-admin-1",
}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def alarm(alarm_id: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": alarm_id,
        "rule": "lighting.lamp_failure",
        "site": "sc01",
        "system": "lighting",
        "device": "lt-01",
        "point": None,
        "zone": "lobby",
        "priority": "low",
        "state": "active_unacked",
        "shelved": False,
        "suppressed": False,
        "out_of_service": False,
        "chattering": False,
        "raised_at": iso_ms(1_767_225_600_000),
        "source_ts": iso_ms(1_767_225_599_000),
        "cleared_at": None,
        "acked_at": None,
        "acked_by": None,
        "value": True,
        "message": "lamp failed",
        "action": "replace it",
        "ticket_ids": [],
        "count": 1,  # an extra the contract does not list
    }
    base.update(over)
    return base


def ticket(ticket_id: int, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": ticket_id,
        "title": "Bin full",
        "category": "cleaning",
        "priority": "low",
        "status": "open",
        "source": "person",
        "rule": None,
        "crew": "cleaning",
        "assignee": None,
        "device": None,
        "alarm_id": None,
        "created_at": iso_ms(1_767_225_600_000),
        "assigned_at": None,
        "started_at": None,
        "resolved_at": None,
        "closed_at": None,
        "assign_by": None,
        "respond_by": None,
        "resolve_by": None,
        "callback_by": None,
        "breached": [],
        "repeat_of": None,
        "satisfaction": None,
        "allowed": ["assigned", "cancelled"],  # an extra
    }
    base.update(over)
    return base


@dataclass
class FakeAlarms:
    alarms: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def list(self, **kw: Any) -> tuple[list[dict[str, Any]], int]:
        self.calls.append(("list", kw))
        items = list(self.alarms.values())
        return items, len(items)

    def get(self, alarm_id: int) -> dict[str, Any]:
        if alarm_id not in self.alarms:
            raise NotFound(f"no alarm {alarm_id}")
        return {
            **self.alarms[alarm_id],
            "journal": [
                {
                    "id": 1,
                    "at": iso_ms(1_767_225_600_000),
                    "user": "system",
                    "action": "raise",
                    "reason": None,
                    "alarm_id": alarm_id,
                    "ticket_id": None,
                    "detail": {},
                }
            ],
        }

    def ack(
        self, alarm_id: int, user: str, note: str | None, *, audit: Any = None
    ) -> dict[str, Any]:
        self.calls.append(("ack", alarm_id, user, note, audit))
        a = self.get(alarm_id)
        if a["state"] != "active_unacked":
            raise Conflict(f"alarm {alarm_id} is {a['state']}: nothing to acknowledge")
        self.alarms[alarm_id].update(state="active_acked", acked_by=user)
        return self.alarms[alarm_id]

    def shelve(
        self, alarm_id: int, user: str, minutes: int, reason: str, *, audit: Any = None
    ) -> dict[str, Any]:
        self.calls.append(("shelve", alarm_id, user, minutes, reason))
        a = self.get(alarm_id)
        if a["priority"] == "critical":
            raise Conflict(f"alarm {alarm_id} is critical: critical alarms are never shelved")
        if minutes > 480:
            raise Invalid("minutes must be between 1 and 480")
        self.alarms[alarm_id]["shelved"] = True
        return self.alarms[alarm_id]

    def unshelve(self, alarm_id: int, user: str, *, audit: Any = None) -> dict[str, Any]:
        self.get(alarm_id)
        self.alarms[alarm_id]["shelved"] = False
        return self.alarms[alarm_id]

    def kpis(self) -> dict[str, Any]:
        return {"activations": 0, "rate": {"average": 0.0}}

    # what the SSE stream reads: the snapshot and the changes after a Last-Event-ID
    def current_seq(self) -> int:
        return len(self.alarms)

    def open_alarms(self) -> builtins.list[dict[str, Any]]:
        return [a for a in self.alarms.values() if a["state"] != "closed"]

    def changes_since(
        self, seq: int, limit: int = 1000
    ) -> builtins.list[tuple[int, dict[str, Any]]]:
        self.calls.append(("changes_since", seq))
        return []


@dataclass
class FakeTickets:
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def list(
        self, status: str | None, crew: str | None, **kw: Any
    ) -> tuple[list[dict[str, Any]], int]:
        self.calls.append(("list", status, crew, kw))
        items = list(self.tickets.values())
        return items, len(items)

    def get(self, ticket_id: int) -> dict[str, Any]:
        if ticket_id not in self.tickets:
            raise NotFound(f"no ticket {ticket_id}")
        return {**self.tickets[ticket_id], "journal": []}

    def create(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("create", kw))
        tid = len(self.tickets) + 1
        self.tickets[tid] = ticket(
            tid,
            title=kw["title"],
            category=kw["category"],
            priority=kw["priority"],
            device=kw["device"],
        )
        return self.tickets[tid]

    def transition(self, ticket_id: int, to: str, user: str, **kw: Any) -> dict[str, Any]:
        self.calls.append(("transition", ticket_id, to, user, kw))
        self.get(ticket_id)
        self.tickets[ticket_id]["status"] = to
        return self.tickets[ticket_id]

    def kpis(self, days: float = 30.0) -> dict[str, Any]:
        return {"overall": {}, "by_crew": {}, "days": days}


@dataclass
class FakeDevice:
    id: str
    system: str = "lighting"
    zone: str | None = "lobby"
    name: str = "Lamp"
    type: str | None = "lamp"

    def online(self, now_ms: int) -> bool:
        return True


class FakeRegistry:
    def __init__(self, *devices: FakeDevice) -> None:
        self.devices = {d.id: d for d in devices}

    def public(self, st: FakeDevice, now_ms: int | None = None) -> dict[str, Any]:
        return {
            "id": st.id,
            "device": st.id,
            "name": st.name,
            "system": st.system,
            "type": st.type,
            "zone": st.zone,
            "online": True,
            "last_seen": None,
            "values": {"on": True},
            "messages": 0,
        }


class FakeSink:
    def __init__(self) -> None:
        self.queries: list[tuple[Any, ...]] = []
        self.down = False  # True: the store does not answer (QueryFailed, as a sink raises)

    async def query(
        self, device: str, field_: str | None, start: int | None, end: int | None, limit: int
    ) -> list[dict[str, Any]]:
        self.queries.append((device, field_, start, end, limit))
        if self.down:
            raise QueryFailed("InfluxDB at http://127.0.0.1:1 did not answer: connection refused")
        return [{"ts": 1_767_225_600_000, "field": "on", "value": 1.0}]


class FakeRuntime:
    """What ``app.state.runtime`` offers the routes."""

    def __init__(self) -> None:
        self.tokens = {token: role for role, token in TOKENS.items()}
        self.clock = ManualClock()
        self.alarms: FakeAlarms | None = FakeAlarms()
        self.tickets: FakeTickets | None = FakeTickets()
        self.registry = FakeRegistry(FakeDevice("lt-01"))
        self.sink = FakeSink()
        self.site_id = "sc01"
        self.site = SimpleNamespace(
            name="Sales centre", timezone="Asia/Shanghai", zones=[], crews=[]
        )
        self.metrics = SimpleNamespace(registry=CollectorRegistry())
        self.status = "ok"
        self.settings = SimpleNamespace()  # a test sets what it tries (sse_max_clients, ...)
        self.alarm_hub = Hub()
        self.stopping = asyncio.Event()  # set: a stream sends its snapshot and ends

    def health(self) -> dict[str, Any]:
        return {"status": self.status, "site": self.site_id, "uptime_s": 1.0}

    def refresh_gauges(self) -> None:
        pass

    def ack_alarm(
        self, alarm_id: int, user: str, note: str | None, *, audit: Any = None
    ) -> dict[str, Any]:
        assert self.alarms is not None
        return self.alarms.ack(alarm_id, user, note, audit=audit)

    def extra_routers(self) -> list[Any]:
        return []


def make_app(rt: FakeRuntime | None = None) -> tuple[FastAPI, FakeRuntime]:
    runtime = rt or FakeRuntime()
    return create_app(runtime), runtime  # type: ignore[arg-type]


def with_real_services(rt: FakeRuntime, tmp: Path) -> Any:
    """Swap the fake alarm and ticket services for the gateway's own (``build_site`` on a
    SQLite file under ``tmp``), the hub and the acknowledgement with them; returns them."""
    from gateway.metrics import Metrics
    from gateway.services import build_site
    from gateway.settings import Settings
    from gateway.site import load_site

    settings = Settings(db_url=f"sqlite:///{tmp / 'state.db'}", site="sc01")
    svc = build_site(
        settings, load_site(None), rt.clock, Metrics(), mqtt=None, publish=lambda *a: None
    )
    rt.alarms = svc.alarms  # type: ignore[assignment]
    rt.tickets = svc.tickets  # type: ignore[assignment]
    rt.alarm_hub = svc.hub
    rt.ack_alarm = svc.rules.acknowledge  # type: ignore[method-assign]
    return svc
