"""Restart: the engine's state out as JSON-ready data, and back in.

Lifecycle: the runtime saves :meth:`EngineState.snapshot` (whole, or only the devices
:meth:`EngineState.take_dirty` names) while it runs, and after a restart hands it to
:meth:`EngineState.restore` on a fresh engine before the first message.

* **Restart.** :meth:`EngineState.snapshot` returns the JSON-ready state (pending timers,
  active keys, latest device values; incremental: the changed devices, each with its
  active keys) and :meth:`EngineState.restore` takes it back (or just the
  :meth:`EngineState.pending` list), so pending delays complete at the right time.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rules.engine_core import EngineCore, learned_interval
from rules.engine_device import EngineDevice, KeyState

SNAPSHOT_VERSION = 1


class EngineState(EngineCore):
    """Snapshot, restore and the pending / active / changed-device views of the engine."""

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
            out.append(
                {
                    "rule": st.rule.id,
                    "device": st.dev.id,
                    "point": st.point,
                    "kind": kind,
                    "since_ms": since,
                    "due_ms": since + delay,
                }
            )
        return out

    def take_dirty(self) -> set[str]:
        """Devices whose latest values changed since the last call (then forgotten)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def mark_dirty(self, devices: Iterable[str]) -> None:
        """Take back what :meth:`take_dirty` gave (its save failed: save them next time)."""
        self._dirty.update(devices)

    def snapshot(self, devices: Iterable[str] | None = None) -> dict[str, Any]:
        """The engine's state, JSON-ready (see :meth:`restore`).

        Whole (``devices`` None): every device's latest values, every active key (in
        ``active``) and the pending timers. Incremental (an iterable of device ids, see
        :meth:`take_dirty`): only those devices, each with its own active keys (in its
        entry's ``active``), and the pending timers: the cost follows what changed, not
        the number of devices or of active alarms (30,000 active offline alarms are not
        written again at every save). A device is marked changed when a key of its
        raises or clears, so its saved entry never names a key no longer active."""
        out: dict[str, Any] = {}
        whole = devices is None
        chosen = (
            self._devices.values()
            if devices is None
            else [d for d in (self._devices.get(i) for i in devices) if d is not None]
        )
        for d in chosen:
            dts = d.ts
            k = d.kind
            entry: dict[str, Any] = {
                "site": k.site,
                "system": k.system,
                "zone": d.zone,
                "last_recv_ms": d.last_recv,
                "values": {f: [v, dts[f]] for f, v in d.values.items()},
            }
            if not whole:
                entry["active"] = [_active_entry(st) for st in _device_states(d) if st.active]
            if not k.in_site_file and d.id not in self._learning:
                entry["interval_s"] = k.interval_s  # learned: kept over a restart
            out[d.id] = entry
        snap: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "devices": out,
            "pending": self.pending(),
        }
        if whole:
            snap["active"] = [_active_entry(st) for st in self._states() if st.active]
        return snap

    def restore(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Take back a :meth:`snapshot` (or a :meth:`pending` list, or a dict with any of
        ``devices``, ``active``, ``pending``: an alarm store can pass its open alarms as
        ``active`` entries ``{rule, device, point, since_ms}``). Entries naming rules the
        pack no longer has are skipped. Unknown devices are registered."""
        if isinstance(state, list):
            state = {"pending": state}
        active = list(state.get("active") or [])
        for did, d in (state.get("devices") or {}).items():
            active.extend({**a, "device": did} for a in d.get("active") or [])
            dev = self._devices.get(did) or self._add_device(
                did, d.get("site") or self.site.site, d.get("system") or "", d.get("zone")
            )
            learned = d.get("interval_s")
            if learned and dev.id in self._learning:
                # (to the whole second, as learned now: one saved before is in ms)
                self._know_interval(dev, learned_interval(float(learned)))
            last = d.get("last_recv_ms")
            if last is not None and (dev.last_recv is None or last > dev.last_recv):
                dev.last_recv = int(last)
            for f, (v, ts) in (d.get("values") or {}).items():
                old = dev.ts_of(f)
                if old is None or ts >= old:
                    dev.put(f, v, int(ts))
                    if ts > dev.clock:
                        dev.clock = int(ts)
                    if f in dev.kind.hist_win:
                        dev.add_history(f, int(ts), v)
        for a in active:
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
        self._silence_scan = None  # a judgement in slices starts over

    def _states(self) -> list[KeyState]:
        out: list[KeyState] = []
        for d in self._devices.values():
            out.extend(_device_states(d))
        return out

    def _state_for(self, entry: dict[str, Any]) -> KeyState | None:
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
            pts = dev.own_ev().setdefault(r.index, {})
            st = pts.get(point)
            if st is None:
                st = pts[point] = KeyState(r, dev, point, entry.get("zone") or dev.zone)
            return st
        if r.kind == "offline":
            for r2, _t in dev.kind.offline:
                if r2 is r:
                    return dev.offline_key(r)
            return None
        st = dev.states.get(r.index)
        if st is None:
            st = dev.own_states()[r.index] = KeyState(r, dev, None, dev.zone)
        return st


def _device_states(d: EngineDevice) -> list[KeyState]:
    """Every key of one device: telemetry, event (by point) and offline (those made)."""
    out = list(d.states.values())
    for pts in d.extras.ev.values():
        out.extend(pts.values())
    if d.off:
        for r, _t in d.kind.offline:
            st = d.off.get(r.index)
            if st is not None:
                out.append(st)
    return out


def _active_entry(st: KeyState) -> dict[str, Any]:
    return {
        "rule": st.rule.id,
        "device": st.dev.id,
        "point": st.point,
        "since_ms": st.since,
        "zone": st.zone,
        "message": st.message,
        "value": st.value,
        "reason": st.reason,
    }
