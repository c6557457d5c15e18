"""The house's shape: layers only point down, and modules stay small.

Walks every module's imports (also those inside functions and ``TYPE_CHECKING`` blocks)
and fails on a forbidden arrow::

    sitewatch (CLI, composition root) -> api, simulators, gateway, rules
    api -> gateway, rules          simulators -> gateway (site file, clock, settings)
    gateway -> rules               rules -> nothing of ours

and the shared leaves (``rules.vocab``; ``rules.model`` and ``rules.site`` on top of it)
import nothing else of ours.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("sitewatch", "api", "gateway", "rules", "simulators")
FORBIDDEN = {
    "rules": {"gateway", "api", "simulators", "sitewatch"},
    "gateway": {"api", "simulators", "sitewatch"},
    "simulators": {"rules", "api", "sitewatch"},
    "api": {"simulators", "sitewatch"},
    "sitewatch": set(),
}
LEAVES = {
    "rules/vocab.py": set(),
    "rules/model.py": {"rules.vocab"},
    "rules/site.py": {"rules.vocab"},
    "rules/devices.py": {"rules.model"},
}
MAX_LINES = 500  # gateway/, rules/ and simulators/


def _modules() -> list[Path]:
    return sorted(
        p for top in OURS for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts
    )


def _imports(path: Path, pkg: str | None = None) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = pkg or path.relative_to(ROOT).parts[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside its own package
                out.append((node.lineno, f"{pkg}.{node.module or ''}"))
            elif node.module:
                out.append((node.lineno, node.module))
    return [(n, m) for n, m in out if m.split(".")[0] in OURS]


def test_layers_only_point_down() -> None:
    bad = []
    for path in _modules():
        rel = path.relative_to(ROOT)
        top = rel.parts[0]
        for line, mod in _imports(path):
            if mod.split(".")[0] in FORBIDDEN[top]:
                bad.append(f"{rel}:{line} imports {mod}")
    assert not bad, "imports pointing up:\n" + "\n".join(bad)


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_shared_leaves_import_nothing_else_of_ours(leaf: str) -> None:
    allowed = LEAVES[leaf]
    got = {mod for _, mod in _imports(ROOT / leaf)}
    assert got <= allowed, f"{leaf} imports {sorted(got - allowed)}"


def test_modules_in_gateway_rules_and_simulators_stay_small() -> None:
    big = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in _modules()
        if p.relative_to(ROOT).parts[0] in ("gateway", "rules", "simulators")
        and (n := p.read_text(encoding="utf-8").count("\n")) > MAX_LINES
    ]
    assert not big, "modules over 500 lines:\n" + "\n".join(big)


def test_the_walker_sees_imports_in_functions_and_relative_ones(tmp_path: Path) -> None:
    """The check itself can fail: imports inside a function, under TYPE_CHECKING and
    relative ones are all found."""
    f = tmp_path / "m.py"
    f.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import gateway.runtime\n"
        "def f():\n    from api.main import create_app\nfrom .x import y\n",
        encoding="utf-8",
    )
    assert sorted(m for _, m in _imports(f, pkg="rules")) == [
        "api.main",
        "gateway.runtime",
        "rules.x",
    ]
