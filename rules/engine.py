"""The rule engine: readings, events and status changes in, :class:`RuleHit` values out.

Pure: no I/O, no asyncio, no clock reads. Time comes in as arguments: device time in the
messages' ``ts_ms``, gateway (wall-clock) time in ``received_ms`` and ``now_ms``.

How it judges
-------------
* **Latest value of every field.** The engine keeps, per device, the latest value of every
  field with its timestamp; a condition reads those, so a ``setpoint`` sent once an hour
  still counts against every ``zone_temp`` in between.
* **Device time.** Durations (``for``, ``clear_for``, ``rate``/``delta`` windows) are measured
  on the device's own timestamps; each device is judged on its own clock, so a device whose
  readings are older than another device's is not late. A condition that holds with no
  further reading completes its delay at :meth:`RuleEngine.tick` once ``now_ms >= T + D``
  (``T`` the reading's timestamp), and the hit carries ``ts_ms = T + D``.
* **Out-of-order and late readings.** A field value whose timestamp is older than the latest
  one seen for that device's field is *late*: it goes into the field's history (so
  ``rate``/``delta`` windows are right) but does not replace the latest value and drives no
  state transition: a late reading never raises and never clears anything. A reading whose
  fields are partly fresh updates and evaluates only with the fresh ones. A rule's state
  never moves backwards in time: a transition is stamped no earlier than the previous
  transition of the same (rule, device, point), and an event older than an alarm's last
  clear (a ``fire_alarm`` replayed after its ``reset``) does not raise it again; a clearing
  event or reading older than the raise does not clear it. A reading with the same
  timestamp as the latest (a QoS 1 duplicate) is applied again, which changes nothing.
* **Missing data.** A field the device never sent is *unknown*; a rule raises only when its
  condition is definitely true and clears only when its clear condition is definitely true
  (or, with no ``clear``, when its condition is definitely false). See ``rules.lang``.
* **One hit per transition.** ``RuleHit(active=True)`` when a (rule, device, point) becomes
  active, ``active=False`` when it clears; repeats of an active key emit nothing.
  ``critical`` rules are never delayed.
* **Event alarms** are keyed by (rule, device, ``point``). A clearing event from the same
  device (``clear_event: reset``) clears every point of that rule on the device, or only its
  own point if it names one; a clearing telemetry condition (``clear: door_open == false``)
  clears them when a fresh reading of the device makes it true. An event rule with neither
  clears on :meth:`RuleEngine.acknowledged`.
* **Guards.** ``unless_active: {rule: fire.alarm, same: zone}`` keeps a rule from raising
  while that rule is active in the same zone (the alarm's zone: the event's ``zone``, else
  the zone of the device its ``point`` names, else the panel's zone), on the same device
  (the panel or the detector named as its point), or anywhere on the site. An alarm already
  active when the guard starts to hold stays active until its own clear condition.
* **Time windows** (``inside``/``outside``) are evaluated in the site's time zone at the
  reading's timestamp; a pending delay is dropped and an active alarm cleared (at tick,
  with ``ts_ms = now_ms``) when the window stops holding.
* **Offline.** A device is offline when its status is ``offline`` (its MQTT will), or when
  nothing was received from it for ``factor`` x its usual interval (at least ``min``),
  measured on the gateway clock (``received_ms`` / ``now_ms``). Site devices never heard
  from count from the first :meth:`RuleEngine.tick`. Any telemetry or event from the device
  clears it; an ``online`` status clears an offline raised by an ``offline`` status (a
  retained ``online`` redelivered on reconnect is no proof of life for a silent device).
  Call :meth:`RuleEngine.link_lost` when the broker link drops (silence is then not judged)
  and :meth:`RuleEngine.link_restored` when it is back (and after a restart): silence-based
  offline then waits ``grace_s`` before it raises anything, instead of flooding.
* **Restart.** :meth:`RuleEngine.snapshot` returns the JSON-ready state (pending timers,
  active keys, latest device values) and :meth:`RuleEngine.restore` takes it back (or just
  the :meth:`RuleEngine.pending` list), so pending delays complete at the right time.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Iterable
from typing import Any

from gateway.model import Event, Status, Telemetry
from gateway.site import Site
from rules.model import RuleHit
from rules.pack import Rule, RulePack
from rules.timewin import LocalClock

SNAPSHOT_VERSION = 1
_NUMERIC = (int, float)
_INF = float("inf")
HitValue = float | bool | str


class _State:
    """State of one (rule, device, point)."""

    __slots__ = ("rule", "dev", "point", "active", "since", "pending", "clear_pending",
                 "last_ts", "message", "value", "zone", "reason")

    def __init__(self, rule: Rule, dev: _Device, point: str | None, zone: str | None):
        self.rule = rule
        self.dev = dev
        self.point = point
        self.zone = zone
        self.active = False
        self.since = 0  # raise time (device time) while active
        self.pending: int | None = None  # on-delay started at (device time)
        self.clear_pending: int | None = None  # off-delay started at
        self.last_ts = -(2**62)  # time of the last transition
        self.message = ""
        self.value: HitValue | None = None
        self.reason = ""

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.rule.id, self.dev.id, self.point)


class _Device:
    __slots__ = ("id", "site", "system", "zone", "type", "name", "interval_s", "values", "ts",
                 "hist_ts", "hist_val", "hist_win", "clock", "last_recv", "states", "ev",
                 "offline", "cache", "index")

    def __init__(self, did: str, site: str, system: str, zone: str | None, dtype: str | None,
                 name: str | None, interval_s: float):
        self.id = did
        self.site = site
        self.system = system
        self.zone = zone
        self.type = dtype
        self.name = name or did
        self.interval_s = interval_s
        self.values: dict[str, Any] = {}
        self.ts: dict[str, int] = {}
        self.hist_ts: dict[str, list[int]] = {}
        self.hist_val: dict[str, list[float]] = {}
        self.hist_win: dict[str, int] = {}
        self.clock = -(2**62)  # latest device timestamp seen
        self.last_recv: int | None = None  # gateway time of the last message
        self.states: dict[int, _State] = {}  # telemetry rules by rule index
        self.ev: dict[int, dict[str | None, _State]] = {}  # event rules: index -> point -> state
        self.offline: list[tuple[Rule, int, _State]] = []  # offline rules, timeout ms, state
        self.cache: dict[tuple[str, ...], tuple[Rule, ...]] = {}
        self.index: dict[str, tuple[Rule, ...]] = {}

    def change(self, field: str, window_ms: int, per_minute: bool) -> float | None:
        """Change of ``field`` over the last ``window_ms`` (per minute if asked)."""
        hts = self.hist_ts.get(field)
        latest = self.values.get(field)
        if not hts or latest is None or latest.__class__ not in _NUMERIC:
            return None
        latest_ts = self.ts[field]
        i = bisect_right(hts, latest_ts - window_ms) - 1
        if i < 0:
            return None
        ref_ts, ref = hts[i], self.hist_val[field][i]
        delta = float(latest - ref)
        if not per_minute:
            return delta
        dt = latest_ts - ref_ts
        return delta * 60_000 / dt if dt > 0 else None

    def add_history(self, field: str, ts: int, value: Any) -> None:
        if value.__class__ not in _NUMERIC:
            return
        hts = self.hist_ts.setdefault(field, [])
        hv = self.hist_val.setdefault(field, [])
        if not hts or ts >= hts[-1]:
            if hts and ts == hts[-1]:
                hv[-1] = value
                return
            hts.append(ts)
            hv.append(value)
        else:
            i = bisect_right(hts, ts)
            if i > 0 and hts[i - 1] == ts:
                hv[i - 1] = value
                return
            insort(hts, ts)
            hv.insert(i, value)
        cutoff = hts[-1] - self.hist_win[field]
        j = bisect_right(hts, cutoff) - 1  # keep one sample at or before the window start
        if j > 0:
            del hts[:j]
            del hv[:j]


class RuleEngine:
    """Evaluate ``pack`` for the devices of ``site``. Not thread-safe; one per gateway."""

    def __init__(self, site: Site, pack: RulePack) -> None:
        self.site = site
        self.pack = pack
        self._local = LocalClock(site.tz)
        self._rules_by_id = {r.id: r for r in pack.rules}
        self._devices: dict[str, _Device] = {}
        self._pending: dict[tuple[str, str, str | None], _State] = {}
        self._dirty: set[str] = set()
        self._windowed: dict[tuple[str, str, str | None], _State] = {}
        self._offline_rules = [r for r in pack.rules if r.kind == "offline"]
        self._event_raise: dict[str, list[Rule]] = {}
        self._event_clear: dict[str, list[Rule]] = {}
        for r in pack.rules:
            if r.kind == "event":
                for t in r.events:
                    self._event_raise.setdefault(t, []).append(r)
                for t in r.clear_events:
                    self._event_clear.setdefault(t, []).append(r)
        guarded = {r.guard.rule for r in pack.rules if r.guard is not None}
        self._g_zone: dict[str, Counter[str]] = {g: Counter() for g in guarded}
        self._g_dev: dict[str, Counter[str]] = {g: Counter() for g in guarded}
        self._g_site: Counter[str] = Counter()
        self._link_up = True
        self._grace_until = -(2**62)
        self._next_silence: float = 0
        self._index_cache: dict[tuple[str, str | None], tuple[dict[str, tuple[Rule, ...]],
                                                               dict[str, int]]] = {}
        for d in site.devices:
            self._add_device(d.id, site.site, d.system, d.zone)

    # ------------------------------------------------------------------ public API

    def spec(self, rule_id: str) -> Any:
        """The :class:`rules.model.RuleSpec` of a rule (``KeyError`` if unknown)."""
        return self._rules_by_id[rule_id].spec

    def _heard(self, m: Telemetry | Event | Status, zone: str | None) -> _Device:
        """The message's device (registered if new), marked changed and heard from."""
        dev = self._devices.get(m.device)
        if dev is None:
            dev = self._add_device(m.device, m.site, m.system, zone)
        self._dirty.add(dev.id)
        if dev.last_recv is None or m.received_ms > dev.last_recv:
            dev.last_recv = m.received_ms
        return dev

    def on_telemetry(self, t: Telemetry) -> list[RuleHit]:
        dev = self._heard(t, t.zone)
        hits: list[RuleHit] = []
        ts = t.ts_ms
        if dev.offline:
            self._offline_heard(dev, ts, hits)
        values, tss, hwin = dev.values, dev.ts, dev.hist_win
        late: list[str] | None = None
        for f, x in t.values.items():
            old = tss.get(f)
            if old is None or ts >= old:
                values[f] = x
                tss[f] = ts
            elif late is None:
                late = [f]
            else:
                late.append(f)
            if f in hwin:
                dev.add_history(f, ts, x)
        if ts > dev.clock:
            dev.clock = ts
        if late is None:
            key = tuple(t.values)
            rules = dev.cache.get(key)
            if rules is None:
                rules = self._rules_for(dev, key)
                if len(dev.cache) < 64:
                    dev.cache[key] = rules
        else:
            fresh = tuple(f for f in t.values if f not in late)
            if not fresh:
                return hits
            rules = self._rules_for(dev, fresh)
        for r in rules:
            if r.kind == "telemetry":
                self._eval(r, dev, ts, hits)
            else:
                self._event_clear_by_values(r, dev, ts, hits)
        return hits

    def on_event(self, e: Event) -> list[RuleHit]:
        dev = self._heard(e, e.zone)
        hits: list[RuleHit] = []
        ts = e.ts_ms
        if dev.offline:
            self._offline_heard(dev, ts, hits)
        if ts > dev.clock:
            dev.clock = ts
        for r in self._event_clear.get(e.type, ()):
            if not r.applies_to(dev.system, dev.type):
                continue
            pts = dev.ev.get(r.index)
            if not pts:
                continue
            for p, st in list(pts.items()):
                if st.active and (e.point is None or p == e.point) and ts >= st.since:
                    self._clear(st, ts, hits)
        for r in self._event_raise.get(e.type, ()):
            if not r.applies_to(dev.system, dev.type):
                continue
            pts = dev.ev.setdefault(r.index, {})
            est = pts.get(e.point)
            if est is not None and (est.active or ts < est.last_ts):
                continue  # a repeat, or an event older than the last clear
            if r.when is not None:
                view = dict(dev.values)
                view.update(e.attrs)
                if r.when.fn(view, dev) is not True:
                    continue
            if r.window is not None and not self._local.holds(r.window, ts):
                continue
            zone = e.zone
            if zone is None and e.point is not None:
                pd = self.site.device(e.point)
                zone = pd.zone if pd is not None else None
            if zone is None:
                zone = dev.zone
            if r.guard is not None and self._guarded(r, dev, zone):
                continue
            if est is None:
                est = pts[e.point] = _State(r, dev, e.point, zone)
            est.zone = zone
            ctx: dict[str, Any] = dict(e.attrs)
            ctx["event"] = e.type
            self._raise(est, ts, hits, value=e.type, extra=ctx)
        return hits

    def on_status(self, s: Status, now_ms: int) -> list[RuleHit]:
        dev = self._heard(s, None)
        hits: list[RuleHit] = []
        for _r, _timeout, st in dev.offline:
            if s.online:
                if st.active and st.reason == "status":
                    self._clear(st, max(now_ms, st.last_ts), hits)
            elif st.active:
                st.reason = "status"
            else:
                st.reason = "status"
                self._raise(st, max(now_ms, st.last_ts), hits, value="offline",
                            extra={"reason": "status offline"})
        if s.online:
            self._next_silence = 0
        return hits

    def tick(self, now_ms: int) -> list[RuleHit]:
        """Complete delays due by ``now_ms``, end time windows, judge silence."""
        hits: list[RuleHit] = []
        if self._pending:
            for st in list(self._pending.values()):
                r = st.rule
                if st.pending is not None:
                    due = st.pending + r.delay_ms
                    if r.window is not None and not self._local.holds(r.window,
                                                                      min(now_ms, due)):
                        self._unpend(st)
                        continue
                    if now_ms >= due:
                        if r.guard is not None and self._guarded(r, st.dev, st.zone):
                            self._unpend(st)
                            continue
                        self._raise(st, due, hits)
                elif st.clear_pending is not None:
                    due = st.clear_pending + r.clear_delay_ms
                    if now_ms >= due:
                        self._clear(st, due, hits)
        if self._windowed:
            for st in list(self._windowed.values()):
                w = st.rule.window
                if w is not None and st.active and not self._local.holds(w, now_ms):
                    self._clear(st, max(now_ms, st.last_ts), hits)
        if self._offline_rules and self._link_up and now_ms >= self._next_silence:
            self._judge_silence(now_ms, hits)
        return hits

    def acknowledged(self, rule: str, device: str, point: str | None,
                     now_ms: int | None = None) -> list[RuleHit]:
        """An operator acknowledged the alarm; clears it if its rule clears on ack."""
        r = self._rules_by_id.get(rule)
        dev = self._devices.get(device)
        if r is None or dev is None or not r.spec.clears_on_ack:
            return []
        st = dev.ev.get(r.index, {}).get(point)
        if st is None or not st.active:
            return []
        hits: list[RuleHit] = []
        self._clear(st, max(now_ms if now_ms is not None else st.since, st.last_ts), hits)
        return hits

    def link_lost(self, now_ms: int) -> None:
        """The broker link is down: silence says nothing about the devices now."""
        self._link_up = False

    def link_restored(self, now_ms: int, grace_s: float) -> None:
        """The link is back (or the gateway restarted): silence-based offline raises nothing
        before ``now_ms + grace_s``, so devices get time to report again."""
        self._link_up = True
        self._grace_until = max(self._grace_until, now_ms + int(grace_s * 1000))
        self._next_silence = 0

    def active(self) -> list[tuple[str, str, str | None]]:
        """Keys (rule, device, point) active now."""
        return [st.key for st in self._states() if st.active]

    def pending(self) -> list[dict[str, Any]]:
        """Pending delays, JSON-ready: rule, device, point, kind (raise|clear), since_ms,
        due_ms. Feed them (or :meth:`snapshot`) to :meth:`restore` after a restart."""
        out: list[dict[str, Any]] = []
        for st in self._pending.values():
            if st.pending is not None:
                kind, since, delay = "raise", st.pending, st.rule.delay_ms
            elif st.clear_pending is not None:
                kind, since, delay = "clear", st.clear_pending, st.rule.clear_delay_ms
            else:  # pragma: no cover - _pending only holds states with a timer
                continue
            out.append({"rule": st.rule.id, "device": st.dev.id, "point": st.point,
                        "kind": kind, "since_ms": since, "due_ms": since + delay})
        return out

    def take_dirty(self) -> set[str]:
        """Devices whose latest values changed since the last call (then forgotten)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_dirty(self, devices: Iterable[str]) -> None:
        """Take back what :meth:`take_dirty` gave (its save failed: save them next time)."""
        self._dirty.update(devices)

    def snapshot(self, devices: Iterable[str] | None = None) -> dict[str, Any]:
        """The engine's state, JSON-ready (see :meth:`restore`); with ``devices``, only
        those devices' latest values (an incremental save: see :meth:`take_dirty`)."""
        out: dict[str, Any] = {}
        chosen = (
            self._devices.values()
            if devices is None
            else [d for d in (self._devices.get(i) for i in devices) if d is not None]
        )
        for d in chosen:
            out[d.id] = {
                "site": d.site, "system": d.system, "zone": d.zone,
                "last_recv_ms": d.last_recv,
                "values": {f: [v, d.ts[f]] for f, v in d.values.items()},
            }
        active = [{"rule": st.rule.id, "device": st.dev.id, "point": st.point,
                   "since_ms": st.since, "zone": st.zone, "message": st.message,
                   "value": st.value, "reason": st.reason}
                  for st in self._states() if st.active]
        return {"version": SNAPSHOT_VERSION, "devices": out, "active": active,
                "pending": self.pending()}

    def restore(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Take back a :meth:`snapshot` (or a :meth:`pending` list, or a dict with any of
        ``devices``, ``active``, ``pending``: an alarm store can pass its open alarms as
        ``active`` entries ``{rule, device, point, since_ms}``). Entries naming rules the
        pack no longer has are skipped. Unknown devices are registered."""
        if isinstance(state, list):
            state = {"pending": state}
        for did, d in (state.get("devices") or {}).items():
            dev = self._devices.get(did) or self._add_device(
                did, d.get("site") or self.site.site, d.get("system") or "", d.get("zone"))
            last = d.get("last_recv_ms")
            if last is not None and (dev.last_recv is None or last > dev.last_recv):
                dev.last_recv = int(last)
            for f, (v, ts) in (d.get("values") or {}).items():
                if f not in dev.ts or ts >= dev.ts[f]:
                    dev.values[f] = v
                    dev.ts[f] = int(ts)
                    if ts > dev.clock:
                        dev.clock = int(ts)
                    if f in dev.hist_win:
                        dev.add_history(f, int(ts), v)
        for a in state.get("active") or []:
            st = self._state_for(a)
            if st is None or st.active:
                continue
            st.active = True
            st.since = st.last_ts = int(a.get("since_ms") or 0)
            st.message = a.get("message") or ""
            st.value = a.get("value")
            st.reason = a.get("reason") or ""
            if a.get("zone"):
                st.zone = a["zone"]
            self._track(st, +1)
        for p in state.get("pending") or []:
            st = self._state_for(p)
            if st is None:
                continue
            since = int(p["since_ms"])
            if p.get("kind", "raise") == "raise" and not st.active:
                st.pending = since
            elif p.get("kind") == "clear" and st.active:
                st.clear_pending = since
            else:
                continue
            self._pending[st.key] = st
        self._next_silence = 0

    # ------------------------------------------------------------------ internals

    def _add_device(self, did: str, site: str, system: str, zone: str | None) -> _Device:
        sd = self.site.device(did)
        if sd is not None:
            dev = _Device(did, site, sd.system, sd.zone, sd.type, sd.display_name, sd.interval_s)
        else:
            dev = _Device(did, site, system, zone, None, None, 60.0)
        idx = self._index_cache.get((dev.system, dev.type))
        if idx is None:
            index: dict[str, list[Rule]] = {}
            hist: dict[str, int] = {}
            for r in self.pack.rules:
                if not r.applies_to(dev.system, dev.type):
                    continue
                fields = r.fields if r.kind == "telemetry" else (
                    r.clear.fields if r.kind == "event" and r.clear is not None else ())
                for f in fields:
                    index.setdefault(f, []).append(r)
                for f, w in r.history.items():
                    hist[f] = max(hist.get(f, 0), w)
            idx = ({f: tuple(rs) for f, rs in index.items()}, hist)
            self._index_cache[(dev.system, dev.type)] = idx
        dev.index, dev.hist_win = idx
        for r in self._offline_rules:
            if r.applies_to(dev.system, dev.type):
                timeout = max(int(r.offline_factor * dev.interval_s * 1000), r.offline_min_ms)
                dev.offline.append((r, timeout, _State(r, dev, None, dev.zone)))
        self._devices[did] = dev
        self._next_silence = 0
        return dev

    def _rules_for(self, dev: _Device, fields: tuple[str, ...]) -> tuple[Rule, ...]:
        seen: set[int] = set()
        out: list[Rule] = []
        for f in fields:
            for r in dev.index.get(f, ()):
                if r.index not in seen:
                    seen.add(r.index)
                    out.append(r)
        out.sort(key=lambda r: r.index)
        return tuple(out)

    def _eval(self, r: Rule, dev: _Device, ts: int, hits: list[RuleHit]) -> None:
        st = dev.states.get(r.index)
        values = dev.values
        if st is None or not st.active:
            when = r.when
            ok = when is not None and when.fn(values, dev) is True
            if ok and r.window is not None:
                ok = self._local.holds(r.window, ts)
            if ok and r.guard is not None:
                ok = not self._guarded(r, dev, dev.zone)
            if ok:
                if st is None:
                    st = dev.states[r.index] = _State(r, dev, None, dev.zone)
                if ts < st.last_ts:
                    ts = st.last_ts
                if r.delay_ms == 0:
                    self._raise(st, ts, hits)
                elif st.pending is None:
                    st.pending = ts
                    self._pending[(r.id, dev.id, None)] = st
                elif ts - st.pending >= r.delay_ms:
                    self._raise(st, st.pending + r.delay_ms, hits)
            elif st is not None and st.pending is not None:
                self._unpend(st)
            return
        if ts < st.last_ts:
            ts = st.last_ts
        if r.clear is not None:
            c = r.clear.fn(values, dev) is True
        else:
            c = r.when is not None and r.when.fn(values, dev) is False
        if not c and r.window is not None:
            c = not self._local.holds(r.window, ts)
        if c:
            if r.clear_delay_ms == 0:
                self._clear(st, ts, hits)
            elif st.clear_pending is None:
                st.clear_pending = ts
                self._pending[(r.id, dev.id, None)] = st
            elif ts - st.clear_pending >= r.clear_delay_ms:
                self._clear(st, st.clear_pending + r.clear_delay_ms, hits)
        elif st.clear_pending is not None:
            self._unpend(st)

    def _event_clear_by_values(self, r: Rule, dev: _Device, ts: int,
                               hits: list[RuleHit]) -> None:
        pts = dev.ev.get(r.index)
        if not pts or r.clear is None:
            return
        if r.clear.fn(dev.values, dev) is not True:
            return
        for st in list(pts.values()):
            if st.active and ts >= st.since:
                self._clear(st, ts, hits)

    def _guarded(self, r: Rule, dev: _Device, zone: str | None) -> bool:
        g = r.guard
        if g is None:
            return False
        if g.same == "zone":
            return zone is not None and self._g_zone[g.rule][zone] > 0
        if g.same == "device":
            return self._g_dev[g.rule][dev.id] > 0
        return self._g_site[g.rule] > 0

    def _track(self, st: _State, delta: int) -> None:
        rid = st.rule.id
        zc = self._g_zone.get(rid)
        if zc is not None:
            if st.zone is not None:
                zc[st.zone] += delta
            dc = self._g_dev[rid]
            dc[st.dev.id] += delta
            if st.point is not None and st.point != st.dev.id:
                dc[st.point] += delta
            self._g_site[rid] += delta
        if st.rule.window is not None:
            if delta > 0:
                self._windowed[st.key] = st
            else:
                self._windowed.pop(st.key, None)

    def _unpend(self, st: _State) -> None:
        st.pending = None
        st.clear_pending = None
        self._pending.pop(st.key, None)

    def _context(self, st: _State, extra: dict[str, Any] | None) -> dict[str, Any]:
        dev, r = st.dev, st.rule
        ctx: dict[str, Any] = dict(dev.values)
        if extra:
            ctx.update(extra)
        ctx.update(device=dev.id, device_name=dev.name, device_type=dev.type, zone=st.zone,
                   point=st.point or "", site=dev.site, system=dev.system, rule=r.id,
                   priority=r.spec.priority_for(dev.system), interval_s=dev.interval_s)
        return ctx

    def _hit(self, st: _State, active: bool, ts: int, value: HitValue | None, message: str,
             context: dict[str, Any]) -> RuleHit:
        dev = st.dev
        return RuleHit(rule=st.rule.id, site=dev.site, system=dev.system, device=dev.id,
                       point=st.point, active=active, ts_ms=int(ts), value=value,
                       zone=st.zone, message=message, context=context)

    def _raise(self, st: _State, ts: int, hits: list[RuleHit], value: HitValue | None = None,
               extra: dict[str, Any] | None = None) -> None:
        r = st.rule
        if st.pending is not None or st.clear_pending is not None:
            self._unpend(st)
        if value is None and r.value_field is not None:
            value = st.dev.values.get(r.value_field)
        ctx = self._context(st, extra)
        ctx["value"] = value
        message = " ".join(r.message.render(ctx).split())
        st.active = True
        st.since = st.last_ts = ts
        st.message = message
        st.value = value
        self._track(st, +1)
        hits.append(self._hit(st, True, ts, value, message, self._hit_context(st, extra)))

    def _clear(self, st: _State, ts: int, hits: list[RuleHit]) -> None:
        r = st.rule
        if st.pending is not None or st.clear_pending is not None:
            self._unpend(st)
        value: HitValue | None = st.value
        if r.kind == "telemetry" and r.value_field is not None:
            value = st.dev.values.get(r.value_field, value)
        if r.clear_message is not None:
            ctx = self._context(st, None)
            ctx["value"] = value
            message = " ".join(r.clear_message.render(ctx).split())
        else:
            message = f"cleared: {st.message}" if st.message else "cleared"
        st.active = False
        st.last_ts = ts
        st.reason = ""
        self._track(st, -1)
        hits.append(self._hit(st, False, ts, value, message, self._hit_context(st, None)))

    def _hit_context(self, st: _State, extra: dict[str, Any] | None) -> dict[str, HitValue]:
        out: dict[str, HitValue] = {}
        vals = st.dev.values
        for f in st.rule.fields:
            x = vals.get(f)
            if isinstance(x, bool | int | float | str):
                out[f] = x
        if extra:
            for k, x in extra.items():
                if isinstance(x, bool | int | float | str):
                    out[k] = x
        return out

    # -- offline

    def _offline_heard(self, dev: _Device, ts: int, hits: list[RuleHit]) -> None:
        for _r, _timeout, st in dev.offline:
            if st.active:
                self._clear(st, max(ts, st.last_ts), hits)
                self._next_silence = 0

    def _judge_silence(self, now_ms: int, hits: list[RuleHit]) -> None:
        nxt: float = _INF
        grace = self._grace_until
        for dev in self._devices.values():
            if not dev.offline:
                continue
            last = dev.last_recv
            if last is None:
                dev.last_recv = last = now_ms  # a site device never heard: count from now
            for _r, timeout, st in dev.offline:
                if st.active:
                    continue
                deadline = last + timeout
                if deadline < grace:
                    deadline = grace
                if now_ms >= deadline:
                    silent_s = (now_ms - last) / 1000
                    st.reason = "silence"
                    self._raise(st, max(deadline, st.last_ts), hits, value="offline",
                                extra={"reason": f"no message for {silent_s:.0f} s",
                                       "silent_s": round(silent_s, 1),
                                       "timeout_s": timeout / 1000})
                elif deadline < nxt:
                    nxt = deadline
        self._next_silence = nxt

    # -- restore helpers

    def _states(self) -> list[_State]:
        out: list[_State] = []
        for d in self._devices.values():
            out.extend(d.states.values())
            for pts in d.ev.values():
                out.extend(pts.values())
            out.extend(st for _r, _t, st in d.offline)
        return out

    def _state_for(self, entry: dict[str, Any]) -> _State | None:
        r = self._rules_by_id.get(entry.get("rule", ""))
        did = entry.get("device")
        if r is None or not isinstance(did, str):
            return None
        dev = self._devices.get(did)
        if dev is None:
            if r.system is None:
                return None
            dev = self._add_device(did, self.site.site, r.system, entry.get("zone"))
        if not r.applies_to(dev.system, dev.type):
            return None
        point = entry.get("point")
        if r.kind == "event":
            pts = dev.ev.setdefault(r.index, {})
            st = pts.get(point)
            if st is None:
                st = pts[point] = _State(r, dev, point, entry.get("zone") or dev.zone)
            return st
        if r.kind == "offline":
            for r2, _t, st in dev.offline:
                if r2 is r:
                    return st
            return None
        st = dev.states.get(r.index)
        if st is None:
            st = dev.states[r.index] = _State(r, dev, None, dev.zone)
        return st
