"""Alarm flood benchmark (issue 10): 30,000 offline alarms raised in one burst while fire
alarms keep coming, one every 100 ms.

    python -m bench.flood [--devices 30000] [--fire-every 0.1] [--compare] [--no-write]
                          [--influx] [--skip-e2e] [--skip-store] [--compare-loop]
                          [--compare-slices]

1. **Store** (in process, unless ``--skip-store``): ``--devices`` ``device.offline`` hits
   into a fresh SQLite state store through :class:`gateway.alarms.AlarmService`, once one
   transaction per hit (``apply`` in a loop, what the rules stage did) and once in
   batches (``apply_many``): total time and the longest time the caller held the loop.
2. **End to end** (unless ``--skip-e2e``): the runtime of ``sitewatch run`` in a
   subprocess (:func:`serve`) on a private Mosquitto (and the embedded telemetry store,
   or a private InfluxDB 1.6 with ``--influx``); its rule engine knows ``--devices``
   devices of zone ``car-park`` (an hourly rhythm) and on a trigger finds them all silent,
   as when a switch failed: the engine's own silence judgement raises them. (A site file
   of 30,000 devices is not used: loading it with PyYAML's pure Python loader takes
   minutes.) Meanwhile a publisher sends a ``fire_alarm`` (a new
   point each) every ``--fire-every`` s on the fire link and an SSE client (reconnecting
   with ``Last-Event-ID`` when dropped) times each one's ``raise`` event. Printed: fire
   publish → SSE p50/p99 before and during the flood, the loop lag (the gateway's
   histogram; the longest ``/healthz`` round trip a poller saw), the time to write the
   offline alarms (first to last ``raised_at``), SSE drops, and the size of a new
   control-room client's snapshot (``?groups=true``). ``--compare`` runs it first with
   the rules stage applying the hits one transaction each (as before batching).

Figures go to ``bench/RESULTS.md`` unless ``--no-write``. Everything is bounded in count
and time and stops by itself; only 127.0.0.1 is used. ``FLOOD_PROFILE=file`` makes the
gateway keep a cProfile, written on ``SIGUSR1``. Each end-to-end run also has the gateway
time its loop turns of ``TURN_MIN_S`` or more (``FLOOD_TURNS``: by callback, and the parts
inside a turn) and prints those of the flood, longest first; ``--compare-loop`` runs it
first with the SSE fan-out, the alarm tick and a message's tickets as before issue 10's
turn-splitting pass; ``--compare-slices`` runs it first with silence judged in one turn
(as before ``gateway.rules_stage.SILENCE_SLICE_HITS``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

import httpx

from bench.latency import (
    GATEWAY_HISTS,
    hist_quantiles,
    histogram,
    pct,
    probe,
    publisher,
)
from bench.services import InfluxServer, start_influxd, start_mosquitto
from tests.integration.gateway_proc import TOKEN, GatewayProc

SITE = "flood"
RESULTS = Path(__file__).with_name("RESULTS.md")
FLOOD_PREFIX = "cp-"
ROOT = Path(__file__).resolve().parent.parent
#: the commit whose api/sse.py ``--compare-loop`` runs as "before" (one write per change)
SSE_BEFORE = "d2d39d83c2faf9a3a80711f1c849aea166555077"


# ------------------------------------------------------------------- store, in process
def offline_hits(n: int, ts_ms: int) -> list[Any]:
    """``n`` ``device.offline`` hits of zone ``car-park`` (devices ``cp-00000``...)."""
    from rules.model import RuleHit

    return [
        RuleHit(
            rule="device.offline",
            site=SITE,
            system="lighting",
            device=f"{FLOOD_PREFIX}{i:05d}",
            point=None,
            active=True,
            ts_ms=ts_ms,
            value="offline",
            zone="car-park",
        )
        for i in range(n)
    ]


def store_part(n: int) -> dict[str, float]:
    """One transaction per hit against batches, on a fresh SQLite file each."""
    from gateway.alarms import AlarmService
    from gateway.clock import ManualClock
    from gateway.store.db import open_store
    from rules.pack import load_packs

    specs = dict(load_packs("default").specs)
    out: dict[str, float] = {}
    for how in ("one_by_one", "batched"):
        with tempfile.TemporaryDirectory(prefix="sitewatch-flood-") as d:
            engine = open_store(f"sqlite:///{d}/state.db")
            svc = AlarmService(engine, specs, ManualClock(1_800_000_000.0))
            hits = offline_hits(n, 1_800_000_000_000)
            t0 = time.perf_counter()
            longest = 0.0
            if how == "one_by_one":
                for h in hits:
                    t = time.perf_counter()
                    svc.apply(h)
                    longest = max(longest, time.perf_counter() - t)
            else:
                step = svc.write_batch
                for i in range(0, n, step):
                    t = time.perf_counter()
                    svc.apply_many(hits[i : i + step])
                    longest = max(longest, time.perf_counter() - t)
            total = time.perf_counter() - t0
            assert len(svc.open_alarms()) == n
            engine.dispose()
        out[f"{how}_s"] = total
        out[f"{how}_longest_ms"] = longest * 1000
        print(
            f"store, {how}: {n:,} alarms in {total:.2f} s "
            f"({n / total:,.0f}/s), longest call {longest * 1000:.1f} ms",
            flush=True,
        )
    print(
        f"store: batched takes {out['batched_s'] / out['one_by_one_s']:.2f}x the time "
        f"of one transaction per alarm",
        flush=True,
    )
    return out


# ------------------------------------------------------------- ticks, in process
def ticks_part(n: int, ticks: int = 20) -> dict[str, float]:
    """The per-second ticks of the tickets and the notifier at ``n`` active offline
    alarms (SQLite file): as now (the walks only when something may be due) and with the
    walks of every active alarm at each tick, as before."""
    import gateway.notify.notifier as nt
    import gateway.tickets.intake as ti
    from gateway.alarms import AlarmService
    from gateway.clock import ManualClock
    from gateway.notify.notifier import Notifier
    from gateway.notify.profiles import Profiles
    from gateway.site import load_site
    from gateway.store.db import open_store
    from gateway.tickets import TicketService
    from rules.pack import load_packs

    specs = dict(load_packs("default").specs)
    site = load_site()
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sitewatch-flood-") as d:
        engine = open_store(f"sqlite:///{d}/state.db")
        clock = ManualClock(1_800_000_000.0)
        alarms = AlarmService(engine, specs, clock, site)
        tickets = TicketService(engine, specs, clock, site, alarms=alarms)
        notifier = Notifier(
            engine, clock, site, Profiles(engine, clock), None, specs=specs, alarms=alarms
        )
        hits = offline_hits(n, clock.now_ms())
        for i in range(0, n, alarms.write_batch):
            part = hits[i : i + alarms.write_batch]
            made = alarms.apply_many(part)
            tickets.on_hits([(h, a.id if a else None) for h, a in zip(part, made, strict=True)])
        assert len(alarms.active_alarms()) == n
        tickets.tick()
        notifier.tick(clock.now_ms())  # the first ticks walk (as after a restart)
        for how, before in (("now", False), ("as before", True)):
            saved = ti.Intake._due_on_alarms, nt.WALK_EVERY_MS
            if before:  # the old walk each tick
                ti.Intake._due_on_alarms = _walk_as_before  # type: ignore[method-assign]
                nt.WALK_EVERY_MS = 0
                notifier._walk_at = 0
            try:
                for name, fn in (
                    ("tickets", lambda: tickets.tick()),
                    ("notifier", lambda: notifier.tick(clock.now_ms())),
                ):
                    spent = []
                    for _ in range(ticks):
                        clock.advance(1)
                        t = time.perf_counter()
                        fn()
                        spent.append(time.perf_counter() - t)
                    ms = statistics.mean(spent) * 1000
                    out[f"{name}_{how}_ms"] = ms
                    print(
                        f"ticks at {n:,} active alarms, {name} {how}: {ms:.2f} ms/tick", flush=True
                    )
            finally:
                ti.Intake._due_on_alarms, nt.WALK_EVERY_MS = saved  # type: ignore[method-assign]
            t = time.perf_counter()
            alarms.active_alarms()
        out["active_alarms_ms"] = (time.perf_counter() - t) * 1000
        print(f"one active_alarms() call: {out['active_alarms_ms']:.2f} ms", flush=True)
        # 30 minutes on: every device's delayed crew is due at once
        clock.advance(1800)
        spent, opened = [], 0
        for _ in range(ticks):
            clock.advance(1)
            t = time.perf_counter()
            opened += len(tickets.tick())
            spent.append(time.perf_counter() - t)
        out["due_tick_max_ms"] = max(spent) * 1000
        out["due_tick_mean_ms"] = statistics.mean(spent) * 1000
        out["due_per_tick"] = opened / ticks
        print(
            f"delayed crews due at {n:,} alarms: {opened / ticks:.1f} tickets a tick, "
            f"{out['due_tick_mean_ms']:.1f} ms a tick (longest {out['due_tick_max_ms']:.1f} ms)",
            flush=True,
        )
        engine.dispose()
    return out


# ------------------------------------------------------------------------- end to end
def serve(n: int, trigger: Path, one_by_one: bool) -> int:
    """The gateway of the end-to-end part (run in a subprocess): ``sitewatch run``'s own
    runtime, whose rule engine knows ``n`` devices (``cp-00000``..., zone ``car-park``,
    an hourly rhythm learned at its first tick) and, once ``trigger`` exists, finds them
    all silent for 4 h: its own silence judgement raises ``n`` ``device.offline`` hits,
    the ticker's path of a flood. ``one_by_one``: the rules stage applies them one
    transaction each, as before batching."""
    import gateway.rules_stage as rs
    from gateway.settings import load_settings
    from rules.model import RuleHit, Telemetry
    from sitewatch.bootstrap import build_runtime
    from sitewatch.cli import _run_until_signal, _setup_logging

    _setup_logging(False)
    if one_by_one:
        rs.FLOOD_HITS = 10**9
    if os.environ.get("FLOOD_TICKETS") == "before":
        _tickets_as_before()
    if os.environ.get("FLOOD_SLICES") == "before":  # the whole judgement in one turn
        rs.SILENCE_SLICE_DEVICES = rs.SILENCE_SLICE_HITS = 10**9
    if os.environ.get("FLOOD_LOOP") == "before":
        _loop_as_before()
    rt = build_runtime(load_settings(None))
    rt.people.users.ensure_admin()
    engine = rt.services.engine
    judge = engine.tick
    fired = False
    known = False

    def tick(
        now_ms: int, max_devices: int | None = None, max_hits: int | None = None
    ) -> list[RuleHit]:
        nonlocal fired, known
        if not known:  # the first tick: the flood's devices are known (an hourly rhythm)
            known = True
            for i in range(n):
                for k in (2, 1, 0):
                    at = now_ms - k * 3_600_000
                    engine.on_telemetry(
                        Telemetry(
                            SITE,
                            "lighting",
                            f"{FLOOD_PREFIX}{i:05d}",
                            at,
                            {"power_w": 10.0},
                            at,
                            zone="car-park",
                        )
                    )
            trigger.with_name("known").touch()  # the driver measures from here on
        if not fired and trigger.exists():
            # a switch failed long ago: every one of them has been silent for 4 h, so
            # the engine's own silence judgement (in slices) raises them all now
            fired = True
            for i in range(n):
                engine.devices[f"{FLOOD_PREFIX}{i:05d}"].last_recv = now_ms - 4 * 3_600_000
            engine._grace_until = -(2**62)  # the gateway has run for hours, not seconds
            engine._next_silence = 0
        return judge(now_ms, max_devices, max_hits)

    engine.tick = tick  # type: ignore[method-assign]
    turns = os.environ.get("FLOOD_TURNS")
    if turns:
        _time_parts(Path(turns), rt.services)
    profile = os.environ.get("FLOOD_PROFILE")
    if profile:  # cProfile of the gateway, written on SIGUSR1 (for finding where time goes)
        import cProfile
        import signal

        prof = cProfile.Profile()
        prof.enable()
        signal.signal(signal.SIGUSR1, lambda *_: prof.dump_stats(profile))
    return _run_until_signal(rt.run)


#: loop turns at least this long are written by ``FLOOD_TURNS``
TURN_MIN_S = 0.02


def _time_parts(out: Path, services: Any) -> None:
    """Every loop callback of at least ``TURN_MIN_S``: one line ``wall_s ms name`` in
    ``out`` (the task's name and coroutine, or the callback), to split the loop's long
    turns between the flood's parts; and the same for parts inside a turn (``part:``
    lines: each service's tick, a backlog batch, its callbacks, the tickets of a flood).
    Costs two clock reads per callback."""
    import asyncio.events as ev

    import gateway.alarms.batch as batch
    import gateway.rules_stage as rs

    f = out.open("a", buffering=1)

    def wrap(fn: Any, name: str) -> Any:
        def timed(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                d = time.perf_counter() - t0
                if d >= TURN_MIN_S:
                    f.write(f"{time.time():.3f} {d * 1000:.1f} part:{name}\n")

        return timed

    for part in ("rules", "alarms", "tickets", "notifier", "maintenance", "rounds"):
        obj = getattr(services, part, None)
        if obj is not None and hasattr(obj, "tick"):
            obj.tick = wrap(obj.tick, f"{part}.tick")
    batch.Backlog._step = wrap(batch.Backlog._step, "Backlog._step")  # type: ignore[method-assign]
    batch.Backlog._call = wrap(batch.Backlog._call, "Backlog._call")  # type: ignore[method-assign]
    rs.RulesStage.save = wrap(rs.RulesStage.save, "RulesStage.save")  # type: ignore[method-assign]
    rs.RulesStage._flush_flood_tickets = wrap(  # type: ignore[method-assign]
        rs.RulesStage._flush_flood_tickets, "RulesStage._flush_flood_tickets"
    )
    run = ev.Handle._run

    def timed(self: Any) -> None:
        t0 = time.perf_counter()
        run(self)
        d = time.perf_counter() - t0
        if d >= TURN_MIN_S:
            cb = self._callback
            task = getattr(cb, "__self__", None)
            if isinstance(task, asyncio.Task):
                coro = task.get_coro()
                name = f"task {task.get_name()} {getattr(coro, '__qualname__', coro)}"
            else:
                name = getattr(cb, "__qualname__", repr(cb))
            f.write(f"{time.time():.3f} {d * 1000:.1f} {name}\n")

    ev.Handle._run = timed  # type: ignore[method-assign]


def turns_of(path: Path, t0: float, t1: float) -> dict[str, Any]:
    """Long turns within ``[t0, t1]`` (wall seconds) from a ``FLOOD_TURNS`` file: count,
    total and longest ms by name, the longest first."""
    by: dict[str, list[float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            at, ms, name = line.split(" ", 2)
            if t0 <= float(at) <= t1:
                by.setdefault(name, []).append(float(ms))
    rows = sorted(by.items(), key=lambda kv: -max(kv[1]))
    return {
        n: {
            "n": len(xs),
            "total_ms": round(sum(xs)),
            "max_ms": max(xs),
            "over_100ms": sum(x >= 100 for x in xs),
        }
        for n, xs in rows
    }


def _tickets_as_before() -> None:
    """The ticket side as before issue 10's ticket work, for ``--compare-tickets``: every
    hit runs its transaction (no open-ticket index), a flood's hits reach the tickets one
    call each, and the tickets' and notifier's ticks walk every active alarm each second."""
    import gateway.notify.notifier as nt
    import gateway.rules_stage as rs
    import gateway.tickets.intake as ti

    ti.Intake._settled = lambda *_a, **_k: False  # type: ignore[method-assign]
    ti.Intake._due_on_alarms = _walk_as_before  # type: ignore[method-assign]
    nt.WALK_EVERY_MS = 0
    rs.RulesStage._dispatch_flood = rs.RulesStage._dispatch  # type: ignore[method-assign]


def _loop_as_before() -> None:
    """The loop's flood work as before the turn-splitting pass, for ``--compare-loop``:
    each SSE change its own write (``api/sse.py`` of commit ``SSE_BEFORE``), the alarm
    tick looking at every open alarm each second (not only the timed ones), a message's
    tickets opened in the same turn as its alarm (before its SSE frame goes out)."""
    import api.routes.alarms as routes
    import gateway.alarms.timers as tm
    import gateway.rules_stage as rs

    old = types.ModuleType("api.sse_before")  # api/sse.py as committed: a write per change
    src = subprocess.check_output(["git", "show", f"{SSE_BEFORE}:api/sse.py"], cwd=ROOT)
    exec(compile(src, "api/sse.py@" + SSE_BEFORE[:8], "exec"), old.__dict__)  # noqa: S102
    routes.sse = old  # type: ignore[attr-defined]
    rs.RulesStage._dispatch_later = rs.RulesStage._dispatch  # type: ignore[method-assign]

    def due_keys(self: Any, open_: Any, timed: Any, now_ms: int) -> list[Any]:
        return [k for k, a in open_.items() if self.due(a, now_ms)]

    tm.Timers.due_keys = due_keys  # type: ignore[method-assign]


def _walk_as_before(self: Any, now: int, room: int) -> list[Any]:
    """``Intake._due_on_alarms`` as it was: every active alarm walked at each tick."""
    from gateway.tickets.intake import _hit_of

    alarms = self._life.alarms
    if alarms is None:
        return []
    todo: list[Any] = []
    active = alarms.active_alarms()
    live = {a.id for a in active}
    self._dispatched = {k for k in self._dispatched if k[0] in live}
    for a in active:
        spec = self._specs.get(a.rule)
        if spec is None or a.id is None:
            continue
        since = a.activated_at_ms
        for c in spec.crews_for(a.system):
            key = (a.id, since, c.crew)
            if key in self._dispatched or now < since + c.after_s * 1000:
                continue
            if len(todo) >= room:
                return todo
            todo.append((spec, _hit_of(a), c.crew, a.id, key))
    return todo


class FloodGateway(GatewayProc):
    """:class:`GatewayProc` running :func:`serve` instead of ``sitewatch run``."""

    def __init__(self, workdir: Path, n: int, one_by_one: bool, **env: str) -> None:
        super().__init__(workdir, **env)
        self.trigger = workdir / "flood-now"
        self.argv = [sys.executable, "-m", "bench.flood", "--serve", str(n), str(self.trigger)] + (
            ["--one-by-one"] if one_by_one else []
        )

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=Path(__file__).parent.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-3000:]}")
            try:
                known = self.trigger.with_name("known").exists()  # the flood's devices
                if known and self.get("/healthz", auth=False)["status"] == "ok":
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gateway not healthy: {self.log.read_text()[-3000:]}")


class Sse:
    """An SSE client on the alarm stream: first-seen time of each ``raise`` by
    device/point, reconnecting with ``Last-Event-ID`` when the gateway drops it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.seen: dict[str, float] = {}
        self.events = 0
        self.drops = 0
        self.last_id: str | None = None
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if not self.ready.wait(20):
            raise RuntimeError("SSE stream did not open")

    def _run(self) -> None:
        while not self.stop.is_set():
            headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                with (
                    httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client,
                    client.stream("GET", self.base + "/api/v1/alarms/stream", headers=headers) as r,
                ):
                    self.ready.set()
                    event = "message"
                    for line in r.iter_lines():
                        if self.stop.is_set():
                            return
                        if line.startswith("id:"):
                            self.last_id = line[3:].strip()
                        elif line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:"):
                            now = time.time()
                            self.events += 1
                            if event == "alarm":
                                a = json.loads(line[5:])
                                # a raise, or an alarm of a (re)connection's snapshot
                                if a.get("change") in ("raise", None):
                                    key = f"{a['device']}/{a.get('point') or ''}"
                                    self.seen.setdefault(key, now)
                            event = "message"
            except httpx.HTTPError:
                pass
            if not self.stop.is_set():
                self.drops += 1
                time.sleep(0.2)


class Fires:
    """A ``fire_alarm`` on panel ``fp-flood`` (a new point each) every ``every_s``."""

    def __init__(self, port: int, every_s: float) -> None:
        self.sent: list[tuple[str, float]] = []
        self.stop = threading.Event()
        self._c = publisher(port, "flood-fires")
        self._every = every_s
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        run = int(time.time())
        i = 0
        nxt = time.monotonic()
        while not self.stop.is_set():
            point = f"P{run}-{i:05d}"
            body = json.dumps(
                {
                    "ts": int(time.time() * 1000),
                    "type": "fire_alarm",
                    "point": point,
                    "zone": "lobby",
                }
            )
            t = time.time()
            self._c.publish(f"sitewatch/{SITE}/fire/fp-flood/event", body, qos=1)
            self.sent.append((f"fp-flood/{point}", t))
            i += 1
            nxt += self._every
            time.sleep(max(0.0, nxt - time.monotonic()))
        self._c.loop_stop()
        self._c.disconnect()


class Poller:
    """``GET /healthz`` every 50 ms: the longest round trip is how long the loop stalled
    (at least)."""

    def __init__(self, gw: GatewayProc) -> None:
        self.gw = gw
        self.samples: list[tuple[float, float]] = []  # (start, seconds)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=60.0) as c:
            while not self.stop.is_set():
                t = time.time()
                try:
                    c.get(self.gw.base + "/healthz")
                except httpx.HTTPError:
                    pass
                self.samples.append((t, time.time() - t))
                time.sleep(0.05)


def flood_written(gw: GatewayProc) -> tuple[int, int | None, int | None]:
    """The flood's alarms in the gateway's state store (read beside it, so the count does
    not wait for the gateway's loop): how many, the first and the last ``raised_at_ms``."""
    with contextlib.closing(
        sqlite3.connect(f"file:{gw.workdir}/state.db?mode=ro", uri=True, timeout=30)
    ) as db:
        n, first, last = db.execute(
            "SELECT count(*), min(raised_at_ms), max(raised_at_ms) FROM alarms "
            "WHERE device LIKE ? AND state != 'closed'",
            (f"{FLOOD_PREFIX}%",),
        ).fetchone()
    return int(n), first, last


def snapshot_size(base: str, quiet_s: float = 3.0) -> dict[str, float]:
    """A new client's snapshot: frames and bytes until ``quiet_s`` pass with nothing
    (or a ``snapshot`` event, which ends it), and the time it took."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    frames = 0
    size = 0
    t0 = time.perf_counter()
    last = t0
    done = threading.Event()

    def read() -> None:
        nonlocal frames, size, last
        with (
            httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client,
            client.stream("GET", base + "/api/v1/alarms/stream?groups=true", headers=headers) as r,
        ):
            event = ""
            for line in r.iter_lines():
                size += len(line) + 1
                if line.startswith("event:"):
                    event = line[6:].strip()
                if line.startswith("data:"):
                    frames += 1
                    last = time.perf_counter()
                    if event == "snapshot":
                        break
                if done.is_set():
                    break
        done.set()

    th = threading.Thread(target=read, daemon=True)
    th.start()
    while not done.is_set():
        time.sleep(0.1)
        if frames and time.perf_counter() - last > quiet_s:
            break
    done.set()
    return {"frames": frames, "bytes": size, "seconds": round(last - t0, 2)}


def e2e_part(
    args: argparse.Namespace,
    one_by_one: bool,
    tickets_before: bool = False,
    loop_before: bool = False,
    slices_before: bool = False,
) -> dict[str, Any]:
    how = "one transaction per alarm" if one_by_one else "batched"
    if tickets_before:
        how += ", tickets as before"
    if loop_before:
        how += ", fan-out and alarm tick as before"
    if slices_before:
        how += ", silence judged in one turn"
    print(f"-- end to end, {how}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sitewatch-flood-") as d:
        tmp = Path(d)
        (tmp / "mq").mkdir()
        (tmp / "gw").mkdir()
        broker = start_mosquitto(tmp / "mq")
        influx: InfluxServer | None = None
        env = {
            "SITEWATCH_SITE": SITE,
            "SITEWATCH_MQTT_URL": broker.url,
            "SITEWATCH_MQTT_CLIENT_ID": "flood-gw",
        }
        if tickets_before:
            env["FLOOD_TICKETS"] = "before"
        if loop_before:
            env["FLOOD_LOOP"] = "before"
        if slices_before:
            env["FLOOD_SLICES"] = "before"
        turns = tmp / "turns.txt"
        env["FLOOD_TURNS"] = str(turns)
        if args.influx:
            (tmp / "influx").mkdir()
            influx = start_influxd(tmp / "influx")
            env.update(SITEWATCH_INFLUX_URL=influx.url, SITEWATCH_INFLUX_API="v1")
        gw = FloodGateway(tmp / "gw", args.devices, one_by_one, **env)
        sse: Sse | None = None
        fires: Fires | None = None
        poll: Poller | None = None
        try:
            gw.start()
            sse = Sse(gw.base)
            probe(gw, broker.port, "flood-probe", ("fire",))
            h0 = {n: histogram(gw, n) for n in GATEWAY_HISTS}
            poll = Poller(gw)
            fires = Fires(broker.port, args.fire_every)
            time.sleep(10)  # fire alarms before the flood
            gw.trigger.touch()
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                if flood_written(gw)[0] >= args.devices:
                    break
                time.sleep(0.5)
            time.sleep(5)  # fires after the flood
            fires.stop.set()
            fires.thread.join(10)
            poll.stop.set()
            hists = {n: hist_quantiles(h0[n], histogram(gw, n)) for n in GATEWAY_HISTS}
            n_offline, first, last = flood_written(gw)
            if first is None or last is None:
                raise RuntimeError("no offline alarm was raised")
            f0, f1 = first / 1000, last / 1000
            before: list[float] = []
            during: list[float] = []
            lost = 0
            late = time.monotonic() + 10  # the last ones may still be on their way
            while time.monotonic() < late and any(k not in sse.seen for k, _ in fires.sent):
                time.sleep(0.2)
            for key, t in fires.sent:
                got = sse.seen.get(key)
                if got is None:
                    lost += 1
                    continue
                (during if f0 - 0.5 <= t <= f1 + 0.5 else before).append((got - t) * 1000)
            stalls = [s for t, s in poll.samples if f0 - 1 <= t <= f1 + 1]
            calm = [s for t, s in poll.samples if t < f0 - 1]
            time.sleep(1)
            snap = snapshot_size(gw.base)
            res: dict[str, Any] = {
                "how": how,
                "offline": n_offline,
                "write_s": round(f1 - f0, 2),
                "fire_before": summary(before),
                "fire_during": summary(during),
                "lost": lost,
                "drops": sse.drops,
                "healthz_max_ms": round(max(stalls, default=0) * 1000, 1),
                "healthz_calm_max_ms": round(max(calm, default=0) * 1000, 1),
                "hists": hists,
                "snapshot": snap,
                "events": sse.events,
                "turns": turns_of(turns, f0 - 0.5, f1 + 0.5),
            }
            print(
                f"offline alarms: {n_offline:,} written in {res['write_s']} s "
                f"(first to last raised_at)"
            )
            print(f"fire publish -> SSE before the flood: {res['fire_before']}")
            print(f"fire publish -> SSE during the flood: {res['fire_during']} lost={lost}")
            print(f"SSE client dropped {sse.drops} times; {sse.events:,} events read")
            print(
                f"longest /healthz round trip during the flood: {res['healthz_max_ms']} ms "
                f"(before: {res['healthz_calm_max_ms']} ms)"
            )
            for name, q in hists.items():
                print(f"  ({name}, from 10 s before the flood: {q})")
            print(f"loop turns >= {TURN_MIN_S * 1000:.0f} ms during the flood, longest first:")
            for name, t in list(res["turns"].items())[:12]:
                print(f"  {t} {name}")
            print(
                f"a new client's SSE snapshot: {snap['frames']:,} events, "
                f"{snap['bytes']:,} bytes, {snap['seconds']} s",
                flush=True,
            )
            return res
        finally:
            for th in (fires, poll, sse):
                if th is not None:
                    th.stop.set()
            gw.kill()  # (a graceful stop would first write the tickets still waiting)
            broker.stop()
            if influx is not None:
                influx.stop()


def summary(lat: list[float]) -> dict[str, float]:
    if not lat:
        return {"n": 0}
    return {
        "n": len(lat),
        "p50": round(statistics.median(lat), 1),
        "p99": round(pct(lat, 99), 1),
        "max": round(max(lat), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=30_000)
    ap.add_argument("--fire-every", type=float, default=0.1)
    ap.add_argument("--influx", action="store_true", help="a private influxd, not embedded")
    ap.add_argument("--skip-store", action="store_true")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument(
        "--compare",
        action="store_true",
        help="end to end also with one transaction per alarm, before batched",
    )
    ap.add_argument(
        "--compare-tickets",
        action="store_true",
        help="end to end also with the ticket side as before its flood work, first",
    )
    ap.add_argument(
        "--compare-loop",
        action="store_true",
        help="end to end also with the SSE fan-out and alarm tick as before, first",
    )
    ap.add_argument(
        "--compare-slices",
        action="store_true",
        help="end to end also with silence judged in one turn (not in slices), first",
    )
    ap.add_argument("--skip-ticks", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--serve", nargs=2, metavar=("N", "TRIGGER"), help=argparse.SUPPRESS)
    ap.add_argument("--one-by-one", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        return serve(int(args.serve[0]), Path(args.serve[1]), args.one_by_one)
    store = None if args.skip_store else store_part(args.devices)
    if not args.skip_ticks:
        ticks_part(args.devices)
    runs = []
    if not args.skip_e2e:
        if args.compare_tickets:
            runs.append(e2e_part(args, False, tickets_before=True))
        if args.compare_loop:
            runs.append(e2e_part(args, False, loop_before=True))
        if args.compare_slices:
            runs.append(e2e_part(args, False, slices_before=True))
        for one in [True, False] if args.compare else [False]:
            runs.append(e2e_part(args, one))
    if not args.no_write:
        write_results(args, store, runs)
    return 0


def write_results(
    args: argparse.Namespace, store: dict[str, float] | None, runs: list[dict[str, Any]]
) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0]
    text = [
        f"\n## Alarm flood (`python -m bench.flood`), {now}\n\n",
        f"Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {load:.1f} at the end.\n\n",
    ]
    if store:
        n = args.devices
        text.append(
            f"Store ({n:,} `device.offline` alarms, SQLite file, in process): one transaction "
            f"per alarm {store['one_by_one_s']:.2f} s (longest call "
            f"{store['one_by_one_longest_ms']:.1f} ms); batched {store['batched_s']:.2f} s "
            f"(longest batch {store['batched_longest_ms']:.1f} ms).\n\n"
        )
    if runs:
        text.append(
            "End to end (the runtime of `sitewatch run` in a subprocess, its rule engine "
            f"judging {args.devices:,} known devices silent at once; private "
            f"Mosquitto, {'InfluxDB 1.6' if args.influx else 'embedded store'}; a "
            f"`fire_alarm` every {args.fire_every} s on the fire link; one SSE client):\n\n"
            "| figure | " + " | ".join(r["how"] for r in runs) + " |\n"
            "|---|" + "---|" * len(runs) + "\n"
        )
        rows = [
            (
                "offline alarms written (first to last `raised_at`)",
                lambda r: f"{r['offline']:,} in {r['write_s']} s",
            ),
            (
                "fire publish → SSE before the flood, p50 / p99 ms",
                lambda r: (
                    f"{r['fire_before'].get('p50')} / {r['fire_before'].get('p99')} "
                    f"(n={r['fire_before']['n']})"
                ),
            ),
            (
                "fire publish → SSE during the flood, p50 / p99 / max ms",
                lambda r: (
                    f"{r['fire_during'].get('p50')} / {r['fire_during'].get('p99')} / "
                    f"{r['fire_during'].get('max')} (n={r['fire_during']['n']}, "
                    f"lost {r['lost']})"
                ),
            ),
            ("SSE client dropped by the hub", lambda r: str(r["drops"])),
            (
                "longest `/healthz` round trip during the flood (before)",
                lambda r: f"{r['healthz_max_ms']} ms ({r['healthz_calm_max_ms']} ms)",
            ),
            ("loop lag histogram", lambda r: r["hists"]["sitewatch_loop_lag_seconds"]),
            (
                "a new client's SSE snapshot after the flood",
                lambda r: (
                    f"{r['snapshot']['frames']:,} events, {r['snapshot']['bytes']:,} "
                    f"bytes, {r['snapshot']['seconds']} s"
                ),
            ),
        ]
        for name, fn in rows:
            text.append(f"| {name} | " + " | ".join(fn(r) for r in runs) + " |\n")
        cmd = "python -m bench.flood" + (" --compare" if args.compare else "")
        if args.devices != 30_000:
            cmd += f" --devices {args.devices}"
        text.append(f"\nCommand: `{cmd}`.\n")
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with RESULTS.open("a") as out:
        out.write("".join(text))
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    sys.exit(main())
