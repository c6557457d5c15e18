"""Fuzz the whole ingest pipeline: a million hostile messages, each stored or dead-lettered,
and every one acknowledged.

Lifecycle: one :class:`gateway.pipeline.Pipeline` is built as the gateway builds it (the
contract decoder behind :class:`gateway.limits.BoundedDecoder`, the rules stage with a
real :class:`rules.RuleEngine` on the demo site and default pack, an ack gate) but with a
fake sink that encodes every point with the real line-protocol encoder (refused fields
and points go to ``on_rejected`` as in the real sink) and is durable at once. A seeded
generator then feeds ``--cases`` messages, one at a time: arbitrary bytes, arbitrary JSON
values (huge and non-finite numbers, deep nesting, control characters, odd keys), and
contract-shaped readings, events and statuses with hostile values, on contract topics
(site devices, made-up ids, bad ids) and on garbage topics. After every message the
script asserts that it was acknowledged exactly once and that it ended stored, a status
kept, or dead-lettered (with a reason). The rules stage's ticker runs every 10,000
messages (the clock moves 1 ms per message). It prints cases/s and the outcome counts.

Run: ``python -m bench.fuzz_pipeline`` (``--cases 100000`` for a quicker run,
``--seed N`` for another sequence).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from typing import Any

from gateway.clock import ManualClock
from gateway.decode import ContractDecoder
from gateway.limits import BoundedDecoder
from gateway.metrics import Metrics
from gateway.mqtt_codec import Publish
from gateway.pipeline import Pipeline
from gateway.rules_stage import RulesStage
from gateway.sinks.base import describe
from gateway.sinks.lineprotocol import LineProtocolError, encode
from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import Event, RuleHit, Telemetry

SITE = "sc01"
MAX_DEVICES = 5_000  # bounded here to keep the bench's memory small (default 100,000)


class Sink:
    """Durable at once; encodes like the InfluxDB sinks (refusals to ``on_rejected``)."""

    def __init__(self) -> None:
        self.on_durable: Any = None
        self.on_rejected: Any = None
        self.stored = 0
        self.points = 0

    def submit(self, msg: Telemetry | Event, seq: int) -> None:
        refused: list[tuple[str, str]] = []
        try:
            encode(msg, refused)
            self.stored += 1
        except LineProtocolError as exc:
            refused.append((describe(msg), str(exc)))
        for desc, reason in refused:
            self.on_rejected(desc, reason)
        self.on_durable(seq)

    def mark(self, seq: int) -> None:
        self.on_durable(seq)

    def has_room(self) -> bool:
        return True


class Link:
    name = "main"
    generation = 0

    def __init__(self) -> None:
        self.acked: Counter[int] = Counter()
        self.n_acked = 0

    def ack_many(self, mids: list[int]) -> None:
        self.n_acked += len(mids)
        for m in mids:
            self.acked[m] += 1

    def ack(self, mid: int) -> None:
        self.ack_many([mid])


class Alarms:
    def __init__(self) -> None:
        self.hits = 0

    def apply(self, hit: RuleHit) -> None:
        self.hits += 1

    def ack(self, *a: Any, **k: Any) -> dict[str, Any]:
        raise AssertionError("not called")

    def open_alarms(self) -> list[dict[str, Any]]:
        return []


class State:
    def load_rule_state(self, name: str = "engine") -> dict[str, Any]:
        return {}

    def load_rule_state_parts(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {}

    def save_rule_state_parts(self, parts: dict[str, dict[str, Any]]) -> None:
        return None


class Gen:
    """Seeded hostile messages: ``(topic, payload)``."""

    ALPHABET = "abcXYZ019_-.:/ #+\x00\n\r\t\"\\'é中\U0001f525\u202e"

    def __init__(self, seed: int, site_devices: list[tuple[str, str]]) -> None:
        self.r = random.Random(seed)
        self.site_devices = site_devices
        self.fields = [
            "zone_temp",
            "setpoint",
            "fault_code",
            "on",
            "level",
            "door_open",
            "smoke",
            "supply_temp",
            "fan",
            "mode",
            "time",
            "",
            "a b",
            "x\\y",
        ]

    def text(self, n: int = 12) -> str:
        r = self.r
        return "".join(r.choices(self.ALPHABET, k=r.randint(0, n)))

    def number(self) -> Any:
        r = self.r
        return r.choice(
            [
                0,
                -1,
                1,
                r.randint(-(10**6), 10**6),
                r.random() * 1e3,
                2**53 + 1,
                2**63,
                10**309,
                -(10**400),
                1e308,
                -1e-320,
                float("nan"),
                float("inf"),
                float("-inf"),
            ]
        )

    def value(self, depth: int = 0) -> Any:
        r = self.r
        k = r.randint(0, 9 if depth < 4 else 5)
        if k <= 1:
            return self.number()
        if k == 2:
            return r.random() < 0.5
        if k == 3:
            return None
        if k <= 5:
            return self.text(r.choice([5, 40, 300]))
        if k <= 7:
            return [self.value(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.text(8): self.value(depth + 1) for _ in range(r.randint(0, 4))}

    def device(self) -> tuple[str, str]:
        r = self.r
        k = r.random()
        if k < 0.6:
            return r.choice(self.site_devices)
        system = r.choice(["hvac", "lighting", "access", "fire", "elevator", "HVAC", ""])
        if k < 0.9:
            return system, f"dev-{r.randint(0, 20_000)}"
        return system, self.text(70) or "x"

    def topic(self) -> str:
        r = self.r
        if r.random() < 0.05:
            return r.choice(
                [
                    self.text(30),
                    f"sitewatch/{SITE}",
                    "sitewatch/other/hvac/a/telemetry",
                    f"sitewatch/{SITE}/hvac/a/b/c/telemetry",
                    "$SYS/x",
                    "",
                ]
            )
        system, dev = self.device()
        kind = r.choices(["telemetry", "event", "status", "config", ""], [60, 25, 10, 3, 2])[0]
        return f"sitewatch/{SITE}/{system}/{dev}/{kind}"

    def payload(self, topic: str, now_ms: int) -> bytes:
        r = self.r
        k = r.random()
        if k < 0.05:  # arbitrary bytes
            return r.randbytes(r.randint(0, 80))
        if k < 0.15:  # an arbitrary JSON value
            return json.dumps(self.value()).encode()
        if topic.endswith("/status"):
            return r.choice([b"online", b"offline", b"online", b"offline", b"ONLINE", b"", b"x"])
        clean = k < 0.6  # well-formed: the rules have something to chew on
        ts: Any = now_ms - r.randint(0, 5000)
        if not clean:
            ts = r.choice(
                [ts, now_ms + 10**6, None, str(now_ms), now_ms / 1000, -1, 10**20, self.number()]
            )
        if topic.endswith("/event"):
            kinds = ["fire_alarm", "reset", "badge_denied", "door_forced", "door_held_open"]
            body: dict[str, Any] = {"ts": ts, "type": r.choice(kinds)}
            if not clean:
                body["type"] = r.choice([body["type"], self.text(10), 7, None])
            if r.random() < 0.5:
                body["point"] = r.choice(["sd-1", "sd-2", "det 3"] + ([] if clean else [5, None]))
            if not clean and r.random() < 0.3:
                body[self.text(6)] = self.value(3)
        else:
            if clean:
                values: dict[str, Any] = {
                    f: r.choice(
                        [
                            r.uniform(-20, 60),
                            r.randint(0, 100),
                            r.random() < 0.5,
                            "auto",
                            "E" + str(r.randint(0, 9)),
                        ]
                    )
                    for f in r.sample(self.fields[:10], r.randint(1, 4))
                }
            else:
                n = r.choices([0, 1, 2, 3, 5, 30, 250], [5, 30, 25, 20, 15, 4, 1])[0]
                values = {
                    (r.choice(self.fields) if r.random() < 0.7 else self.text(10)): (
                        self.number() if r.random() < 0.6 else self.value(3)
                    )
                    for _ in range(n)
                }
            body = {"ts": ts, "values": values}
            if r.random() < 0.2:
                body["zone"] = r.choice(["L1", "L2"] + ([] if clean else [self.text(10), 3]))
        if not clean and r.random() < 0.05:
            del body["ts"]
        return json.dumps(body).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=10)
    args = ap.parse_args()

    site = load_site()
    clock = ManualClock()
    metrics = Metrics()
    engine = RuleEngine(site, load_default_pack())
    alarms = Alarms()
    rules = RulesStage(engine, alarms, None, State(), clock, SITE)
    rules.restore()
    sink = Sink()
    dead: Counter[str] = Counter()
    n_dead = [0]

    def publish(topic: str, body: bytes, qos: int, retain: bool) -> None:
        assert topic == f"sitewatch/{SITE}/deadletter", topic
        reason = json.loads(body)["reason"]
        assert isinstance(reason, str) and reason
        dead[reason] += 1
        n_dead[0] += 1

    decoder = BoundedDecoder(ContractDecoder(SITE), engine.devices, max_devices=MAX_DEVICES)
    pipe = Pipeline(SITE, decoder, sink, metrics, clock, processors=[rules], publish=publish)
    link = Link()
    pipe.add_link(link)  # type: ignore[arg-type]
    gen = Gen(args.seed, [(d.system, d.id) for d in site.devices])

    outcomes: Counter[str] = Counter()
    statuses = metrics.messages_in.labels(kind="status")
    t0 = time.perf_counter()
    for i in range(args.cases):
        clock.advance(0.001)
        now = clock.now_ms()
        topic = gen.topic()
        payload = gen.payload(topic, now)
        mid = i % 65535 + 1
        stored0, dead0, acked0 = sink.stored, n_dead[0], link.n_acked
        status0 = statuses._value.get()
        pipe.on_message(link, Publish(topic, payload, 1, mid))  # type: ignore[arg-type]
        stored = sink.stored - stored0
        dl = n_dead[0] - dead0
        status = statuses._value.get() - status0
        assert link.n_acked - acked0 == 1, (i, topic, payload[:200])
        assert stored or dl or status, (i, topic, payload[:200])
        outcomes[
            "stored"
            if stored and not dl
            else "stored, a field dead-lettered"
            if stored
            else "status kept"
            if status and not dl
            else "dead-lettered"
        ] += 1
        if i % 10_000 == 9_999:
            rules.tick(clock.now_ms())
    elapsed = time.perf_counter() - t0
    assert pipe.unacked() == 0 and link.n_acked == args.cases

    print(
        f"{args.cases:,} cases in {elapsed:.1f} s: {args.cases / elapsed:,.0f} cases/s "
        f"(seed {args.seed}; generation included)"
    )
    for k, v in outcomes.most_common():
        print(f"  {k:<32} {v:>9,}")
    print(f"  acknowledged                     {link.n_acked:>9,} (every one, once)")
    print(f"  internal errors                  {pipe.internal_errors:>9,}")
    print(f"  rule hits                        {alarms.hits:>9,}")
    print(f"  devices known                    {len(engine.devices):>9,} (limit {MAX_DEVICES:,})")
    print("  dead letters by reason:")
    for k, v in dead.most_common():
        print(f"    {k:<30} {v:>9,}")


if __name__ == "__main__":
    main()
