"""Assets: every device of the site file, and the plant the site lists without telemetry.

An asset is built once from the site (:func:`site_assets`): each device is an asset of
its own id (``device`` = that id); an entry of the site's ``assets:`` section either
describes a device further (same id, ``device`` = it: make, model, install date) or is
plant that sends nothing (a carpet, an extinguisher, a camera, the lift: ``device``
null). A plan names its assets by id or by type (and zone): :func:`select`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from rules.site import AssetSelector, Plan, Site


@dataclass(frozen=True, slots=True)
class AssetInfo:
    id: str
    type: str
    zone: str
    name: str
    device: str | None = None
    system: str | None = None
    make: str | None = None
    model: str | None = None
    installed: date | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "zone": self.zone,
            "name": self.name,
            "device": self.device,
            "system": self.system,
            "make": self.make,
            "model": self.model,
            "installed": self.installed.isoformat() if self.installed else None,
        }


def site_assets(site: Site) -> dict[str, AssetInfo]:
    """The site's assets by id: devices first (file order), then plant without telemetry."""
    out: dict[str, AssetInfo] = {}
    for d in site.devices:
        out[d.id] = AssetInfo(
            id=d.id, type=d.type, zone=d.zone, name=d.display_name, device=d.id, system=d.system
        )
    for a in site.assets:
        dev = site.device(a.device) if a.device else None
        out[a.id] = AssetInfo(
            id=a.id,
            type=a.type,
            zone=a.zone,
            name=a.name or (dev.display_name if dev else a.id),
            device=a.device,
            system=dev.system if dev else None,
            make=a.make,
            model=a.model,
            installed=a.installed,
        )
    return out


def select(plan: Plan, assets: dict[str, AssetInfo]) -> list[AssetInfo]:
    """The assets ``plan`` names: by id (unknown ids are skipped), or by type and zone."""
    if isinstance(plan.assets, AssetSelector):
        sel = plan.assets
        return [
            a
            for a in assets.values()
            if a.type == sel.type and (sel.zone is None or a.zone == sel.zone)
        ]
    return [assets[i] for i in plan.assets if i in assets]
