"""The site file: reading and validating it (the types live in ``rules.site``).

The demo site (``sc01``, the sales centre) ships with the package as
``gateway/sites/sc01.yaml``. A site file is validated once when it is loaded; every
error names the offending entry.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from rules.site import ALL_DAYS, Crew, Device, Member, Shift, Site, Weekday, Zone
from rules.vocab import ID_RE

__all__ = [
    "ALL_DAYS",
    "ID_RE",
    "Crew",
    "Device",
    "Member",
    "Shift",
    "Site",
    "Weekday",
    "Zone",
    "load_site",
]


def load_site(path: str | Path | None = None) -> Site:
    """Load and validate a site file; ``None`` loads the shipped demo site ``sc01``."""
    if path is None:
        text = resources.files("gateway.sites").joinpath("sc01.yaml").read_text(encoding="utf-8")
        origin = "gateway/sites/sc01.yaml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        origin = str(path)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{origin}: a site file is a YAML mapping")
    return Site.model_validate(data)
