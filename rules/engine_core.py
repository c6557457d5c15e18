"""The rule engine's core: its tables, device registration, and the two transitions.

Lifecycle: :class:`EngineCore` is built once per gateway from the site and the rule pack
(an index of the rules by event type, by field and by device type; guard counters; one
:class:`rules.engine_device.EngineDevice` per site device) and then changed only by the
engine's message handlers (``rules.engine``), silence judging (``rules.engine_offline``)
and restore (``rules.engine_state``), which all move a (rule, device, point) through the
two transitions here: :meth:`EngineCore._raise` and :meth:`EngineCore._clear`. What each
device shares with the devices of its kind (its profile: rules, windows, offline timeouts)
is built by its base, :class:`rules.engine_profiles.EngineProfiles`.

* **One hit per transition.** ``RuleHit(active=True)`` when a (rule, device, point) becomes
  active, ``active=False`` when it clears; repeats of an active key emit nothing.
  ``critical`` rules are never delayed.
* **Guards.** ``unless_active: {rule: fire.alarm, same: zone}`` keeps a rule from raising
  while that rule is active in the same zone (the alarm's zone: the event's ``zone``, else
  the zone of the device its ``point`` names, else the panel's zone), on the same device
  (the panel or the detector named as its point), or anywhere on the site. An alarm already
  active when the guard starts to hold stays active until its own clear condition.
* **Known intervals.** A device's reporting interval is known when the site file gives it,
  or once it is learned: a device the site file does not name is *learning* until
  :data:`LEARN_READINGS` readings (telemetry or events, at distinct gateway times) have
  arrived, and its interval is then the median gap between them, to the whole second
  (saved with the device's state, so a restart does not learn it again). Only devices
  with a known interval can be judged offline (by silence or by an ``offline`` status):
  a flood of made-up ids registers devices but raises no offline alarm.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from statistics import median
from typing import Any

from rules.devices import DEFAULT_INTERVAL_S, DeviceState
from rules.engine_device import EngineDevice, HitValue, KeyState
from rules.engine_profiles import EngineProfiles
from rules.model import Event, RuleHit, Status, Telemetry
from rules.pack_model import Rule, RulePack
from rules.site import Site
from rules.timewin import LocalClock

LEARN_READINGS = 3
"""Readings from an unknown device before its interval (the median gap) is known."""
MIN_LEARNED_INTERVAL_S = 1.0
"""A learned interval is never shorter than this (a burst is not a rhythm)."""


class EngineCore(EngineProfiles):
    """The state and transitions every part of :class:`rules.engine.RuleEngine` shares."""

    def __init__(self, site: Site, pack: RulePack) -> None:
        self.site = site
        # the pack, its offline rules, display names and the profile caches
        # (``rules.engine_profiles``): before the first device is registered below
        super().__init__(pack)
        self._local = LocalClock(site.tz)
        self._rules_by_id = {r.id: r for r in pack.rules}
        self._devices: dict[str, EngineDevice] = {}
        self._pending: dict[tuple[str, str, str | None], KeyState] = {}
        self._dirty: set[str] = set()
        self._windowed: dict[tuple[str, str, str | None], KeyState] = {}
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
        # a silence judgement done in slices (``rules.engine_offline``): the devices to
        # judge, the next to judge, the earliest deadline seen so far, and whether a
        # deadline may have moved meanwhile (the next judgement is then due at once)
        self._silence_scan: list[EngineDevice] | None = None
        self._silence_pos = 0
        self._silence_nxt: float = 0
        self._silence_moved = False
        # devices whose interval is not known yet -> gateway times of their readings so far
        # (a tuple, replaced at each reading: a list each was ~40 bytes more a device, and
        # at 100,000 devices that sent a message or two, most are learning)
        self._learning: dict[str, tuple[int, ...]] = {}
        # its most entries since it was last made anew: a dict does not shrink as entries
        # are taken out (after 100,000 devices learned, an empty one kept ~2 MB)
        self._learning_peak = 0
        # site devices never heard from -> gateway time their silence counts from (set at
        # the first silence judgement, dropped at the end of one once heard:
        # ``rules.engine_offline``; a slot each of the devices was 8 bytes a device)
        self._silent_since: dict[str, int] = {}
        for d in site.devices:
            self._add_device(d.id, site.site, d.system, d.zone)

    def spec(self, rule_id: str) -> Any:
        """The :class:`rules.model.RuleSpec` of a rule (``KeyError`` if unknown)."""
        return self._rules_by_id[rule_id].spec

    @property
    def devices(self) -> Mapping[str, DeviceState]:
        """Every known device's state (read-only for everyone but the engine)."""
        return self._devices

    def _heard(self, m: Telemetry | Event | Status, zone: str | None) -> EngineDevice:
        """The message's device (registered if new), marked changed and heard from; a
        telemetry or event without a zone gets the device's (an event's: the zone of the
        device its point names, a detector behind a panel, else the sender's)."""
        dev = self._devices.get(m.device)
        if dev is None:
            dev = self._add_device(m.device, m.site, m.system, zone)
        self._dirty.add(dev.id)
        dev.heard(m.received_ms)
        if m.__class__ is Status:
            return dev
        if self._learning:
            seen = self._learning.get(dev.id)
            if seen is not None:
                self._learn(dev, seen, m.received_ms)
        if m.zone is None:  # type: ignore[union-attr]
            if m.__class__ is Event and m.point is not None:  # type: ignore[union-attr]
                pd = self._devices.get(m.point)  # type: ignore[union-attr, arg-type]
                if pd is None:
                    sd = self.site.device(m.point)  # type: ignore[union-attr, arg-type]
                    m.zone = sd.zone if sd is not None else dev.zone  # type: ignore[union-attr]
                else:
                    m.zone = pd.zone or dev.zone  # type: ignore[union-attr]
            else:
                m.zone = dev.zone  # type: ignore[union-attr]
        elif dev.zone is None and not dev.kind.in_site_file:
            # registered by a message without a zone (a status, an adapter's LWT): the
            # first message that names one places it
            dev.zone = m.zone  # type: ignore[union-attr]
            for st in dev.off.values():
                st.zone = dev.zone
        if dev.status is False:
            dev.status = True  # a device that speaks is online again
        return dev

    def _add_device(self, did: str, site: str, system: str, zone: str | None) -> EngineDevice:
        sd = self.site.device(did)
        if sd is not None:
            if sd.name is not None and sd.name != did:
                self._names[did] = sd.name
            prof = self._profile_for(site, sd.system, sd.type, True, sd.interval_s, ())
            dev = EngineDevice(did, prof, sd.zone)
        else:
            prof = self._profile_for(site, system, None, False, DEFAULT_INTERVAL_S, ())
            dev = EngineDevice(did, prof, zone)
            learning = self._learning
            learning[did] = ()
            if len(learning) > self._learning_peak:
                self._learning_peak = len(learning)
        self._devices[did] = dev
        self._next_silence = 0
        return dev

    def place(self, site: Site, devices: Iterable[str]) -> None:
        """Onboarding: ``site`` is the engine's site with entries added for ``devices``.

        The engine takes ``site`` as its own, and each of ``devices`` its entry: a device
        not yet known is registered from it; one already heard on the wire (registered
        without an entry) takes the entry's zone, type, name and interval: its rules
        follow the type, its offline timeouts the interval (it stops learning one), and
        its rules' keys (an alarm active now included: it clears in the new zone) the zone.
        The devices are marked changed (saved with the state). ``ValueError`` (and
        nothing changed) when ``site`` is another site or time zone, a device has no
        entry in it, or a known device reports as another system than its entry's."""
        if site.site != self.site.site or site.timezone != self.site.timezone:
            raise ValueError(f"site {site.site} ({site.timezone}) is not this engine's site")
        entries = []
        for did in devices:
            sd = site.device(did)
            if sd is None:
                raise ValueError(f"{did!r} has no entry in the site")
            dev = self._devices.get(did)
            if dev is not None and dev.system != sd.system:
                raise ValueError(f"{did!r} already reports as a {dev.system} device")
            entries.append(sd)
        self.site = site
        for sd in entries:
            dev = self._devices.get(sd.id)
            if dev is None:
                self._add_device(sd.id, site.site, sd.system, sd.zone)
            else:
                self._assign(dev, sd.zone, sd.type, sd.display_name, sd.interval_s)
            self._dirty.add(sd.id)

    def _assign(
        self, dev: EngineDevice, zone: str, dtype: str, name: str, interval_s: float
    ) -> None:
        if name != dev.id:
            self._names[dev.id] = name
        else:
            self._names.pop(dev.id, None)
        dev.zone = zone
        if dev.kind.type != dtype:
            self._fit(dev, dtype)
        self._know_interval(dev, interval_s, in_site_file=True)
        keys = list(dev.off.values())
        keys.extend(dev.states.values())
        for st in keys:
            if st.active:  # counted by zone for the guards: moved with it
                self._track(st, -1)
                st.zone = zone
                self._track(st, +1)
            else:
                st.zone = zone

    def interval_known(self, did: str) -> bool:
        """A registered device whose interval is known (site file, or learned)."""
        return did in self._devices and did not in self._learning

    def _learn(self, dev: EngineDevice, seen: tuple[int, ...], received_ms: int) -> None:
        """One more reading of a learning device; at :data:`LEARN_READINGS` its interval
        is the median gap and its offline rules start judging it."""
        if seen and received_ms <= seen[-1]:
            return  # the same instant (or older): not a gap
        seen = (*seen, received_ms)
        if len(seen) < LEARN_READINGS:
            self._learning[dev.id] = seen
            return
        gaps = [b - a for a, b in zip(seen, seen[1:], strict=False)]
        self._know_interval(dev, learned_interval(median(gaps) / 1000))

    def _know_interval(
        self, dev: EngineDevice, interval_s: float, in_site_file: bool | None = None
    ) -> None:
        """``dev``'s interval is ``interval_s`` from now on (and, if given, whether the site
        file names it): offline timeouts follow it."""
        learning = self._learning
        if learning.pop(dev.id, None) is not None and len(learning) < self._learning_peak // 4:
            self._learning = dict(learning)  # most have learned: a table of their size
            self._learning_peak = len(learning)
        self._dirty.add(dev.id)  # saved with the device: not learned again after a restart
        k = dev.kind
        extra = {r.index for r, _t in k.offline if not r.applies_to(k.system, k.type)}
        if in_site_file is None:
            in_site_file = k.in_site_file
        dev.kind = self._profile_for(k.site, k.system, k.type, in_site_file, interval_s, extra)
        self._next_silence = 0

    def _derive(self, dev: EngineDevice, fields: tuple[str, ...], ts: int) -> tuple[str, ...]:
        """Compute the derived values that read any of ``fields`` (a fresh reading at
        ``ts``), keep them on the device like sent fields; the fields, plus those."""
        out = list(fields)
        changed = set(fields)
        prof = dev.kind
        for x in prof.derived:
            if changed.isdisjoint(x.fields):
                continue
            v = x.value(dev.values, dev)
            if v is None:
                continue
            old = dev.ts_of(x.name)
            if old is not None and ts < old:
                continue
            dev.put(x.name, v, ts)
            if x.name in prof.hist_win:
                dev.add_history(x.name, ts, v)
            changed.add(x.name)
            out.append(x.name)
        return tuple(out)

    def _rules_for(self, dev: EngineDevice, fields: tuple[str, ...]) -> tuple[Rule, ...]:
        seen: set[int] = set()
        out: list[Rule] = []
        index = dev.kind.index
        for f in fields:
            for r in index.get(f, ()):
                if r.index not in seen:
                    seen.add(r.index)
                    out.append(r)
        out.sort(key=lambda r: r.index)
        return tuple(out)

    def _guarded(self, r: Rule, dev: EngineDevice, zone: str | None) -> bool:
        g = r.guard
        if g is None:
            return False
        if g.same == "zone":
            return zone is not None and self._g_zone[g.rule][zone] > 0
        if g.same == "device":
            return self._g_dev[g.rule][dev.id] > 0
        return self._g_site[g.rule] > 0

    def _track(self, st: KeyState, delta: int) -> None:
        """Count ``st`` becoming active (``delta`` +1) or not (-1): in the guards' counters,
        the windowed keys and the device's active offline keys."""
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
        if st.rule.kind == "offline":
            st.dev.offline_on += delta

    def _unpend(self, st: KeyState) -> None:
        st.pending = None
        st.clear_pending = None
        self._pending.pop(st.key, None)

    def _context(self, st: KeyState, extra: dict[str, Any] | None) -> dict[str, Any]:
        dev, r = st.dev, st.rule
        k = dev.kind
        ctx: dict[str, Any] = dict(dev.values)
        if extra:
            ctx.update(extra)
        ctx.update(
            device=dev.id,
            device_name=dev.name,
            device_type=k.type,
            zone=st.zone,
            point=st.point or "",
            site=k.site,
            system=k.system,
            rule=r.id,
            priority=r.spec.priority_for(k.system),
            interval_s=k.interval_s,
        )
        return ctx

    def _hit(
        self,
        st: KeyState,
        active: bool,
        ts: int,
        value: HitValue | None,
        message: str,
        context: dict[str, Any],
        message_zh: str = "",
    ) -> RuleHit:
        dev = st.dev
        k = dev.kind
        return RuleHit(
            rule=st.rule.id,
            site=k.site,
            system=k.system,
            device=dev.id,
            point=st.point,
            active=active,
            ts_ms=int(ts),
            value=value,
            zone=st.zone,
            message=message,
            message_zh=message_zh,
            context=context,
        )

    def _raise(
        self,
        st: KeyState,
        ts: int,
        hits: list[RuleHit],
        value: HitValue | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        r = st.rule
        if st.pending is not None or st.clear_pending is not None:
            self._unpend(st)
        if value is None and r.value_fn is not None:
            value = _rounded(r.value_fn(st.dev.values, st.dev))
        elif value is None and r.value_field is not None:
            value = st.dev.values.get(r.value_field)
        if r.context_fns:
            extra = dict(extra or {})
            for name, fn in r.context_fns:
                extra[name] = _rounded(fn(st.dev.values, st.dev))
        ctx = self._context(st, extra)
        ctx["value"] = value
        message = " ".join(r.message.render(ctx).split())
        message_zh = " ".join(r.message_zh.render(ctx).split()) if r.message_zh else ""
        st.active = True
        st.since = st.last_ts = ts
        st.message = message
        st.value = value
        self._track(st, +1)
        self._dirty.add(st.dev.id)  # its saved active keys change
        hits.append(
            self._hit(st, True, ts, value, message, self._hit_context(st, extra), message_zh)
        )

    def _clear(self, st: KeyState, ts: int, hits: list[RuleHit]) -> None:
        r = st.rule
        if st.pending is not None or st.clear_pending is not None:
            self._unpend(st)
        value: HitValue | None = st.value
        message_zh = ""
        if r.kind == "telemetry" and r.value_field is not None:
            value = st.dev.values.get(r.value_field, value)
        if r.clear_message is not None:
            ctx = self._context(st, None)
            ctx["value"] = value
            message = " ".join(r.clear_message.render(ctx).split())
            if r.clear_message_zh is not None:
                message_zh = " ".join(r.clear_message_zh.render(ctx).split())
        else:
            message = f"cleared: {st.message}" if st.message else "cleared"
        st.active = False
        st.last_ts = ts
        st.reason = ""
        self._track(st, -1)
        self._dirty.add(st.dev.id)  # its saved active keys change
        hits.append(
            self._hit(st, False, ts, value, message, self._hit_context(st, None), message_zh)
        )

    def _hit_context(self, st: KeyState, extra: dict[str, Any] | None) -> dict[str, HitValue]:
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


def learned_interval(median_gap_s: float) -> float:
    """The interval learned from a median gap (seconds): to the whole second (devices of one
    rhythm then share a profile: see :data:`rules.engine_profiles.OFFLINE_SHARED_MAX`), at
    least :data:`MIN_LEARNED_INTERVAL_S`."""
    return max(MIN_LEARNED_INTERVAL_S, float(round(median_gap_s)))


def _rounded(x: Any) -> Any:
    """A computed figure as the alarm shows it (floats to 3 decimals)."""
    return round(x, 3) if x.__class__ is float else x
