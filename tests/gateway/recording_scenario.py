"""A recorded ten minutes of five devices, for the record/replay and backtest tests.

Each device reports every 30 s (so none falls silent), and no alarm depends on when the
gateway's once-a-second tick happens to run (every delay is confirmed by a later reading
and none is broken before it is due), so live ingestion and the backtest must agree
exactly:

* ``door-s1``: open from +30 s, held (``access.door_held`` at +90 s), closed at +150 s;
* ``lamp-s1``: ``lamp_fault`` +60..+210 s and +270..+390 s (two ``lighting.lamp_failure``);
* ``fcu-s1``: 27 °C against 22 from +90 s (``hvac.zone_temp_high`` at +390 s), 23 °C at +480 s;
* ``fp-s1``: ``fire_alarm`` at +300 s, ``reset`` at +360 s (``fire.alarm``);
* ``door-s2`` (free access): ``door_forced`` at +510 s, closed at +540 s
  (``access.door_forced``).
"""

from __future__ import annotations

import json
from typing import Any

S = 1000
SPAN_S = 600
#: (rule, device, point, raise offset s, clear offset s) the scenario must give
EXPECTED = {
    ("access.door_held", "door-s1", None, 90, 150),
    ("lighting.lamp_failure", "lamp-s1", None, 60, 210),
    ("lighting.lamp_failure", "lamp-s1", None, 270, 390),
    ("hvac.zone_temp_high", "fcu-s1", None, 390, 480),
    ("fire.alarm", "fp-s1", None, 300, 360),
    ("access.door_forced", "door-s2", None, 510, 540),
}
DEVICES = ("door-s1", "lamp-s1", "fcu-s1", "fp-s1", "door-s2")
Episode = tuple[str, str, str | None, int, int | None]


def _t(site: str, system: str, device: str, ts: int, **values: Any) -> tuple[int, str, bytes]:
    body = {"ts": ts, "values": values}
    return ts, f"sitewatch/{site}/{system}/{device}/telemetry", json.dumps(body).encode()


def _e(site: str, system: str, device: str, ts: int, etype: str) -> tuple[int, str, bytes]:
    body = {"ts": ts, "type": etype}
    return ts, f"sitewatch/{site}/{system}/{device}/event", json.dumps(body).encode()


def messages(site: str, t0: int) -> list[tuple[int, str, bytes]]:
    """(device time, topic, payload), in time order (a reading before an event of the
    same instant)."""
    out: list[tuple[int, str, bytes]] = []
    for k in range(0, SPAN_S + 1, 30):
        ts = t0 + k * S
        out.append(_t(site, "access", "door-s1", ts, door_open=30 <= k < 150, secure=True))
        fault = 60 <= k < 210 or 270 <= k < 390
        out.append(_t(site, "lighting", "lamp-s1", ts, on=True, lamp_fault=fault))
        temp = 27.0 if 90 <= k < 480 else (23.0 if k >= 480 else 22.0)
        out.append(_t(site, "hvac", "fcu-s1", ts, zone_temp=temp, setpoint=22.0, fan=True))
        out.append(_t(site, "fire", "fp-s1", ts, heat=21.0))
        if k == 300:
            out.append(_e(site, "fire", "fp-s1", ts, "fire_alarm"))
        if k == 360:
            out.append(_e(site, "fire", "fp-s1", ts, "reset"))
        out.append(_t(site, "access", "door-s2", ts, door_open=k == 510, secure=False))
        if k == 510:
            out.append(_e(site, "access", "door-s2", ts, "door_forced"))
    return out


def expected(t0: int) -> set[Episode]:
    return {(r, d, p, t0 + a * S, t0 + c * S) for r, d, p, a, c in EXPECTED}
