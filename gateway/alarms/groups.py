"""Flood views of the open alarms: group alarms and the bounded snapshot (EEMUA 191).

**Group alarms.** When ``group_min`` (10) or more open alarms share a rule, a zone and a
priority (one rule over one cause: "2,310 devices offline in zone car-park"), the control
room shows them as one group entry, its members on demand
(``GET /api/v1/alarms?state=open&rule=&zone=&priority=``). Fire alarms are never grouped
away: an alarm of priority ``critical``, of the ``fire`` system or of a ``fire.*`` rule is
always shown on its own, and so is an alarm with no zone.

**A view, not a stored alarm.** The group is computed from the alarm service's open
alarms each time it is asked (memoised per change sequence number), never written:

- its members stay the alarms of record: each is raised, acknowledged, shelved, cleared
  and journaled on its own, as ISA-18.2 / IEC 62682 require; a stored group alarm would
  need its own lifecycle (acknowledging it acknowledges whom? it clears when? it opens
  again at K-1 or K+1?), its own journal and its own row under "one open alarm per
  fault", and it would count twice in the alarm-rate figures (``gateway.alarms.kpis``);
- a view cannot disagree with its members, also across several gateways on one
  database (each computes it from the same alarms) and after a restart (nothing to
  rebuild or to migrate);
- it costs one pass over the open alarms per change batch, which the memo shares
  between every SSE client and request.

The price: a group cannot be acknowledged as one (the operator acts on its members), and
it has no id of record (``id`` is ``group:<rule>:<zone>:<priority>``, stable while it exists).

**Bounded snapshot.** A new SSE client gets at most ``per_priority`` (200) of the newest
open alarms of each priority that are not members of a group, then one ``snapshot``
summary: open and unacknowledged counts per priority, the groups, how many alarms of each
priority were left out (``more``); the rest is paged from ``GET /api/v1/alarms``.

Lifecycle: one :class:`AlarmViews` per alarm service, reading its cache; pure functions
otherwise. Runs on the event loop only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gateway.alarms.model import Alarm
from gateway.clock import iso_ms
from rules.vocab import PRIORITIES, AlarmState, Priority

#: open alarms of one rule, zone and priority shown as one group from this many on
GROUP_MIN = 10
#: newest open alarms per priority a new SSE client gets (members of groups aside)
SNAPSHOT_PER_PRIORITY = 200

GroupKey = tuple[str, str, str]  # rule, zone, priority


def groupable(a: Alarm) -> bool:
    """Whether ``a`` may be shown inside a group (never a fire or critical alarm)."""
    return (
        a.zone is not None
        and a.priority != Priority.CRITICAL
        and a.system != "fire"
        and not a.rule.startswith("fire.")
    )


def group_key(a: Alarm) -> GroupKey | None:
    return (a.rule, a.zone or "", a.priority) if groupable(a) else None


def group_id(key: GroupKey) -> str:
    return "group:" + ":".join(key)


def group_text(rule: str, zone: str, n: int) -> tuple[str, str]:
    """The group's English and Chinese line: "2,310 devices offline in zone car-park"."""
    if rule == "device.offline":
        return f"{n:,} devices offline in zone {zone}", f"{zone} 区域 {n:,} 台设备离线"
    return f"{n:,} alarms {rule} in zone {zone}", f"{zone} 区域 {n:,} 条 {rule} 报警"


class _Group:
    __slots__ = ("key", "count", "unacked", "active", "first_ms", "last_ms", "newest_id")

    def __init__(self, key: GroupKey) -> None:
        self.key = key
        self.count = self.unacked = self.active = 0
        self.first_ms: int | None = None
        self.last_ms = 0
        self.newest_id = 0

    def add(self, a: Alarm) -> None:
        self.count += 1
        if a.state in (AlarmState.ACTIVE_UNACKED, AlarmState.CLEARED_UNACKED):
            self.unacked += 1
        if a.is_active:
            self.active += 1
        self.first_ms = (
            a.raised_at_ms if self.first_ms is None else min(self.first_ms, a.raised_at_ms)
        )
        self.last_ms = max(self.last_ms, a.updated_at_ms)
        self.newest_id = max(self.newest_id, a.id or 0)

    def public(self) -> dict[str, Any]:
        rule, zone, priority = self.key
        en, zh = group_text(rule, zone, self.count)
        return {
            "id": group_id(self.key),
            "kind": "group",
            "rule": rule,
            "zone": zone,
            "priority": priority,
            "count": self.count,
            "unacked": self.unacked,
            "active": self.active,
            "raised_at": iso_ms(self.first_ms),
            "updated_at": iso_ms(self.last_ms),
            "newest_id": self.newest_id,
            "message": en,
            "message_zh": zh,
        }


