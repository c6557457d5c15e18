"""The rule engine: readings, events and status changes in, :class:`RuleHit` values out.

Pure: no I/O, no asyncio, no clock reads. Time comes in as arguments: device time in the
messages' ``ts_ms``, gateway (wall-clock) time in ``received_ms`` and ``now_ms``.

Lifecycle: one :class:`RuleEngine` per gateway, built from the site and the rule pack
(after a restart, given back its saved state with :meth:`RuleEngine.restore`); then fed
every decoded message (:meth:`RuleEngine.on_telemetry`, :meth:`RuleEngine.on_event`,
:meth:`RuleEngine.on_status`) and the gateway clock (:meth:`RuleEngine.tick`), each call
returning the hits it caused. It is put together from parts, each with its own module:

* ``rules.engine_device``: what it keeps per device and per (rule, device, point);
* ``rules.engine_profiles``: the devices' shared profiles (rule index, windows, offline
  timeouts);
* ``rules.engine_core``: its tables, device registration, raise/clear, guards;
* ``rules.engine_offline``: ``offline`` rules (status, silence, link lost/restored);
* ``rules.engine_state``: snapshot, restore, pending timers, changed devices;
* this module: the message handlers, ``tick`` and acknowledgement.

How it judges
-------------
* **Latest value of every field**: see ``rules.engine_device``; the pack's derived values
  (``derive:``) are computed from each fresh reading before any rule reads them.
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
* **One hit per transition** and **guards**: see ``rules.engine_core``.
* **Event alarms** are keyed by (rule, device, ``point``). A clearing event from the same
  device (``clear_event: reset``) clears every point of that rule on the device, or only its
  own point if it names one; a clearing telemetry condition (``clear: door_open == false``)
  clears them when a fresh reading of the device makes it true. An event rule with neither
  clears on :meth:`RuleEngine.acknowledged`.
* **Time windows** (``inside``/``outside``) are evaluated in the site's time zone at the
  reading's timestamp; a pending delay is dropped and an active alarm cleared (at tick,
  with ``ts_ms = now_ms``) when the window stops holding.
* **Offline**: see ``rules.engine_offline``. **Restart**: see ``rules.engine_state``.
"""

from __future__ import annotations

from typing import Any

from rules.engine_device import EngineDevice, HitValue, KeyState
from rules.engine_offline import OfflineJudge
from rules.engine_state import SNAPSHOT_VERSION, EngineState
from rules.model import Event, RuleHit, Telemetry
from rules.pack_model import Rule

__all__ = ["SNAPSHOT_VERSION", "HitValue", "RuleEngine"]

#: field sets remembered per (system, type) with the rules they wake (a bound: a device
#: sending ever new field combinations does not grow it)
RULES_CACHE_MAX = 256


