"""What keeps an alarm from the operator besides shelving: out of service, suppression.

- Out of service: per (rule, device), kept until returned to service; its open alarms
  (every point) are flagged at once, and alarms it raises later are recorded but flagged.
- Suppression by design: an active ``fire.alarm`` in a zone suppresses that zone's
  consequential alarms (``access.door_held``, ``hvac.*``), with the reason on each alarm
  and in the journal; it lifts when the fire alarm clears.
- ``critical`` alarms are never suppressed or put out of service.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence

from gateway.alarms.cache import AlarmCache
from gateway.alarms.changes import AlarmChanges
from gateway.alarms.model import Alarm
from rules.vocab import AlarmState, Priority

#: suppressing rule -> consequential rules (``fnmatch`` patterns) in the same zone
DEFAULT_SUPPRESSION: Mapping[str, tuple[str, ...]] = {
    "fire.alarm": ("access.door_held", "hvac.*"),
}


class Masks:
    """Out-of-service and suppression flags of the alarms in ``cache``."""

    def __init__(self, cache: AlarmCache, suppression: Mapping[str, Sequence[str]]) -> None:
        self._cache = cache
        self._suppression = {k: tuple(v) for k, v in suppression.items()}

    def suppresses(self, rule: str) -> bool:
        """Whether alarms of ``rule`` suppress others."""
        return rule in self._suppression

    def out_of_service(self, work: AlarmChanges, a: Alarm) -> None:
        """Flag (or unflag) ``a`` by the out-of-service list."""
        oos = a.priority != Priority.CRITICAL and (a.rule, a.device) in self._cache.oos
        if oos and not a.out_of_service:
            a.out_of_service = True
            entry = self._cache.oos[(a.rule, a.device)]
            work.log(a, "out_of_service", actor=entry["by"], reason=entry["reason"])
        elif not oos and a.out_of_service:
            a.out_of_service = False
            work.log(a, "in_service")

    def suppressor_for(self, a: Alarm, *, override: Alarm | None = None) -> Alarm | None:
        """The active suppressing alarm (e.g. a fire alarm) in ``a``'s zone whose
        consequences include ``a``'s rule; ``override`` stands for its own cached copy."""
        if a.priority == Priority.CRITICAL or a.zone is None:
            return None
        rules = [
            s
            for s, pats in self._suppression.items()
            if any(fnmatch.fnmatchcase(a.rule, p) for p in pats)
        ]
        if not rules:
            return None
        open_ = self._cache.open.values()
        candidates: Iterable[Alarm] = open_
        if override is not None:
            candidates = [*(c for c in open_ if c.key != override.key), override]
        for s in candidates:
            if s.rule in rules and s.zone == a.zone and s.is_active and s.key != a.key:
                return s
        return None

    def suppressed(self, work: AlarmChanges, a: Alarm, *, override: Alarm | None = None) -> None:
        """Flag (or unflag) ``a`` as suppressed by design, with the reason."""
        by = self.suppressor_for(a, override=override)
        if by is not None and not a.suppressed:
            a.suppressed = True
            a.suppressed_reason = (
                f"suppressed by design: {by.rule} active in zone {a.zone} ({by.device})"
            )
            work.log(
                a,
                "suppress",
                reason=a.suppressed_reason,
                detail={"by_rule": by.rule, "by_device": by.device, "by_alarm": by.id},
            )
        elif by is None and a.suppressed:
            a.suppressed = False
            work.log(a, "unsuppress", reason=f"{a.suppressed_reason}: lifted")
            a.suppressed_reason = None

    def suppressor_changed(self, work: AlarmChanges, old: Alarm | None, new: Alarm) -> None:
        """A suppressing alarm (``fire.alarm``) was raised, returned or cleared: re-judge
        the consequential alarms of its zone."""
        if not self.suppresses(new.rule):
            return
        if new.zone is None or (old is not None and old.is_active == new.is_active):
            return
        for a in list(self._cache.open.values()):
            if a.zone != new.zone or a.key == new.key or a.priority == Priority.CRITICAL:
                continue
            if not any(fnmatch.fnmatchcase(a.rule, p) for p in self._suppression.get(new.rule, ())):
                continue
            target = work.edited(a)
            was = target.suppressed
            if was == (self.suppressor_for(target, override=new) is not None):
                continue
            target = work.edit(a)
            self.suppressed(work, target, override=new)
            if target.suppressed != was:
                work.emit(
                    target,
                    "suppress" if target.suppressed else "unsuppress",
                    not target.suppressed
                    and target.state == AlarmState.ACTIVE_UNACKED
                    and not target.masked,
                )
