"""The rules stage: device state and rule evaluation on every message, hits to alarms and
tickets, the engine's pending timers saved before messages are acknowledged.

Lifecycle: built by the site factory (``gateway.services``) with the engine, the alarm and
ticket services and the rule-state store; :meth:`RulesStage.restore` once at start (saved
timers and device values, open alarms as active keys); then handed to the pipeline as a
processor (``stage(msg)``) and as its ack gate (``stage.ready()``); the runtime's ticker
calls :meth:`RulesStage.tick`, the MQTT links report to :meth:`RulesStage.link_state`.

A message's hits write their alarms at once and reach their tickets in the loop's next
turn (the alarm's SSE frame goes out first); acknowledgements wait for those tickets too.

Runs on the event loop only. A failure to apply one hit (the state store refused it) is
logged and counted (``errors``), never raised into the pipeline: the reading is still
stored, and the engine stays consistent with what it evaluated.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, Protocol

from gateway.clock import Clock, parse_iso_ms
from rules.engine import RuleEngine
from rules.model import Event, Message, RuleHit, RuleSpec, Status, Telemetry
from rules.vocab import ACTIVE_STATES

log = logging.getLogger("sitewatch.rules")

LINK_RULE = RuleSpec(
    id="gateway.broker_link",
    system=None,
    priority="high",  # type: ignore[arg-type]
    raises="alarm",
    message="the gateway lost its link to the MQTT broker ({device})",
    action="Check the broker and the network between gateway and broker; "
    "no device data arrives while the link is down.",
    cause="broker down, network failure or wrong credentials",
    consequence="the control room is blind: no alarms from any device",
)
#: after the broker link was down, silence-based offline waits this long
LINK_GRACE_S = 120.0
#: the engine's state is saved at most this often (acknowledgements wait for it)
RULE_STATE_SAVE_S = 0.25
#: a failed save is tried again after this long (acknowledgements wait meanwhile)
RULE_STATE_RETRY_S = 1.0
DEVICE_STATE_PREFIX = "device:"
#: hits of one tick from this many on are a flood: written in batches (gateway.alarms.batch)
FLOOD_HITS = 100
#: a flood's hits gathered for the tickets at most, before they are handed over
FLOOD_TICKETS_MAX = 500
#: silence is judged in slices of at most this many devices or hits, the loop served
#: between them (30,000 devices judged offline at once are 30 slices of 20-40 ms, not one
#: turn of 230-280 ms in which nothing else, fire alarms included, is read)
SILENCE_SLICE_DEVICES = 5000
SILENCE_SLICE_HITS = 1000
#: a save of the engine's state writes at most this many changed devices; more (30,000
#: devices judged offline at once) are written by further saves, one per loop turn,
#: acknowledgements held until the last
SAVE_DEVICES_MAX = 500


class _Alarms(Protocol):
    def apply(self, hit: RuleHit) -> Any: ...
    def ack(
        self,
        alarm_id: int | str,
        user: str,
        note: str | None = None,
        *,
        audit: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...
    def open_alarms(self) -> list[dict[str, Any]]: ...


class _Tickets(Protocol):
    def on_hit(self, hit: RuleHit, alarm_id: int | None = None) -> Any: ...


class _StateStore(Protocol):
    def load_rule_state(self, name: str = "engine") -> dict[str, Any]: ...
    def load_rule_state_parts(self, prefix: str) -> dict[str, dict[str, Any]]: ...
    def save_rule_state_parts(self, parts: dict[str, dict[str, Any]]) -> None: ...


class RulesStage:
    name = "rules"

    def __init__(
        self,
        engine: RuleEngine,
        alarms: _Alarms,
        tickets: _Tickets | None,
        state: _StateStore,
        clock: Clock,
        site_id: str,
    ) -> None:
        self.engine = engine
        self.alarms = alarms
        self.tickets = tickets
        self.state = state
        self.clock = clock
        self.site_id = site_id
        self.errors = 0
        self.failures = 0  # failed saves of the engine's state
        self.release: Callable[[], None] = lambda: None  # the pipeline's ack_held
        self._saved_at = 0.0
        self._dirty = False
        self._deferred: asyncio.TimerHandle | None = None
        self._closed = False
        # a message's hits whose alarms are written, on their way to the tickets in the
        # loop's next turn (``_dispatch_later``), and whether the ack gate waits for them
        self._later: list[tuple[RuleHit, Any]] = []
        self._later_handle: asyncio.Handle | None = None
        self._held_for_later = False
        self._on_message = False
        # a flood's hits on their way to the tickets (``_dispatch_flood``)
        self._flood_tickets: list[tuple[RuleHit, int | None]] = []
        self._flood_handle: asyncio.Handle | None = None
        # the next slice of a silence judgement (``_judge_more``)
        self._judge_handle: asyncio.Handle | None = None

    # -- start --------------------------------------------------------------------------
    def restore(self) -> None:
        """The engine's saved core row and per-device rows, then the open alarms the store
        knows as active keys (never raised twice), then the link grace after a restart."""
        state = self.state.load_rule_state()
        parts = self.state.load_rule_state_parts(DEVICE_STATE_PREFIX)
        state["devices"] = {
            **(state.get("devices") or {}),
            **{k[len(DEVICE_STATE_PREFIX) :]: v for k, v in parts.items()},
        }
        self.engine.restore(state)
        now = self.clock.now_ms()
        self.engine.restore(
            {
                "active": [
                    {
                        "rule": a["rule"],
                        "device": a["device"],
                        "point": a["point"],
                        "since_ms": parse_iso_ms(a.get("source_ts")) or now,
                    }
                    for a in self.alarms.open_alarms()
                    if a["state"] in ACTIVE_STATES
                ]
            }
        )
        self.engine.link_restored(now, LINK_GRACE_S)

    # -- the processor ------------------------------------------------------------------
    def __call__(self, msg: Message) -> None:
        self._dirty = True
        if isinstance(msg, Telemetry):
            hits = self.engine.on_telemetry(msg)
        elif isinstance(msg, Event):
            hits = self.engine.on_event(msg)
        elif isinstance(msg, Status):
            hits = self.engine.on_status(msg, self.clock.now_ms())
        else:  # pragma: no cover - the decoder makes only these
            return
        self._on_message = True  # its hits' tickets: in the loop's next turn
        try:
            for h in hits:
                self.apply(h)
        finally:
            self._on_message = False

    def apply(self, hit: RuleHit) -> None:
        """A hit to its alarm, then to its tickets (a message's hit: in the loop's next
        turn, see :meth:`_dispatch_later`); one hit's trouble stops nothing."""
        self._dirty = True  # a hit moved the engine (on a message, the clock or an ack)
        try:
            alarm = self.alarms.apply(hit)
        except Exception:  # noqa: BLE001
            self.errors += 1
            log.exception("cannot apply %s %s/%s", hit.rule, hit.device, hit.point)
            alarm = None
        (self._dispatch_later if self._on_message else self._dispatch)(hit, alarm)

    def _dispatch_later(self, hit: RuleHit, alarm: Any) -> None:
        """A message's hit to its tickets in the loop's next turn: its alarm is written and
        published, and its SSE frame (scheduled before) goes out before the tickets'
        transactions run (a fire alarm opens two, ~10-20 ms each): the control room sees
        the alarm first. In order with every other hit (each dispatch runs what waits
        here first); the ack gate (:meth:`ready`) holds acknowledgements until they ran."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop: at once
            self._dispatch(hit, alarm)
            return
        self._later.append((hit, alarm))
        if self._later_handle is None:
            self._later_handle = loop.call_soon(self._run_later)

    def _run_later(self) -> None:
        self._later_handle = None
        self._flush_later()
        if self._held_for_later:  # the ack gate refused for these: release what it held
            self._held_for_later = False
            if self.save():
                self.release()

    def _flush_later(self) -> None:
        items, self._later = self._later, []
        for hit, alarm in items:
            self._dispatch(hit, alarm)

    def _dispatch(self, hit: RuleHit, alarm: Any) -> None:
        """The hit to its tickets, once its alarm is written (``alarm``: it, or None)."""
        if self._later:
            self._flush_later()  # a message's earlier hits reach their tickets first
        if self._flood_tickets:
            self._flush_flood_tickets()  # a flood's earlier hits reach their tickets first
        if self.tickets is not None:
            try:
                self.tickets.on_hit(hit, alarm.id if alarm is not None else None)
            except Exception:  # noqa: BLE001
                self.errors += 1
                log.exception("cannot dispatch tickets for %s %s", hit.rule, hit.device)

    def _dispatch_flood(self, hit: RuleHit, alarm: Any) -> None:
        """A flood's hit to its tickets: gathered, and handed over together once the
        alarm backlog lets the loop run (``TicketService.on_hits``: one transaction per
        batch, none for hits with nothing to write), in order with any later hit."""
        on_hits = getattr(self.tickets, "on_hits", None)
        if on_hits is None:
            self._dispatch(hit, alarm)
            return
        if self._later:
            self._flush_later()  # a message's earlier hits reach their tickets first
        self._flood_tickets.append((hit, alarm.id if alarm is not None else None))
        if len(self._flood_tickets) >= FLOOD_TICKETS_MAX:
            self._flush_flood_tickets()
        elif self._flood_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a flush at shutdown): at once
                self._flush_flood_tickets()
                return
            self._flood_handle = loop.call_soon(self._flush_flood_tickets)

    def _flush_flood_tickets(self) -> None:
        if self._flood_handle is not None:
            self._flood_handle.cancel()
            self._flood_handle = None
        items, self._flood_tickets = self._flood_tickets, []
        if not items or self.tickets is None:
            return
        try:
            self.tickets.on_hits(items)  # type: ignore[attr-defined]
        except Exception as e:  # noqa: BLE001
            self.errors += int(getattr(e, "failed", 1))
            log.exception("cannot dispatch tickets for %d hits of a flood", len(items))

    def tick(self, now_ms: int) -> None:
        """Complete delays on the clock, end time windows, judge silence. Silence is
        judged in slices (``SILENCE_SLICE_DEVICES`` / ``SILENCE_SLICE_HITS``), the next
        slice in the loop's next turn. A flood (at least ``FLOOD_HITS`` hits at once:
        devices judged silent together) goes to the alarm service's backlog, written in
        batches with the loop served between them (``gateway.alarms.batch``); each hit
        reaches its tickets once its alarm is written."""
        self._take(self.engine.tick(now_ms, SILENCE_SLICE_DEVICES, SILENCE_SLICE_HITS))
        self._judge_later()

    def _judge_more(self) -> None:
        self._judge_handle = None
        if self._closed:
            return
        now = self.clock.now_ms()
        self._take(self.engine.judge_more(now, SILENCE_SLICE_DEVICES, SILENCE_SLICE_HITS))
        self._judge_later()

    def _judge_later(self) -> None:
        if not self.engine.judging or self._judge_handle is not None or self._closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a test's or a backtest's tick): the rest at once
            self._take(self.engine.judge_more(self.clock.now_ms()))
            return
        self._judge_handle = loop.call_soon(self._judge_more)

    def _take(self, hits: list[RuleHit]) -> None:
        if not hits:
            return
        submit = getattr(self.alarms, "submit", None)
        if submit is not None and len(hits) >= FLOOD_HITS:
            self._dirty = True
            submit(hits, self._dispatch_flood)
            return
        for h in hits:
            self.apply(h)

    def acknowledge(
        self,
        alarm_id: int,
        user: str,
        note: str | None,
        *,
        audit: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An operator's ack: the alarm service, then the engine (event alarms that clear
        on acknowledgement). ``user`` is the user id; ``audit`` (``Principal.audit()``:
        ``by``, ``by_name``, ``via``, ``via_id``) is journaled with it."""
        result = self.alarms.ack(alarm_id, user, note, audit=audit)
        for h in self.engine.acknowledged(
            result["rule"], result["device"], result["point"], self.clock.now_ms()
        ):
            self.apply(h)
        return result

    def link_state(self, link_device: str, link_name: str, up: bool) -> None:
        """The broker link went down (silence is not judged) or came back (grace)."""
        now = self.clock.now_ms()
        if up:
            self.engine.link_restored(now, LINK_GRACE_S)
        else:
            self.engine.link_lost(now)
        self.apply(
            RuleHit(
                rule=LINK_RULE.id,
                site=self.site_id,
                system="gateway",
                device=link_device,
                point=None,
                active=not up,
                ts_ms=now,
                message=LINK_RULE.message.format(device=f"{link_name} link"),
            )
        )

    # -- the ack gate -------------------------------------------------------------------
    def ready(self) -> bool:
        if self._later:  # tickets still to open for hits of messages to acknowledge
            self._held_for_later = True
            return False
        return self.save()

    def save(self, force: bool = False) -> bool:
        """Save the engine's state (pending timers) before messages are acknowledged.

        At most once per ``RULE_STATE_SAVE_S``: a call within that time returns ``False``,
        so the pipeline holds its acknowledgements, and a save follows at the end of the
        interval, which then releases them (a message is never acknowledged before the
        timer it started is saved, else a crash would lose it). A save that fails also
        returns ``False`` and is tried again after ``RULE_STATE_RETRY_S``: the broker
        redelivers what waits if the gateway dies meanwhile. Nothing evaluated since the
        last save: nothing to do. More than ``SAVE_DEVICES_MAX`` changed devices: this
        save writes that many and returns ``False``; the rest follow one save per loop
        turn, and the last releases the acknowledgements."""
        if not force and not self._dirty:
            return True
        now = time.monotonic()
        wait = self._saved_at + RULE_STATE_SAVE_S - now
        if not force and wait > 0:
            if self._deferred is None:
                self._deferred = asyncio.get_running_loop().call_later(wait, self._save_later)
            return False
        self._saved_at = now
        self._dirty = False
        dirty = self.engine.take_dirty()
        more: list[str] = []
        if len(dirty) > SAVE_DEVICES_MAX:
            rest = iter(dirty)
            dirty = set(islice(rest, SAVE_DEVICES_MAX))
            more = list(rest)
        try:
            # incremental: the pending timers, plus the latest values and active keys of
            # the devices that changed since the last save (one row each), so the cost
            # follows the traffic, not the number of devices or of active alarms
            snap = self.engine.snapshot(devices=dirty)
            parts: dict[str, dict[str, Any]] = {
                f"{DEVICE_STATE_PREFIX}{dev}": data for dev, data in snap.pop("devices").items()
            }
            parts["engine"] = snap
            self.state.save_rule_state_parts(parts)
        except Exception:  # noqa: BLE001 - retried: acknowledgements wait for it
            self.engine.mark_dirty(dirty)  # saved next time
            self.engine.mark_dirty(more)
            self._dirty = True
            self.failures += 1
            log.exception("cannot save the rule engine's state; acknowledgements wait")
            if self._deferred is None and not self._closed:  # closed: nobody to release
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # no loop (shutdown): nothing more to release
                    return False
                self._deferred = loop.call_later(RULE_STATE_RETRY_S, self._save_later)
            return False
        if more:  # the rest in the next turns; acknowledgements wait for the last
            self.engine.mark_dirty(more)
            self._dirty = True
            if self._closed:  # shutting down: the rest at once
                return self.save(force=True)
            if self._deferred is None:
                try:
                    loop = asyncio.get_running_loop()
                except RuntimeError:  # no loop: the rest at once
                    return self.save(force=True)
                self._deferred = loop.call_later(0, self._save_later)
            return False
        return True

    def _save_later(self) -> None:
        self._deferred = None
        if self.save(force=True):
            self.release()

    def close(self) -> None:
        """On shutdown: cancel a deferred save and save now (once: a save that fails
        now, e.g. refused by the fence of a lease lost, is not tried again)."""
        self._closed = True
        if self._judge_handle is not None:
            self._judge_handle.cancel()
            self._judge_handle = None
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None
        flush = getattr(self.alarms, "flush", None)
        if flush is not None:
            flush()  # a flood's hits still waiting are written before the last save
        if self._later_handle is not None:
            self._later_handle.cancel()
            self._later_handle = None
        self._flush_later()
        self._flush_flood_tickets()
        self.save(force=True)
