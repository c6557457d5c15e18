"""Adapters vs the contract's decoder: µs per message, each decoder on its usual message.

python -m bench.adapters [--messages 20000] [--repeat 5] [--clock cpu|wall]

Lifecycle: builds one AdapterDecoder (every kind, as an adapters file would) and one
ContractDecoder for the same site; for each case decodes the same message ``--messages``
times, ``--repeat`` rounds, and keeps the best round (the least disturbed by the other
processes on a shared machine). ``--clock cpu`` (the default) times a round by the
thread's CPU time, which a loaded machine's other processes disturb far less than the
wall clock (``--clock wall``) when they take the CPU away. All cases run in one process,
one after the other, so the ratios compare like with like. The contract's message is a
six-field hvac reading (what the simulators send); each adapter's is a typical one of its
vendor's, decoded to about as many fields. Sparkplug B's DDATA is measured after its
NBIRTH/DBIRTH (aliases), its ``seq`` counting up as a node's does.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

from gateway.adapters import load_adapters
from gateway.adapters import sparkplug_proto as sp
from gateway.adapters.sparkplug_proto import encode_payload
from gateway.decode import ContractDecoder

NOW = 1_767_225_600_000
SITE = "sc01"
CONFIG: list[dict[str, Any]] = [
    {"name": "z2m", "kind": "zigbee2mqtt", "topic": "zigbee2mqtt/#", "system": "access"},
    {"name": "tasmota", "kind": "tasmota", "topic": "tele/#"},
    {"name": "shelly", "kind": "shelly", "topic": "+/status/+"},
    {"name": "tb", "kind": "thingsboard", "topic": "v1/devices/me/telemetry",
     "device": "boiler-01", "system": "hvac"},
    {"name": "tbgw", "kind": "thingsboard", "topic": "v1/gateway/telemetry", "system": "hvac"},
    {"name": "spb", "kind": "sparkplugb", "topic": "spBv1.0/#", "system": "hvac"},
    {"name": "json", "kind": "json", "topic": "bms/+/points", "device": "segment:1",
     "system": "hvac", "ts": {"path": "time", "unit": "s"},
     "fields": {
         "zone_temp": {"path": "data.rat_f", "convert": "degF->degC"},
         "setpoint": {"path": "data.sp_f", "convert": "degF->degC"},
         "fan": {"path": "data.fan", "map": {"ON": True, "OFF": False}},
         "filter_dp": {"path": "data.filter_kpa", "convert": "kPa->Pa"},
         "power_kw": {"path": "data.power_w", "convert": "W->kW"},
         "fault_code": "data.alarm"}},
]  # fmt: skip


def _j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def cases() -> list[tuple[str, str, bytes]]:
    hvac = {"zone_temp": 23.1, "setpoint": 22.0, "supply_temp": 14.0, "fan": True,
            "filter_dp": 180.0, "fault_code": 0}  # fmt: skip
    return [
        ("contract (ContractDecoder)", "sitewatch/sc01/hvac/ahu-01/telemetry",
         _j({"ts": NOW - 1000, "values": hvac})),
        ("zigbee2mqtt door sensor", "zigbee2mqtt/0x00158d0001a2b3c4",
         _j({"battery": 91, "contact": False, "device_temperature": 21, "linkquality": 120,
             "tamper": False, "voltage": 3005})),
        ("tasmota SENSOR (ENERGY)", "tele/plug001/SENSOR",
         _j({"Time": "2022-03-28T19:15:01", "ENERGY": {"Total": 12.3, "Yesterday": 0.4,
             "Today": 0.3, "Power": 45, "Factor": 0.9, "Voltage": 235, "Current": 0.21}})),
        ("shelly switch:0", "shellyplus1pm-a8032ab12345/status/switch:0",
         _j({"id": 0, "source": "init", "output": True, "apower": 45.2, "voltage": 231.4,
             "current": 0.2, "aenergy": {"total": 1234.5, "by_minute": [1, 2, 3],
             "minute_ts": 1767225540}, "temperature": {"tC": 43.3, "tF": 109.9}})),
        ("thingsboard device telemetry", "v1/devices/me/telemetry",
         _j({"ts": NOW - 1000, "values": hvac})),
        ("thingsboard gateway (2 entries)", "v1/gateway/telemetry",
         _j({"AHU 1": [{"ts": NOW - 2000, "values": hvac}, {"ts": NOW - 1000, "values": hvac}]})),
        ("sparkplugb DDATA (6 aliases)", "spBv1.0/plant/DDATA/node1/ahu-1", ddata(2)),
        ("sparkplugb DDATA, no whole floats", "spBv1.0/plant/DDATA/node1/ahu-1",
         ddata(2, (23.1, 21.7, 13.9, 180.4))),
        ("generic json (4 conversions)", "bms/ahu-01/points",
         _j({"time": 1767225000, "data": {"rat_f": 75.2, "sp_f": 71.6, "fan": "ON",
             "filter_kpa": 0.18, "power_w": 5400, "alarm": 0}})),
    ]  # fmt: skip


def ddata(seq: int, floats: tuple[float, ...] = (23.1, 22.0, 14.0, 180.0)) -> bytes:
    """An AHU's DDATA by alias; the second row of the table sends no whole-number float
    (the adapter skips formatting a whole float32 to 7 digits: it is one already)."""
    a, b, c, d = floats
    return encode_payload({"timestamp": NOW - 1000, "seq": seq, "metrics": [
        {"alias": 1, "floatValue": a}, {"alias": 2, "floatValue": b},
        {"alias": 3, "floatValue": c}, {"alias": 4, "booleanValue": True},
        {"alias": 5, "floatValue": d}, {"alias": 6, "intValue": 0}]})  # fmt: skip


def stream(topic: str, payload: bytes, n: int) -> list[bytes]:
    """``n`` payloads to decode in a row: the same one, but a Sparkplug node's in ``seq``
    order (0-255, wrapping), as it sends them (a repeated ``seq`` is a gap, counted)."""
    if topic.startswith("spBv1.0/") and "DATA" in topic:
        floats = sp.decode_payload(payload)[2]
        seqs = [ddata(i, tuple(m[6] for m in floats if m[5] == "float_value")) for i in range(256)]
        return [seqs[(i + 3) % 256] for i in range(n)]
    return [payload] * n


def _births(decode: Callable[[str, bytes, int], Any]) -> None:
    names = ["zone_temp", "setpoint", "supply_temp", "fan", "filter_dp", "fault_code"]
    types = ["Float", "Float", "Float", "Boolean", "Float", "Int32"]
    decode("spBv1.0/plant/NBIRTH/node1",
           encode_payload({"seq": 0, "metrics": [{"name": "bdSeq", "datatype": "Int64",
                                                  "longValue": 0}]}), NOW)  # fmt: skip
    metrics = [
        {"name": n, "alias": i + 1, "datatype": t}
        for i, (n, t) in enumerate(zip(names, types, strict=True))
    ]
    decode("spBv1.0/plant/DBIRTH/node1/ahu-1", encode_payload({"seq": 1, "metrics": metrics}), NOW)


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


def per_message_us(decode: Callable[[str, bytes, int], Any], topic: str, payloads: list[bytes],
                   repeat: int, clock: Callable[[], float] = time.perf_counter,
                   ) -> float:  # fmt: skip
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        for payload in payloads:
            decode(topic, payload, NOW)
        best = min(best, clock() - t0)
    return best / len(payloads) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    args = ap.parse_args()
    clock = CLOCKS[args.clock]
    adapters = load_adapters(CONFIG, SITE)
    contract = ContractDecoder(SITE)
    _births(adapters.decode)
    todo = []
    for label, topic, payload in cases():
        decoder = contract if topic.startswith("sitewatch/") else adapters
        res = decoder.decode(topic, payload, NOW)
        msgs = res if isinstance(res, list) else [res]
        if any(type(m).__name__ == "Rejected" for m in msgs):
            raise SystemExit(f"{label}: the bench message was rejected: {msgs}")
        todo.append((label, topic, payload, decoder.decode, len(msgs)))
    streams = [stream(t[1], t[2], args.messages) for t in todo]
    # rounds interleaved (every case once per round), best round kept: a burst of load
    # from the machine's other processes then hits all cases alike, not one of them
    best = [float("inf")] * len(todo)
    for _ in range(args.repeat):
        for i, (_, topic, _p, decode, _) in enumerate(todo):
            us = per_message_us(decode, topic, streams[i], 1, clock)
            best[i] = min(best[i], us)
    rows = [(t[0], len(t[2]), us, t[4]) for t, us in zip(todo, best, strict=True)]
    topic, payload = cases()[0][1:]
    routed = per_message_us(adapters.decode, topic, [payload] * args.messages, args.repeat, clock)
    base = rows[0][2]
    print(f"{args.clock} time; vs contract: per message in, and per message out")
    head = f"{'decoder':34} {'bytes':>6} {'µs/msg':>8} {'msgs out':>8} {'vs contract':>11}"
    print(f"{head} {'per out':>8}")
    for label, size, us, out in rows:
        print(f"{label:34} {size:6d} {us:8.2f} {out:8d} {us / base:10.2f}x {us / out / base:7.2f}x")
    label = "contract via AdapterDecoder"
    print(f"{label:34} {len(cases()[0][2]):6d} {routed:8.2f} {1:8d} {routed / base:10.2f}x")


if __name__ == "__main__":
    main()
