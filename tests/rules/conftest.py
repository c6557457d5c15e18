"""Fixtures for the rule tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rules.engine import RuleEngine
from rules.engine_device import EMPTY, NO_EXTRAS
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


@pytest.fixture(autouse=True)
def _shared_empty_stays_empty() -> Iterator[None]:
    """Every device shares one empty dict until it has keys or history of its own
    (``rules.engine_device.EMPTY``), and one :class:`Extras` until it has history,
    figures or event keys (``NO_EXTRAS``): a test that wrote into them would have given
    every device the same entries. Checked after each test."""
    yield
    assert EMPTY == {}, f"rules.engine_device.EMPTY was written: {EMPTY!r}"
    EMPTY.clear()
    written = {a: getattr(NO_EXTRAS, a) for a in NO_EXTRAS.__slots__}
    assert all(v is EMPTY for v in written.values()), f"NO_EXTRAS was written: {written!r}"
