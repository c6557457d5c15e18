"""sitewatch rules: rule packs (YAML), their safe condition language, and the engine.

Public API::

    from rules import load_pack, load_default_pack, check_file, RuleEngine, RuleError
"""

from rules.engine import RuleEngine
from rules.lang import Condition, RuleError, compile_condition, parse_duration_ms
from rules.pack import Rule, RulePack, check_file, check_text, load_default_pack, load_pack

__all__ = [
    "Condition",
    "Rule",
    "RuleEngine",
    "RuleError",
    "RulePack",
    "check_file",
    "check_text",
    "compile_condition",
    "load_default_pack",
    "load_pack",
    "parse_duration_ms",
]
