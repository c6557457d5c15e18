"""What the rule engine keeps per device and per (rule, device, point), and field history.

Lifecycle: the engine makes one :class:`EngineDevice` per device when it registers the
device (from the site file, on its first message, or from a restored snapshot) and one
:class:`KeyState` per (rule, device, point) the first time a rule's condition holds for it
(an ``offline`` rule's: the first time it raises; or when a snapshot names it); both live
as long as the engine.

* **Shared until written.** What every device of one site, system, type and interval has
  alike (those, whether the site file names it, its rules by field, history windows,
  derived values, ``offline`` rules with their timeouts) is one :class:`Profile` (a
  :class:`rules.devices.Kind`) shared by those devices; a device's own tables of keys
  start as one shared empty dict (:data:`EMPTY`, never written) and get a dict of their
  own with their first entry (:meth:`EngineDevice.own_states` and the like): at 100,000
  devices an empty dict each, or an offline key each, is ~6-30 MB. What few devices keep
  (history, windowed figures, event rules' keys) is in one :class:`Extras`, shared
  (:data:`NO_EXTRAS`, never written) until the device has any.

* **Latest value of every field.** The engine keeps, per device, the latest value of every
  field with its timestamp (:class:`rules.devices.DeviceState`, which this extends); a
  condition reads those, so a ``setpoint`` sent once an hour still counts against every
  ``zone_temp`` in between.
* **History.** For the fields a ``rate``/``delta`` reads, the device also keeps the samples
  of the longest window any rule looks back (plus one sample at or before its start), in
  device-time order (a late reading is inserted where it belongs), so
  :meth:`EngineDevice.change` is right whatever order the readings came in; the same
  samples answer ``avg``, ``changes`` and ``reversals`` (:meth:`EngineDevice.window_stat`).
* **Derived fields.** The pack's ``derive:`` values (an air handler's operating mode from
  its valves and damper) are computed by the engine for each reading and kept here like
  any field the device sent (``kind.derived`` lists the ones that apply to the device).
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Any

from rules.devices import DeviceState, Kind
from rules.pack_model import Rule

_NUMERIC = (int, float)
#: the shared empty ``states``/``off`` of a device, and ``hist``/``stats``/``ev`` of its
#: :class:`Extras`, that has none yet: never written (the methods below give the device a
#: dict of its own first; tests/rules/conftest.py checks it stays empty)
EMPTY: dict[Any, Any] = {}
HitValue = float | bool | str


class KeyState:
    """State of one (rule, device, point)."""

    __slots__ = (
        "rule",
        "dev",
        "point",
        "active",
        "since",
        "pending",
        "clear_pending",
        "last_ts",
        "message",
        "value",
        "zone",
        "reason",
    )

    def __init__(self, rule: Rule, dev: EngineDevice, point: str | None, zone: str | None):
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


class Profile(Kind):
    """What the devices of one site, system, type and interval have alike (one object
    they all point to: their :class:`rules.devices.Kind`, and what the rules keep alike):
    ``index`` (field -> the rules that read it), ``hist_win`` (field -> the longest window
    a rule looks back), ``cache`` (the fields of a reading -> its rules; shared by the
    system and type), ``derived`` (the pack's derived values that apply) and ``offline``
    (the offline rules that judge the device, each with its timeout in ms). A device
    judged by an offline rule that no longer applies to it has a profile of its own."""

    __slots__ = ("index", "hist_win", "cache", "derived", "offline")

    def __init__(
        self,
        kind: Kind,
        index: dict[str, tuple[Rule, ...]],
        hist_win: dict[str, int],
        cache: dict[tuple[str, ...], tuple[Rule, ...]],
        derived: tuple[Any, ...],
        offline: tuple[tuple[Rule, int], ...],
    ) -> None:
        Kind.__init__(
            self, kind.site, kind.system, kind.type, kind.in_site_file, kind.interval_s, kind.names
        )
        self.index = index
        self.hist_win = hist_win
        self.cache = cache
        self.derived = derived
        self.offline = offline


class Extras:
    """What few devices keep (a device with none points to :data:`NO_EXTRAS`): ``hist``
    (field -> its samples' device times and values, for the fields a window reads),
    ``stats`` (:meth:`EngineDevice.window_stat`'s figures of this reading; the engine
    clears it at the next) and ``ev`` (event rules' keys: rule index -> point -> key).
    As four slots of every device (history in two dicts) they were 32 bytes a device;
    one object is 56 bytes for the few that have any."""

    __slots__ = ("hist", "stats", "ev")

    def __init__(self) -> None:
        self.hist: dict[str, tuple[list[int], list[float]]] = EMPTY
        self.stats: dict[tuple[str, int, str], float | None] = EMPTY
        self.ev: dict[int, dict[str | None, KeyState]] = EMPTY


#: the extras of every device that has none: never written (:meth:`EngineDevice.own_extras`
#: gives a device extras of its own first; tests/rules/conftest.py checks)
NO_EXTRAS = Extras()


class EngineDevice(DeviceState):
    """A device's shared state (``rules.devices``) plus what the rules keep per device.

    13 slots with :class:`rules.devices.DeviceState`'s, 136 bytes a device (there were
    24, 224 bytes, and a learned interval's float of 24 more): what a group of devices has
    alike is in its :class:`Profile`, what few devices keep in :class:`Extras`, and the
    time a never-heard site device's silence counts from in the engine
    (``rules.engine_offline``)."""

    __slots__ = ("states", "off", "offline_on", "extras")
    kind: Profile  # its rules, history windows, derived values and offline rules

    def __init__(self, did: str, profile: Profile, zone: str | None):
        DeviceState.__init__(self, did, profile, zone)
        self.states: dict[int, KeyState] = EMPTY  # telemetry rules by rule index
        self.off: dict[int, KeyState] = EMPTY  # its offline keys made so far, by rule index
        self.offline_on = 0  # how many of its offline keys are active (a message clears them)
        self.extras = NO_EXTRAS  # history, windowed figures, event keys: none yet

    def own_extras(self) -> Extras:
        """``extras``, of the device's own (to write into)."""
        x = self.extras
        if x is NO_EXTRAS:
            x = self.extras = Extras()
        return x

    def own_states(self) -> dict[int, KeyState]:
        """``states``, a dict of the device's own (to write into)."""
        if self.states is EMPTY:
            self.states = {}
        return self.states

    def own_ev(self) -> dict[int, dict[str | None, KeyState]]:
        """``extras.ev``, a dict of the device's own (to write into)."""
        x = self.own_extras()
        if x.ev is EMPTY:
            x.ev = {}
        return x.ev

    def offline_key(self, rule: Rule) -> KeyState:
        """The device's key of the ``offline`` rule ``rule`` (made the first time)."""
        st = self.off.get(rule.index)
        if st is None:
            if self.off is EMPTY:
                self.off = {}
            st = self.off[rule.index] = KeyState(rule, self, None, self.zone)
        return st

    def change(self, field: str, window_ms: int, per_minute: bool) -> float | None:
        """Change of ``field`` over the last ``window_ms`` (per minute if asked)."""
        h = self.extras.hist.get(field)
        latest = self.values.get(field)
        if h is None or latest is None or latest.__class__ not in _NUMERIC:
            return None
        hts = h[0]
        latest_ts: int = self.ts_of(field)  # type: ignore[assignment]
        i = bisect_right(hts, latest_ts - window_ms) - 1
        if i < 0:
            return None
        ref_ts, ref = hts[i], h[1][i]
        delta = float(latest - ref)
        if not per_minute:
            return delta
        dt = latest_ts - ref_ts
        return delta * 60_000 / dt if dt > 0 else None

    def window_stat(self, field: str, window_ms: int, kind: str) -> float | None:
        """``avg`` (mean of the samples), ``changes`` (how many times the value changed)
        or ``reversals`` (how many times it turned from rising to falling or back) of
        ``field`` over the last ``window_ms`` before its latest value. Kept until the
        device's next reading (several rules read the same average)."""
        key = (field, window_ms, kind)
        stats = self.extras.stats
        if key in stats:
            return stats[key]
        if stats is EMPTY:
            stats = self.own_extras().stats = {}
        r = stats[key] = self._window_stat(field, window_ms, kind)
        return r

    def _window_stat(self, field: str, window_ms: int, kind: str) -> float | None:
        h = self.extras.hist.get(field)
        if h is None:
            return None
        hts, hv = h
        latest_ts = self.ts_of(field)
        if latest_ts is None:
            latest_ts = hts[-1]
        end = bisect_right(hts, latest_ts)
        start = bisect_right(hts, latest_ts - window_ms)
        if kind == "avg":
            if end <= start:
                return None
            return float(sum(hv[start:end])) / (end - start)
        lo = max(start - 1, 0)
        if kind == "changes":
            return float(sum(1 for i in range(max(start, 1), end) if hv[i] != hv[i - 1]))
        count, last = 0, 0
        for i in range(lo + 1, end):
            d = hv[i] - hv[i - 1]
            if d == 0:
                continue
            sign = 1 if d > 0 else -1
            if last and sign != last and hts[i] > latest_ts - window_ms:
                count += 1
            last = sign
        return float(count)

    def add_history(self, field: str, ts: int, value: Any) -> None:
        if value.__class__ not in _NUMERIC:
            return
        x = self.extras
        h = x.hist.get(field)
        if h is None:
            x = self.own_extras()
            if x.hist is EMPTY:
                x.hist = {}
            h = x.hist[field] = ([], [])
        hts, hv = h
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
        cutoff = hts[-1] - self.kind.hist_win[field]
        j = bisect_right(hts, cutoff) - 1  # keep one sample at or before the window start
        if j > 0:
            del hts[:j]
            del hv[:j]
