"""Fixtures for the rule tests."""

from __future__ import annotations

import pytest

from rules.engine import RuleEngine
from rules.pack import RulePack, load_default_pack
from rules.site import Site
from tests.rules.helpers import SITE_DATA


@pytest.fixture(scope="session")
def site() -> Site:
    return Site.model_validate(SITE_DATA)


@pytest.fixture(scope="session")
def pack() -> RulePack:
    return load_default_pack()


@pytest.fixture()
def engine(site: Site, pack: RulePack) -> RuleEngine:
    return RuleEngine(site, pack)