class RuleEngine(OfflineJudge, EngineState):
    """Evaluate ``pack`` for the devices of ``site``. Not thread-safe; one per gateway."""

    def on_telemetry(self, t: Telemetry) -> list[RuleHit]:
        dev = self._heard(t, t.zone)
        hits: list[RuleHit] = []
        ts = t.ts_ms
        if dev.offline_on:  # an offline alarm of the device is active: it speaks again
            self._offline_heard(dev, ts, hits)
        late = dev.update(t.values, ts)
        prof = dev.kind
        hwin = prof.hist_win
        if hwin:  # (only a device with windows has windowed figures)
            stats = dev.extras.stats
            if stats:
                stats.clear()  # windowed figures are per reading
            for f, x in t.values.items():
                if f in hwin:
                    dev.add_history(f, ts, x)
        if late is None:
            key = tuple(t.values)
            if prof.derived:
                key = self._derive(dev, key, ts)
            rules = prof.cache.get(key)
            if rules is None:
                rules = self._rules_for(dev, key)
                if len(prof.cache) < RULES_CACHE_MAX:  # shared by its system and type
                    prof.cache[key] = rules
        else:
            fresh = tuple(f for f in t.values if f not in late)
            if not fresh:
                return hits
            if prof.derived:
                fresh = self._derive(dev, fresh, ts)
            rules = self._rules_for(dev, fresh)
        states, values = dev.states, dev.values
        for r in rules:
            if r.kind != "telemetry":
                self._event_clear_by_values(r, dev, ts, hits)
                continue
            st = states.get(r.index)
            if st is None or (not st.active and st.pending is None):
                # the usual answer: nothing pending and the condition not true: no change
                when = r.when
                if when is None or when.fn(values, dev) is not True:
                    continue
            self._eval(r, dev, ts, hits)
        return hits

    def on_event(self, e: Event) -> list[RuleHit]:
        dev = self._heard(e, e.zone)
        hits: list[RuleHit] = []
        ts = e.ts_ms
        if dev.offline_on:
            self._offline_heard(dev, ts, hits)
        dev.saw(ts)
        k = dev.kind
        for r in self._event_clear.get(e.type, ()):
            if not r.applies_to(k.system, k.type):
                continue
            pts = dev.extras.ev.get(r.index)
            if not pts:
                continue
            for p, st in list(pts.items()):
                if st.active and (e.point is None or p == e.point) and ts >= st.since:
                    self._clear(st, ts, hits)
        for r in self._event_raise.get(e.type, ()):
            if not r.applies_to(k.system, k.type):
                continue
            pts = dev.extras.ev.get(r.index)
            est = None if pts is None else pts.get(e.point)
            if est is not None and (est.active or ts < est.last_ts):
                continue  # a repeat, or an event older than the last clear
            if r.when is not None:
                view = dict(dev.values)
                view.update(e.attrs)
                if r.when.fn(view, dev) is not True:
                    continue
            if r.window is not None and not self._local.holds(r.window, ts):
                continue
            zone = e.zone  # resolved by _heard: the point's zone, else the device's
            if r.guard is not None and self._guarded(r, dev, zone):
                continue
            if est is None:
                if pts is None:
                    pts = dev.own_ev()[r.index] = {}
                est = pts[e.point] = KeyState(r, dev, e.point, zone)
            est.zone = zone
            ctx: dict[str, Any] = dict(e.attrs)
            ctx["event"] = e.type
            self._raise(est, ts, hits, value=e.type, extra=ctx)
        return hits

    def tick(
        self, now_ms: int, max_devices: int | None = None, max_hits: int | None = None
    ) -> list[RuleHit]:
        """Complete delays due by ``now_ms``, end time windows, judge silence (with
        limits: in slices, see :meth:`rules.engine_offline.OfflineJudge._judge_silence`;
        :attr:`judging` then says whether :meth:`judge_more` has more to do)."""
        hits: list[RuleHit] = []
        if self._pending:
            for st in list(self._pending.values()):
                r = st.rule
                if st.pending is not None:
                    due = st.pending + r.delay_ms
                    if r.window is not None and not self._local.holds(r.window, min(now_ms, due)):
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
            self._judge_silence(now_ms, hits, max_devices, max_hits)
        return hits

    def acknowledged(
        self, rule: str, device: str, point: str | None, now_ms: int | None = None
    ) -> list[RuleHit]:
        """An operator acknowledged the alarm; clears it if its rule clears on ack."""
        r = self._rules_by_id.get(rule)
        dev = self._devices.get(device)
        if r is None or dev is None or not r.spec.clears_on_ack:
            return []
        st = dev.extras.ev.get(r.index, {}).get(point)
        if st is None or not st.active:
            return []
        hits: list[RuleHit] = []
        self._clear(st, max(now_ms if now_ms is not None else st.since, st.last_ts), hits)
        return hits

    def _eval(self, r: Rule, dev: EngineDevice, ts: int, hits: list[RuleHit]) -> None:
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
                    st = dev.own_states()[r.index] = KeyState(r, dev, None, dev.zone)
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

    def _event_clear_by_values(
        self, r: Rule, dev: EngineDevice, ts: int, hits: list[RuleHit]
    ) -> None:
        pts = dev.extras.ev.get(r.index)
        if not pts or r.clear is None:
            return
        if r.clear.fn(dev.values, dev) is not True:
            return
        for st in list(pts.values()):
            if st.active and ts >= st.since:
                self._clear(st, ts, hits)
