"""Offline devices: an ``offline`` status, or silence judged on the gateway clock.

Lifecycle: each device is given the ``offline`` rules that apply to it (with their
timeouts) when it is registered, and gets a state per rule the first time that rule raises
for it (a device never offline keeps none); :meth:`OfflineJudge.on_status` and every
telemetry or event of the device move it, and :meth:`rules.engine.RuleEngine.tick` judges
silence (only when the next deadline is due: ``_next_silence`` is reset whenever a
deadline may have moved).

* **Offline.** A device is offline when its status is ``offline`` (its MQTT will), or when
  nothing was received from it for ``factor`` x its usual interval (at least ``min``),
  measured on the gateway clock (``received_ms`` / ``now_ms``). Site devices never heard
  from count from the first :meth:`rules.engine.RuleEngine.tick`. Any telemetry or event
  from the device clears it; an ``online`` status clears an offline raised by an
  ``offline`` status (a retained ``online`` redelivered on reconnect is no proof of life
  for a silent device). Call :meth:`OfflineJudge.link_lost` when the broker link drops
  (silence is then not judged) and :meth:`OfflineJudge.link_restored` when it is back (and
  after a restart): silence-based offline then waits ``grace_s`` before it raises
  anything, instead of flooding.
* **Known intervals only.** Silence and an ``offline`` status are judged only for devices
  whose interval is known (``rules.engine_core``: the site file's, or learned from
  several readings). An unknown device's ``offline`` status registers it (it is listed,
  its status kept) without an alarm; its silence is never judged until it has shown a
  rhythm. An offline alarm restored from before a restart still clears when it speaks.
"""

from __future__ import annotations

from rules.engine_core import EngineCore
from rules.engine_device import EngineDevice
from rules.model import RuleHit, Status

_INF = float("inf")
_SLICED = -_INF  # ``_next_silence`` of a judgement cut short: due at once


class OfflineJudge(EngineCore):
    """Status and silence: the ``offline`` rules of :class:`rules.engine.RuleEngine`."""

    def on_status(self, s: Status, now_ms: int) -> list[RuleHit]:
        dev = self._heard(s, None)
        dev.status = s.online
        hits: list[RuleHit] = []
        unknown = dev.id in self._learning
        for r, _timeout in dev.kind.offline:
            st = dev.off.get(r.index)
            active = st is not None and st.active
            if unknown and not active:
                continue  # no known interval: registered, no alarm
            if s.online:
                if st is not None and active and st.reason == "status":
                    self._clear(st, max(now_ms, st.last_ts), hits)
            elif st is not None and active:
                st.reason = "status"
            else:
                st = dev.offline_key(r)
                st.reason = "status"
                self._raise(
                    st,
                    max(now_ms, st.last_ts),
                    hits,
                    value="offline",
                    extra={"reason": "status offline"},
                )
        if s.online:
            self._next_silence = 0
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

    def _offline_heard(self, dev: EngineDevice, ts: int, hits: list[RuleHit]) -> None:
        for r, _timeout in dev.kind.offline:
            st = dev.off.get(r.index)
            if st is not None and st.active:
                self._clear(st, max(ts, st.last_ts), hits)
                self._next_silence = 0

    @property
    def judging(self) -> bool:
        """A silence judgement given a limit stopped before the last device: call
        :meth:`judge_more` (or :meth:`rules.engine.RuleEngine.tick`) again to go on."""
        return self._silence_scan is not None

    def judge_more(
        self, now_ms: int, max_devices: int | None = None, max_hits: int | None = None
    ) -> list[RuleHit]:
        """Go on with a silence judgement cut short by a limit (nothing if none is)."""
        hits: list[RuleHit] = []
        if self._silence_scan is not None and self._link_up:
            self._judge_silence(now_ms, hits, max_devices, max_hits)
        return hits

    def _judge_silence(
        self,
        now_ms: int,
        hits: list[RuleHit],
        max_devices: int | None = None,
        max_hits: int | None = None,
    ) -> None:
        """Raise an offline alarm for every device silent past its deadline, and set when
        the next deadline falls due.

        With limits, a judgement stops after ``max_devices`` devices or ``max_hits`` hits
        and goes on at the next call where it stopped (:attr:`judging` says one is under
        way; the devices it judges are those known when it started; one registered
        meanwhile, or a deadline moved meanwhile, makes the next judgement due at once).
        A flood of 30,000 silent devices is then raised over several calls, with the
        caller's event loop served between them, instead of in one long turn. The alarms'
        times are their deadlines either way, so slices change when a hit is emitted,
        never what it says (except ``silent_s``, the silence measured when it is)."""
        scan = self._silence_scan
        if scan is None:
            scan = self._silence_scan = list(self._devices.values())
            self._silence_pos = 0
            self._silence_nxt = _INF
            self._silence_moved = False
        elif self._next_silence != _SLICED:
            self._silence_moved = True  # reset since the last slice: judge again after
        nxt = self._silence_nxt
        grace = self._grace_until
        learning = self._learning
        silent = self._silent_since
        n = len(scan)
        i = self._silence_pos
        end = n if max_devices is None else min(n, i + max_devices)
        stop = None if max_hits is None else len(hits) + max_hits
        while i < end:
            dev = scan[i]
            i += 1
            if not dev.kind.offline or dev.id in learning:
                continue
            last = dev.last_recv
            if last is None:
                last = silent.get(dev.id)
                if last is None:
                    last = silent[dev.id] = now_ms  # a site device never heard: from now
            for r, timeout in dev.kind.offline:
                st = dev.off.get(r.index)
                if st is not None and st.active:
                    continue
                deadline = last + timeout
                if deadline < grace:
                    deadline = grace
                if now_ms >= deadline:
                    silent_s = (now_ms - last) / 1000
                    if st is None:
                        st = dev.offline_key(r)
                    st.reason = "silence"
                    self._raise(
                        st,
                        max(deadline, st.last_ts),
                        hits,
                        value="offline",
                        extra={
                            "reason": f"no message for {silent_s:.0f} s",
                            "silent_s": round(silent_s, 1),
                            "timeout_s": timeout / 1000,
                        },
                    )
                elif deadline < nxt:
                    nxt = deadline
            if stop is not None and len(hits) >= stop:
                break
        if i < n:  # cut short: due again at once
            self._silence_pos = i
            self._silence_nxt = nxt
            self._next_silence = _SLICED  # due at once; a reset meanwhile shows
            return
        self._silence_scan = None
        self._next_silence = 0 if self._silence_moved else nxt
        if silent:
            devices = self._devices
            still = {d: t for d, t in silent.items() if devices[d].last_recv is None}
            if len(still) < len(silent):  # heard since: counted from their last message
                self._silent_since = still
