"""Silence judged in slices (issue 10, floods do not starve the loop): with limits, a
judgement of many silent devices is cut into calls, and the slices together raise
exactly what one unlimited judgement raises, at the same times."""

from __future__ import annotations

from rules.engine import RuleEngine
from rules.model import RuleHit
from rules.pack import RulePack
from rules.site import Site
from tests.rules.helpers import MIN, S, tel

T = 1_767_225_600_000
OFF = "device.offline"


def _learned(engine: RuleEngine, n: int, prefix: str = "dev-") -> None:
    """``n`` devices with a learned 20 s interval, last heard at T + 40 s."""
    for i in range(n):
        for k in range(3):
            engine.on_telemetry(tel(f"{prefix}{i}", T + k * 20 * S, x=1.0))


def _key(h: RuleHit) -> tuple[str, str, int, bool]:
    return (h.rule, h.device, h.ts_ms, h.active)


def test_slices_raise_what_one_judgement_raises(site: Site, pack: RulePack) -> None:
    whole, sliced = RuleEngine(site, pack), RuleEngine(site, pack)
    for e in (whole, sliced):
        e.tick(T)
        _learned(e, 50)
    at = T + 10 * MIN
    expected = sorted(map(_key, whole.tick(at)))
    assert len([k for k in expected if k[1].startswith("dev-")]) == 50
    assert not whole.judging

    got = sliced.tick(at, max_devices=1000, max_hits=7)
    assert len(got) == 7 and sliced.judging
    calls = 1
    while sliced.judging:
        part = sliced.judge_more(at, max_devices=1000, max_hits=7)
        assert len(part) <= 7
        got += part
        calls += 1
    assert sorted(map(_key, got)) == expected
    assert calls == -(-len(expected) // 7)
    assert sliced.tick(at + S) == []  # nothing raised twice


def test_a_device_limit_cuts_a_quiet_judgement_too(site: Site, pack: RulePack) -> None:
    engine = RuleEngine(site, pack)
    engine.tick(T)
    _learned(engine, 30)
    hits = engine.tick(T + 41 * S, max_devices=10)  # nobody silent yet
    assert hits == [] and engine.judging
    while engine.judging:
        assert engine.judge_more(T + 41 * S, max_devices=10) == []
    # the earliest deadline is known again: the site's door (30 s x 3 after the first tick)
    assert engine._next_silence == T + 90 * S
    assert [h.device for h in engine.tick(T + 99 * S)] == ["door-1"]
    assert len([h for h in engine.tick(T + 100 * S) if h.device.startswith("dev-")]) == 30


def test_a_device_registered_during_a_judgement_is_judged_next(site: Site, pack: RulePack) -> None:
    engine = RuleEngine(site, pack)
    engine.tick(T)
    _learned(engine, 20)
    at = T + 10 * MIN
    first = engine.tick(at, max_hits=5)
    assert engine.judging
    # meanwhile a new device shows its rhythm, long enough ago to be silent now
    _learned(engine, 1, prefix="late-")
    rest: list[RuleHit] = []
    while engine.judging:
        rest += engine.judge_more(at, max_hits=5)
    raised = {h.device for h in first + rest if h.rule == OFF}
    assert "late-0" not in raised  # not in the judgement under way
    again = engine.tick(at)  # due at once: its deadline was never seen
    assert [h.device for h in again if h.rule == OFF] == ["late-0"]


def test_a_device_heard_between_slices_is_not_raised(site: Site, pack: RulePack) -> None:
    engine = RuleEngine(site, pack)
    engine.tick(T)
    _learned(engine, 10)
    at = T + 10 * MIN
    first = {h.device for h in engine.tick(at, max_hits=3) if h.device.startswith("dev-")}
    quiet = sorted({f"dev-{i}" for i in range(10)} - first)
    engine.on_telemetry(tel(quiet[-1], at, x=1.0))  # it speaks before its turn
    rest: set[str] = set()
    while engine.judging:
        rest |= {h.device for h in engine.judge_more(at, max_hits=3) if h.device.startswith("dev-")}
    assert quiet[-1] not in rest and len(first | rest) == 9


def test_restore_drops_a_judgement_under_way(site: Site, pack: RulePack) -> None:
    engine = RuleEngine(site, pack)
    engine.tick(T)
    _learned(engine, 10)
    engine.tick(T + 10 * MIN, max_hits=3)
    assert engine.judging
    engine.restore({})
    assert not engine.judging