def view(alarms: Iterable[Alarm], per_priority: int, group_min: int) -> dict[str, Any]:
    """The snapshot of ``alarms`` (open ones; ``group_min`` 0: none grouped): ``alarms``
    (the newest ``per_priority`` of each priority that are not in a group, as
    :class:`Alarm`, oldest first), ``groups``
    (public dicts, largest first), ``counts`` (``{priority: {"open", "unacked"}}``),
    ``more`` (``{priority: alarms of it not sent and not in a group}``)."""
    counts: dict[str, dict[str, int]] = {str(p): {"open": 0, "unacked": 0} for p in PRIORITIES}
    by_key: dict[GroupKey, list[Alarm]] = {}
    loose: list[Alarm] = []
    for a in alarms:
        c = counts.setdefault(a.priority, {"open": 0, "unacked": 0})
        c["open"] += 1
        if a.state in (AlarmState.ACTIVE_UNACKED, AlarmState.CLEARED_UNACKED):
            c["unacked"] += 1
        k = group_key(a)
        if k is None:
            loose.append(a)
        else:
            by_key.setdefault(k, []).append(a)
    groups: list[_Group] = []
    for k, members in by_key.items():
        if group_min > 0 and len(members) >= max(2, group_min):
            g = _Group(k)
            for a in members:
                g.add(a)
            groups.append(g)
        else:
            loose.extend(members)
    per: dict[str, list[Alarm]] = {}
    for a in loose:
        per.setdefault(a.priority, []).append(a)
    sent: list[Alarm] = []
    more: dict[str, int] = {p: 0 for p in counts}
    for p, xs in per.items():
        xs.sort(key=lambda a: a.id or 0, reverse=True)
        sent.extend(xs[:per_priority])
        more[p] = max(0, len(xs) - per_priority)
    sent.sort(key=lambda a: a.id or 0)
    groups.sort(key=lambda g: (-g.count, g.key))
    return {
        "alarms": sent,
        "groups": [g.public() for g in groups],
        "counts": counts,
        "more": more,
    }


class AlarmViews:
    """Views of the open alarms ``alarms()`` at sequence number ``seq()``, memoised per
    sequence number and settings (every SSE client of one moment shares one pass)."""

    def __init__(self, alarms: Callable[[], Iterable[Alarm]], seq: Callable[[], int]) -> None:
        self._alarms = alarms
        self._seq = seq
        self._memo: dict[tuple[int, int], tuple[int, dict[str, Any]]] = {}

    def snapshot(
        self, per_priority: int = SNAPSHOT_PER_PRIORITY, group_min: int = GROUP_MIN
    ) -> dict[str, Any]:
        """:func:`view` plus ``seq`` (the last change it includes), ``limit`` and
        ``group_min``; ``alarms`` as public dicts."""
        seq = self._seq()
        held = self._memo.get((per_priority, group_min))
        if held is not None and held[0] == seq:
            return held[1]
        v = view(self._alarms(), per_priority, group_min)
        out = {
            "seq": seq,
            "alarms": [a.public() for a in v["alarms"]],
            "groups": v["groups"],
            "counts": v["counts"],
            "more": v["more"],
            "limit": per_priority,
            "group_min": group_min,
        }
        if len(self._memo) >= 8:  # settings vary little; bounded all the same
            self._memo.clear()
        self._memo[(per_priority, group_min)] = (seq, out)
        return out

    def groups(self, group_min: int = GROUP_MIN) -> list[dict[str, Any]]:
        """The groups now (a live ``groups`` event, ``GET /api/v1/alarms/groups``)."""
        return self.snapshot(SNAPSHOT_PER_PRIORITY, group_min)["groups"]
