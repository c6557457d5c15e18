"""Rule packs: the default pack against the contract, validation with line numbers, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.cli import main
from rules.lang import RuleError
from rules.model import CrewDispatch
from rules.pack import check_file, check_text, default_pack_text, load_pack
from rules.template import parse_template

# contract section 3: id -> (kind, priority, raises, crews, delay_ms)
CONTRACT = {
    "hvac.zone_temp_high": ("telemetry", "medium", "alarm", (("hvac", 0),), 300_000),
    "hvac.filter_clogged": ("telemetry", "low", "ticket", (("hvac", 0),), 600_000),
    "hvac.fault": ("telemetry", "medium", "alarm", (("hvac", 0),), 0),
    "lighting.lamp_failure": ("telemetry", "low", "alarm", (("electrical", 0),), 0),
    "lighting.after_hours_waste": ("telemetry", "low", "alarm", (), 1_800_000),
    "access.door_forced": ("event", "high", "alarm", (("security", 0),), 0),
    "access.door_held": ("telemetry", "medium", "alarm", (("security", 300),), 60_000),
    "access.tamper": ("event", "high", "alarm", (("security", 0),), 0),
    "fire.alarm": ("event", "critical", "alarm", (("security", 0), ("fire-safety", 0)), 0),
    "fire.pre_alarm": ("event", "high", "alarm", (("fire-safety", 0),), 0),
    "fire.smoke_high": ("telemetry", "high", "alarm", (("fire-safety", 0),), 0),
    "fire.fault": ("event", "medium", "alarm", (("fire-safety", 0),), 0),
    "fire.supervisory": ("event", "medium", "alarm", (("fire-safety", 0),), 0),
    "fire.disablement": ("event", "medium", "alarm", (("fire-safety", 0),), 0),
    "device.offline": ("offline", "low", "alarm", (), 0),
}


def test_default_pack_is_the_contract(pack) -> None:  # type: ignore[no-untyped-def]
    assert [r.id for r in pack.rules] == list(CONTRACT)
    for r in pack.rules:
        kind, prio, raises, crews, delay = CONTRACT[r.id]
        assert r.kind == kind, r.id
        assert r.spec.priority == prio, r.id
        assert r.spec.raises == raises, r.id
        assert tuple((c.crew, c.after_s) for c in r.spec.crews) == crews, r.id
        assert r.delay_ms == delay, r.id
        assert r.clear_delay_ms == 0, r.id
        assert r.spec.message and r.spec.action and r.spec.cause and r.spec.consequence, r.id
    by = {r.id: r for r in pack.rules}
    assert by["hvac.zone_temp_high"].when.text == "zone_temp > setpoint + 3 and fan != false"
    assert by["hvac.zone_temp_high"].clear.text == "zone_temp < setpoint + 2"
    assert by["fire.smoke_high"].clear.text == "smoke < 3.0"
    assert by["fire.smoke_high"].guard.rule == "fire.alarm"
    w = by["lighting.after_hours_waste"].window
    assert (w.start_min, w.end_min, w.outside) == (480, 1200, True)
    assert by["access.door_forced"].clear.text == "door_open == false"
    for rid in (
        "fire.alarm",
        "fire.pre_alarm",
        "fire.fault",
        "fire.supervisory",
        "fire.disablement",
    ):
        assert by[rid].clear_events == {"reset"}
    assert by["access.tamper"].spec.clears_on_ack
    assert not by["access.door_forced"].spec.clears_on_ack
    assert not by["fire.alarm"].spec.clears_on_ack
    off = by["device.offline"]
    assert (off.offline_factor, off.offline_min_ms) == (3.0, 60_000)
    assert off.spec.priority_for("fire") == "high"
    assert off.spec.priority_for("hvac") == "low"
    assert off.spec.crews_for("hvac") == (CrewDispatch("hvac", 1800),)
    assert off.spec.crews_for("lighting") == (CrewDispatch("electrical", 1800),)
    assert off.spec.crews_for("access") == (CrewDispatch("security", 1800),)
    assert off.spec.crews_for("fire") == (CrewDispatch("fire-safety", 0),)
    assert pack.spec("fire.alarm").priority == "critical"
    with pytest.raises(KeyError):
        pack.spec("nope")


def test_load_pack_from_text_and_path(tmp_path: Path) -> None:
    text = default_pack_text()
    assert len(load_pack(text)) == 15
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    assert len(load_pack(p)) == 15
    assert len(load_pack(str(p))) == 15
    assert check_file(p) == []


GOOD_RULE = """\
  - id: x.ok
    system: hvac
    priority: low
    when: zone_temp > 30
    message: "{device} hot"
    action: look
