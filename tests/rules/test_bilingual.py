"""Rule texts in two languages: the hit carries the Chinese rendering beside the English."""

from __future__ import annotations

from gateway.site import load_site
from rules import RuleEngine, load_default_pack
from rules.model import Event


def test_a_fire_alarm_hit_carries_both_languages_rendered_with_the_same_values() -> None:
    engine = RuleEngine(load_site(), load_default_pack())
    hits = engine.on_event(Event("sc01", "fire", "fp-01", 1_000, "fire_alarm", 1_000))
    assert [h.rule for h in hits] == ["fire.alarm"]
    hit = hits[0]
    assert hit.message.startswith("FIRE ALARM") and "fp-01" in hit.message
    assert "火警" in hit.message_zh and "fp-01" in hit.message_zh


def test_every_default_rule_has_chinese_texts() -> None:
    for spec in load_default_pack().specs.values():
        assert spec.message_zh and spec.action_zh, spec.id
