"""Backtest: a rule pack run over recorded messages, with the engine's event-time semantics.

Pure, like the engine: no I/O, no clock reads, nothing of the gateway. Whoever reads the
recording (``sitewatch rules backtest``: a file written by ``sitewatch record`` or rows of
InfluxDB) decodes it into :mod:`rules.model` messages, each carrying the time the gateway
received it (``received_ms``), and feeds them here in that order.

Lifecycle: ``bt = Backtest(site, pack)``; ``bt.feed(msg)`` for every message, oldest
first; ``bt.finish()`` once, which returns a :class:`Report`. In between,
:attr:`Backtest.episodes` holds what was raised and cleared so far.

How it runs the engine, the way the live gateway does:

* the engine starts as the gateway does: silence-based offline waits ``start_grace_s``
  (120 s) after the first message before it raises anything;
* the gateway clock is the recording's receive time: before a message received at ``R``
  the engine is ticked at every whole second up to ``R`` (the live gateway ticks once a
  second), so delays complete, windows end and silence is judged as they would have been;
  then the message is handed to the engine (``on_status`` with ``now = R``);
* durations (``for``, ``clear_for``) run on the devices' own timestamps, as live; a raise
  or clear is stamped by the engine (the reading's time, or ``T + D`` for a delay);
* ``finish()`` ticks once more at the last receive time; what is still active stays open.

The result is the set of episodes ``(rule, device, point, raise_ts, clear_ts)``, the same
set live ingestion of the same data gives, and a report per rule: alarms raised, mean
duration, chattering alarms (``chatter_count`` raises of one key within
``chatter_window_ms``, the alarm service's defaults), flood episodes (ISA-18.2: more than
``flood_count`` alarms raised within ``flood_window_ms``) and the priority mix.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rules.engine import RuleEngine
from rules.model import Event, Message, RuleHit, Status, Telemetry
from rules.pack_model import RulePack
from rules.site import Site

#: the live gateway's tick period
TICK_MS = 1000
#: the alarm service's chattering defaults (gateway.alarms.AlarmService)
CHATTER_COUNT = 3
CHATTER_WINDOW_MS = 60_000
#: as the gateway after a start (gateway.rules_stage.LINK_GRACE_S): silence raises nothing
#: before the first message's time plus this
START_GRACE_S = 120.0
#: ISA-18.2's alarm flood: more than 10 alarms in 10 minutes
FLOOD_COUNT = 10
FLOOD_WINDOW_MS = 600_000

Key = tuple[str, str, str | None]


@dataclass(slots=True, frozen=True)
class Episode:
    """One activation of (rule, device, point): raised at ``raised_ms`` (device time),
    cleared at ``cleared_ms`` (``None``: still active when the data ended)."""

    rule: str
    device: str
    point: str | None
    raised_ms: int
    cleared_ms: int | None
    priority: str = ""

    def key(self) -> tuple[str, str, str | None, int, int | None]:
        return (self.rule, self.device, self.point, self.raised_ms, self.cleared_ms)


@dataclass(slots=True)
class RuleReport:
    rule: str
    raises: str
    alarms: int = 0
    cleared: int = 0
    still_active: int = 0
    mean_duration_s: float | None = None
    chattering: int = 0
    floods: int = 0
    priorities: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "raises": self.raises,
            "alarms": self.alarms,
            "cleared": self.cleared,
            "still_active": self.still_active,
            "mean_duration_s": self.mean_duration_s,
            "chattering": self.chattering,
            "flood_episodes": self.floods,
            "priority_mix": dict(self.priorities),
        }


@dataclass(slots=True)
class Flood:
    start_ms: int
    end_ms: int
    alarms: int
    rules: dict[str, int]


@dataclass(slots=True)
class Report:
    messages: int
    first_ms: int | None
    last_ms: int | None
    rules: list[RuleReport]
    floods: list[Flood]
    episodes: list[Episode]

    def priority_mix(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for r in self.rules:
            total.update(r.priorities)
        return dict(total)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "alarms": sum(r.alarms for r in self.rules),
            "priority_mix": self.priority_mix(),
            "rules": [r.as_dict() for r in self.rules],
            "flood_episodes": [
                {"start_ms": f.start_ms, "end_ms": f.end_ms, "alarms": f.alarms, "rules": f.rules}
                for f in self.floods
            ],
        }


class Backtest:
    """Feed messages oldest first (by receive time), then :meth:`finish`."""

    def __init__(
        self,
        site: Site,
        pack: RulePack,
        *,
        chatter_count: int = CHATTER_COUNT,
        chatter_window_ms: int = CHATTER_WINDOW_MS,
        flood_count: int = FLOOD_COUNT,
        flood_window_ms: int = FLOOD_WINDOW_MS,
        start_grace_s: float = START_GRACE_S,
    ) -> None:
        self.site = site
        self.pack = pack
        self.engine = RuleEngine(site, pack)
        self.chatter_count = chatter_count
        self.chatter_window_ms = chatter_window_ms
        self.flood_count = flood_count
        self.flood_window_ms = flood_window_ms
        self.start_grace_s = start_grace_s
        self.messages = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self._tick_at: int | None = None  # the next whole second to tick at
        self._open: dict[Key, tuple[int, str]] = {}
        self.episodes: list[Episode] = []
        self.on_hit: Callable[[RuleHit], None] | None = None

    # -- feeding ------------------------------------------------------------------------
    def feed(self, msg: Message) -> None:
        self.feed_all((msg,))

    def feed_all(self, msgs: Iterable[Message]) -> None:
        """Feed messages in order (the hot loop: the engine's handlers bound once)."""
        e = self.engine
        on_t, on_e, on_s = e.on_telemetry, e.on_event, e.on_status
        record = self._record
        tick_at, last, n = self._tick_at, self.last_ms, 0
        try:
            for msg in msgs:
                now = msg.received_ms
                if tick_at is None:
                    self.first_ms = now
                    e.link_restored(now, self.start_grace_s)
                    tick_at = (now // TICK_MS + 1) * TICK_MS
                elif now >= tick_at:
                    tick_at = self._ticks(tick_at, now)
                if last is None or now > last:
                    last = now
                cls = msg.__class__
                if cls is Telemetry:
                    hits = on_t(msg)  # type: ignore[arg-type]
                elif cls is Event:
                    hits = on_e(msg)  # type: ignore[arg-type]
                elif cls is Status:
                    hits = on_s(msg, now)  # type: ignore[arg-type]
                else:
                    raise TypeError(f"not a message: {cls.__name__}")
                n += 1
                if hits:
                    record(hits)
        finally:
            self._tick_at, self.last_ms = tick_at, last
            self.messages += n

    def _ticks(self, t: int, now: int) -> int:
        """Tick at every whole second from ``t`` up to ``now``; the next one due."""
        tick = self.engine.tick
        while t <= now:
            hits = tick(t)
            if hits:
                self._record(hits)
            t += TICK_MS
        return t

    def _record(self, hits: list[RuleHit]) -> None:
        for h in hits:
            if self.on_hit is not None:
                self.on_hit(h)
            key = (h.rule, h.device, h.point)
            if h.active:
                prio = self._priority(h)
                self._open[key] = (h.ts_ms, prio)
            else:
                opened = self._open.pop(key, None)
                if opened is not None:
                    self.episodes.append(Episode(*key, opened[0], h.ts_ms, opened[1]))

    def _priority(self, h: RuleHit) -> str:
        try:
            spec = self.engine.spec(h.rule)
        except KeyError:
            return ""
        return str(spec.priority_for(h.system))

    # -- the end ------------------------------------------------------------------------
    def finish(self, end_ms: int | None = None) -> Report:
        """Tick up to ``end_ms`` (default: the last receive time) and report."""
        end = end_ms if end_ms is not None else self.last_ms
        if end is not None and self._tick_at is not None and end >= self._tick_at:
            self._tick_at = self._ticks(self._tick_at, end)
        if end is not None:
            hits = self.engine.tick(end)
            if hits:
                self._record(hits)
        for key, (raised, prio) in self._open.items():
            self.episodes.append(Episode(*key, raised, None, prio))
        self._open.clear()
        self.episodes.sort(key=lambda ep: (ep.raised_ms, ep.rule, ep.device, ep.point or ""))
        return self._report()

    def _report(self) -> Report:
        eps = self.episodes
        by_rule: dict[str, list[Episode]] = {}
        for ep in eps:
            by_rule.setdefault(ep.rule, []).append(ep)
        floods, flood_rules = _floods(eps, self.flood_count, self.flood_window_ms)
        out: list[RuleReport] = []
        for r in self.pack.rules:
            rows = by_rule.get(r.id, [])
            rep = RuleReport(r.id, str(r.spec.raises))
            rep.alarms = len(rows)
            closed = [ep.cleared_ms - ep.raised_ms for ep in rows if ep.cleared_ms is not None]
            rep.cleared = len(closed)
            rep.still_active = rep.alarms - rep.cleared
            if closed:
                rep.mean_duration_s = round(sum(closed) / len(closed) / 1000, 3)
            rep.chattering = _chattering(rows, self.chatter_count, self.chatter_window_ms)
            rep.floods = flood_rules.get(r.id, 0)
            rep.priorities = dict(Counter(ep.priority for ep in rows))
            out.append(rep)
        return Report(self.messages, self.first_ms, self.last_ms, out, floods, list(eps))


def _chattering(rows: list[Episode], count: int, window_ms: int) -> int:
    """How many keys of one rule had ``count`` raises within ``window_ms``."""
    by_key: dict[Key, list[int]] = {}
    for ep in rows:
        by_key.setdefault((ep.rule, ep.device, ep.point), []).append(ep.raised_ms)
    n = 0
    for times in by_key.values():
        times.sort()
        for i in range(len(times) - count + 1):
            if times[i + count - 1] - times[i] <= window_ms:
                n += 1
                break
    return n


def _floods(eps: list[Episode], count: int, window_ms: int) -> tuple[list[Flood], dict[str, int]]:
    """Flood episodes: stretches where more than ``count`` alarms were raised within
    ``window_ms``; an episode runs from the raise that crossed the threshold until the
    rate falls back to ``count`` or fewer. Returns them and, per rule, how many it took
    part in."""
    raises = sorted((ep.raised_ms, ep.rule) for ep in eps)
    window: deque[tuple[int, str]] = deque()
    floods: list[Flood] = []
    current: Flood | None = None
    for ts, rule in raises:
        window.append((ts, rule))
        while window and window[0][0] <= ts - window_ms:
            window.popleft()
        if len(window) <= count:
            current = None
        elif current is None:
            current = Flood(window[0][0], ts, len(window), dict(Counter(r for _t, r in window)))
            floods.append(current)
        else:
            current.end_ms = ts
            current.alarms += 1
            current.rules[rule] = current.rules.get(rule, 0) + 1
    per_rule: Counter[str] = Counter()
    for f in floods:
        per_rule.update(f.rules.keys())
    return floods, dict(per_rule)


def run(site: Site, pack: RulePack, msgs: Iterable[Message], **kw: Any) -> Report:
    """The whole backtest in one call."""
    bt = Backtest(site, pack, **kw)
    bt.feed_all(msgs)
    return bt.finish()
