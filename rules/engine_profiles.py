"""The devices' profiles: what each device of the engine shares with its like.

Lifecycle: :class:`EngineProfiles` is the base of :class:`rules.engine_core.EngineCore`,
made with it (caches empty) from the rule pack. A device gets its
:class:`rules.engine_device.Profile` (its :class:`rules.devices.Kind`: site, system, type,
site file or not, interval; and its rules: the field index, the history windows, the
rules-by-fields cache, the derived values, the offline rules with their timeouts) from
:meth:`EngineProfiles._profile_for` when it is registered, and a new one when onboarding
gives it a type (:meth:`EngineProfiles._fit`) or its interval becomes known (site file,
learned, restored: ``rules.engine_core``). The caches are never emptied: one index per
(system, type), one profile per (site, system, type, site file or not, interval) up to
:data:`OFFLINE_SHARED_MAX`; they live as long as the engine.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from rules.devices import Kind
from rules.engine_device import EMPTY, EngineDevice, KeyState, Profile
from rules.pack_model import Rule, RulePack

OFFLINE_SHARED_MAX = 4096
"""(site, system, type, site file or not, interval) whose profile (those, rules, windows,
offline rules and timeouts) is shared by their devices (past this many, a device gets a
profile of its own, over the same shared index). Learned intervals are whole seconds, so
that devices of one rhythm share one: to the millisecond, 30,000 devices of one rhythm
whose gaps jittered by +-200 ms made ~790 profiles (~70 bytes a device more), by +-3 s
4,096 and then one each (~200 bytes a device more)."""


class EngineProfiles:
    """The shared profiles (and their index caches) of :class:`rules.engine.RuleEngine`'s
    devices."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self._offline_rules = [r for r in pack.rules if r.kind == "offline"]
        # display names the site file gives (device id -> name; a device without one is
        # called by its id): one dict for all, read through the devices' profiles
        self._names: dict[str, str] = {}
        # per (system, type): the field index, the history windows, the rules-by-fields
        # cache and the derived values, shared by every device of that system and type (not
        # one of each a device)
        self._index_cache: dict[
            tuple[str, str | None],
            tuple[
                dict[str, tuple[Rule, ...]],
                dict[str, int],
                dict[tuple[str, ...], Any],
                tuple[Any, ...],
            ],
        ] = {}
        # per (site, system, type, site file or not, interval): the profile of its devices
        # (those, the above, and the offline rules that judge them, with timeouts)
        self._profiles: dict[tuple[str, str, str | None, bool, float], Profile] = {}

    def _fit(self, dev: EngineDevice, dtype: str | None) -> None:
        """Give ``dev`` (now of type ``dtype``) the rules of its system and type: the field
        index, the history windows, the derived values, and its offline rules (a key kept
        from before, with its alarm, where the rule still applies; an active one of a rule
        that no longer applies is kept, and its rule judges the device, until it clears;
        keys are made when they first raise: :meth:`EngineDevice.offline_key`)."""
        k = dev.kind
        kept: dict[int, KeyState] = {}
        extra: set[int] = set()
        for i, st in dev.off.items():
            if st.rule.applies_to(k.system, dtype):
                kept[i] = st
            elif st.active:
                kept[i] = st
                extra.add(i)
        dev.off = kept or EMPTY
        dev.kind = self._profile_for(k.site, k.system, dtype, k.in_site_file, k.interval_s, extra)

    def _index_for(
        self, system: str, dtype: str | None
    ) -> tuple[
        dict[str, tuple[Rule, ...]], dict[str, int], dict[tuple[str, ...], Any], tuple[Any, ...]
    ]:
        """The field index, history windows, rules-by-fields cache and derived values of
        ``system`` and ``dtype`` (made the first time)."""
        idx = self._index_cache.get((system, dtype))
        if idx is None:
            index: dict[str, list[Rule]] = {}
            hist: dict[str, int] = {}
            for r in self.pack.rules:
                if not r.applies_to(system, dtype):
                    continue
                fields = (
                    r.fields
                    if r.kind == "telemetry"
                    else (r.clear.fields if r.kind == "event" and r.clear is not None else ())
                )
                for f in fields:
                    index.setdefault(f, []).append(r)
                for f, w in r.history.items():
                    hist[f] = max(hist.get(f, 0), w)
            for x in self.pack.derived:
                if x.applies_to(system, dtype):
                    for f, w in x.history.items():
                        hist[f] = max(hist.get(f, 0), w)
            derived = tuple(x for x in self.pack.derived if x.applies_to(system, dtype))
            idx = ({f: tuple(rs) for f, rs in index.items()}, hist, {}, derived)
            self._index_cache[(system, dtype)] = idx
        return idx

    def _profile_for(
        self,
        site: str,
        system: str,
        dtype: str | None,
        in_site_file: bool,
        interval_s: float,
        extra: Collection[int],
    ) -> Profile:
        """The profile of the devices of ``site``, ``system``, ``dtype``, named in the site
        file or not, at ``interval_s``: their rules (from the index cache) and the offline
        rules that judge them (those of the system and type, and the rules of index in
        ``extra``: a profile of its own then), each with its timeout (ms) at the interval."""
        key = (site, system, dtype, in_site_file, interval_s)
        if not extra:
            got = self._profiles.get(key)
            if got is not None:
                return got
        offline = tuple(
            (r, max(int(r.offline_factor * interval_s * 1000), r.offline_min_ms))
            for r in self._offline_rules
            if r.index in extra or r.applies_to(system, dtype)
        )
        kind = Kind(site, system, dtype, in_site_file, interval_s, self._names)
        prof = Profile(kind, *self._index_for(system, dtype), offline)
        if not extra and len(self._profiles) < OFFLINE_SHARED_MAX:
            self._profiles[key] = prof
        return prof