"""


def errors_of(text: str) -> list[str]:
    return check_text(text, "pack.yaml")


def test_check_reports_line_numbers() -> None:
    text = (
        "version: 1\n"  # 1
        "rules:\n"  # 2
        + GOOD_RULE  # 3-8
        + "  - id: x.bad\n"  # 9
        "    system: hvack\n"  # 10
        "    priority: urgent\n"  # 11
        "    when: zone_temp >> 3\n"  # 12
        "    for: soon\n"  # 13
        "    whne: x\n"  # 14
        '    message: "{device} {nope}"\n'  # 15
        "    action: look\n"  # 16
        "  - id: x.ok\n"  # 17
        "    priority: low\n"  # 18
        "    event: tamper\n"  # 19
        "    clear_event: tamper\n"  # 20
        "    for: 10s\n"  # 21
        "    message: m\n"  # 22
        "    action: a\n"  # 23
    )
    errs = errors_of(text)
    joined = "\n".join(errs)
    assert "pack.yaml:10: rule 'x.bad': system: 'hvack' is not one of" in joined
    assert "pack.yaml:11: rule 'x.bad': priority: 'urgent'" in joined
    assert "pack.yaml:12: rule 'x.bad': when: column 12: unexpected '>'" in joined
    assert "pack.yaml:13: rule 'x.bad': for: not a duration" in joined
    assert "pack.yaml:14: rule 'x.bad': unknown key 'whne' (did you mean 'when'?)" in joined
    assert "pack.yaml:17: rule 'x.ok': duplicate id (first on line 3)" in joined
    assert "pack.yaml:20: rule 'x.ok': clear_event: the same event cannot raise and clear" in joined
    assert "pack.yaml:21: rule 'x.ok': for: an event rule cannot be delayed" in joined
    # sorted by line
    lines = [int(e.split(":")[1]) for e in errs]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules: [\n  {id: a\n", "pack.yaml:3: YAML syntax"),
        ("", "pack.yaml:1: empty rule pack"),
        ("- 1\n", "pack.yaml:1: a rule pack is a mapping"),
        ("version: 2\nrules: []\n", "pack.yaml:1: version: 2 is not supported"),
        ("rules: []\n", "pack.yaml:1: rules: a non-empty list"),
        ("rulez: []\n", "pack.yaml:1: unknown top-level key 'rulez'"),
        ("rules:\n  - 3\n", "pack.yaml:2: rules[0]: a rule is a mapping"),
        ("rules:\n" + GOOD_RULE + "    action: again\n", "pack.yaml:8: duplicate key 'action'"),
        (
            "rules:\n  - id: a\n    priority: low\n    message: m\n    action: a\n",
            "pack.yaml:2: rule 'a': needs a trigger",
        ),
        (
            "rules:\n  - id: a\n    priority: critical\n    when: zone_temp > 1\n"
            "    for: 5s\n    message: m\n    action: a\n",
            "pack.yaml:5: rule 'a': for: a critical rule is never delayed",
        ),
        (
            "rules:\n  - id: a\n    system: hvac\n    priority: low\n    when: zone_tmp > 1\n"
            "    message: m\n    action: a\n",
            "pack.yaml:5: rule 'a': unknown field 'zone_tmp' for hvac",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    raises: ticket\n    when: smoke > 1\n"
            "    message: m\n    action: a\n",
            "pack.yaml:4: rule 'a': raises: ticket needs `crews`",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    when: smoke > 1\n"
            "    outside: '8-20'\n    message: m\n    action: a\n",
            "pack.yaml:5: rule 'a': outside: bad time window '8-20'",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    when: smoke > 1\n"
            "    unless_active: {rule: nope}\n    message: m\n    action: a\n",
            "pack.yaml:2: rule 'a': unless_active: unknown rule 'nope'",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    when: smoke > 1\n"
            "    crews: [{crew: x, after: later}]\n    message: m\n    action: a\n",
            "pack.yaml:5: rule 'a': crews: not a duration",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    when: smoke > 1\n"
            "    message: '{smoke.__class__}'\n    action: a\n",
            "pack.yaml:5: rule 'a': message: bad template field",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    when: smoke > 1\n    message: m\n",
            "pack.yaml:2: rule 'a': action: required",
        ),
        (
            "rules:\n  - id: a b\n    priority: low\n    when: smoke > 1\n    message: m\n"
            "    action: a\n",
            "pack.yaml:2: rule 'a b': id: 1 to 64 letters",
        ),
        (
            "rules:\n  - id: off\n    priority: low\n    when: smoke > 1\n    message: m\n"
            "    action: a\n",
            "pack.yaml:2: rules[0]: id: YAML reads yes/no/on/off",
        ),
        (
            "rules:\n  - priority: low\n    when: smoke > 1\n    message: m\n    action: a\n",
            "pack.yaml:2: rules[0]: id: required",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    offline: {factor: 0}\n    message: m\n"
            "    action: a\n",
            "pack.yaml:4: rule 'a': offline: factor 0",
        ),
        (
            "rules:\n  - id: a\n    priority: low\n    offline: {}\n    when: smoke > 1\n"
            "    message: m\n    action: a\n",
            "pack.yaml:5: rule 'a': when: not allowed",
        ),
    ],
)
def test_check_broken_packs(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "pack.yaml"
    path.write_text(text, encoding="utf-8")
    errs = [e.replace(str(path), "pack.yaml", 1) for e in check_file(path)]
    assert errs == errors_of(text)
    assert any(e.startswith(expected) for e in errs), errs


def test_block_scalar_condition_line() -> None:
    text = (
        "rules:\n  - id: a\n    priority: low\n    when: >-\n      smoke > 1 and\n"
        "      heat >\n    message: m\n    action: a\n"
    )
    errs = errors_of(text)
    assert errs and errs[0].startswith("pack.yaml:4: rule 'a': when: ")


def test_load_pack_raises_with_all_errors() -> None:
    text = "rules:\n  - id: a\n    priority: nope\n    when: x >\n    message: m\n    action: a\n"
    with pytest.raises(RuleError) as exc:
        load_pack(text)
    assert len(exc.value.errors) >= 2
    assert "<text>:3:" in str(exc.value)


def test_load_pack_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="cannot read"):
        load_pack(tmp_path / "nope.yaml")
    assert check_file(tmp_path / "nope.yaml")[0].endswith(
        "No such file or directory: '" + str(tmp_path / "nope.yaml") + "'"
    )


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(default_pack_text(), encoding="utf-8")
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out.strip() == "OK: 15 rules"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: a\n    priority: nope\n    when: smoke > 1\n"
        "    message: m\n    action: a\n",
        encoding="utf-8",
    )
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:3: rule 'a': priority: 'nope'" in out
    assert main([str(good)]) == 0
    capsys.readouterr()
    assert main(["list"]) == 0
    assert "fire.alarm" in capsys.readouterr().out
    assert main([]) == 2


def test_template_render_never_raises() -> None:
    t = parse_template("{device} {zone_temp:.1f} {missing} {name!r} {flag:.1f}")
    assert (
        t.render({"device": "d", "zone_temp": "warm", "name": "n", "flag": True})
        == "d warm ? 'n' 1.0"
    )
    with pytest.raises(RuleError):
        parse_template("{a:{b}}")
    with pytest.raises(RuleError):
        parse_template("{a[0]}")
    with pytest.raises(RuleError):
        parse_template("{a")
