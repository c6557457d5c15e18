"""Onboarding: devices from a CSV file or an API call, validated, placed in the site.

Lifecycle: :func:`parse_csv` (``sitewatch devices import FILE.csv``) or :func:`validate`
(``POST /api/v1/devices``, one JSON object per device) checks every row against the site
and returns the devices and the errors, each naming its line (CSV: the file's line, the
header is line 1; JSON: the item's index); nothing is applied while any row is bad
(:func:`check` raises :class:`gateway.errors.Invalid` listing them all). Then either

* :func:`write_site_file` adds them to the site file (the command line; the gateway reads
  it at its next start), or
* :func:`register` places them in the running gateway: a new device is registered with
  the engine from the updated site, a device already seen on the wire but not in the site
  file (listed as unzoned by ``GET /api/v1/site``) gets its zone, name, type and interval.
  The engine saves the devices' zones with its state (they are marked changed).

Columns: ``id, system, type, zone, name, interval`` (``name`` and ``interval`` may be
empty; ``interval`` is the usual reporting interval in seconds, default 60).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.errors import Conflict, Invalid
from rules.devices import DEFAULT_INTERVAL_S
from rules.site import Device, Site

COLUMNS = ("id", "system", "type", "zone", "name", "interval")
REQUIRED = ("id", "system", "type", "zone")
#: at most this many rows in one import (a site has at most max_devices anyway)
MAX_ROWS = 100_000


@dataclass(slots=True, frozen=True)
class RowError:
    line: int | str  # a CSV line number, or an item's index for JSON
    message: str
    where: str = "line"

    def __str__(self) -> str:
        return f"{self.where} {self.line}: {self.message}"


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        name = (
            {"interval_s": "interval"}.get(str(err["loc"][0]), str(err["loc"][0]))
            if err["loc"]
            else "row"
        )
        parts.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def validate(
    rows: Sequence[Mapping[str, Any]],
    site: Site,
    *,
    first: int = 1,
    where: str = "line",
    known: Mapping[str, Any] | None = None,
) -> tuple[list[Device], list[RowError]]:
    """Every row checked: field values, the zone is one of the site's, no id twice, no
    clash with the site file or (``known``: the engine's devices) with a device's system
    on the wire. Rows identical to the site file's entry are accepted (nothing to do)."""
    zones = {z.id for z in site.zones}
    devices: list[Device] = []
    errors: list[RowError] = []
    seen: dict[str, int | str] = {}
    if len(rows) > MAX_ROWS:
        return [], [RowError(first, f"more than {MAX_ROWS} devices in one import", where)]
    for i, row in enumerate(rows):
        line = first + i
        if not isinstance(row, Mapping):
            errors.append(RowError(line, "expected an object", where))
            continue
        missing = [c for c in REQUIRED if not str(row.get(c) or "").strip()]
        if missing:
            errors.append(RowError(line, f"missing {', '.join(missing)}", where))
            continue
        extra = sorted(set(row) - set(COLUMNS) - {"interval_s"})
        if extra:
            errors.append(RowError(line, f"unknown column {', '.join(map(str, extra))}", where))
            continue
        raw_interval = row.get("interval", row.get("interval_s"))
        values: dict[str, Any] = {
            "id": str(row["id"]).strip(),
            "system": str(row["system"]).strip(),
            "type": str(row["type"]).strip(),
            "zone": str(row["zone"]).strip(),
            "name": (str(row.get("name") or "").strip() or None),
            "interval_s": DEFAULT_INTERVAL_S
            if raw_interval is None or str(raw_interval).strip() == ""
            else raw_interval,
        }
        try:
            dev = Device.model_validate(values)
        except ValidationError as exc:
            errors.append(RowError(line, _explain(exc), where))
            continue
        problems: list[str] = []
        if dev.zone not in zones:
            problems.append(f"zone {dev.zone!r} is not a zone of site {site.site}")
        if dev.id in seen:
            problems.append(f"id {dev.id!r} already on {where} {seen[dev.id]}")
        old = site.device(dev.id)
        if old is not None and old != dev:
            problems.append(f"{dev.id!r} is already in the site file (zone {old.zone})")
        state = (known or {}).get(dev.id)
        if state is not None and old is None and state.system != dev.system:
            problems.append(f"{dev.id!r} already reports as a {state.system} device")
        if problems:
            errors.append(RowError(line, "; ".join(problems), where))
            continue
        seen[dev.id] = line
        if old is None:
            devices.append(dev)
    return devices, errors


def parse_csv(
    text: str, site: Site, known: Mapping[str, Any] | None = None
) -> tuple[list[Device], list[RowError]]:
    """A CSV file's text (header ``id,system,type,zone,name,interval``) -> devices and
    errors; the header is line 1."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), skipinitialspace=True)
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        return [], [RowError(1, "empty file: expected the header " + ",".join(COLUMNS))]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        what = []
        if missing:
            what.append(f"missing column {', '.join(missing)}")
        if unknown:
            what.append(f"unknown column {', '.join(unknown)}")
        return [], [RowError(1, "; ".join(what) + f" (expected {','.join(COLUMNS)})")]
    reader.fieldnames = header
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[RowError] = []
    try:
        for row in reader:
            if not any((v or "").strip() for k, v in row.items() if k is not None):
                continue  # a blank line
            if None in row:
                errors.append(RowError(reader.line_num, f"more than {len(header)} values"))
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        return [], [RowError(reader.line_num, f"not CSV: {exc}")]
    devices: list[Device] = []
    # validate row by row so each error carries its own line (a quoted value may span
    # lines); ids seen earlier in the file are checked across rows
    seen: dict[str, int] = {}
    for row, line in zip(rows, lines, strict=True):
        got, errs = validate([row], site, first=line, known=known)
        for d in got:
            if d.id in seen:
                errs.append(RowError(line, f"id {d.id!r} already on line {seen[d.id]}"))
                continue
            seen[d.id] = line
            devices.append(d)
        errors.extend(errs)
    errors.sort(key=lambda e: e.line if isinstance(e.line, int) else 0)
    return devices, errors


def check(errors: Sequence[RowError]) -> None:
    """Raise :class:`Invalid` listing every bad row (nothing is applied then)."""
    if errors:
        raise Invalid(
            f"{len(errors)} bad row(s), nothing imported: " + "; ".join(str(e) for e in errors)
        )


def merged_site(site: Site, devices: Sequence[Device]) -> Site:
    """The site with ``devices`` added (validated as a whole)."""
    data = site.model_dump(mode="json", exclude_none=True)
    data["devices"].extend(d.model_dump(mode="json", exclude_none=True) for d in devices)
    try:
        return Site.model_validate(data)
    except ValidationError as exc:
        raise Invalid(f"the site with these devices is not valid: {exc}") from None


def write_site_file(path: str | Path, devices: Sequence[Device]) -> Site:
    """Add ``devices`` to the site file at ``path`` (the old file kept as ``.bak``)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    site = Site.model_validate(data)
    new = merged_site(site, devices)
    data.setdefault("devices", []).extend(
        d.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"zone": d.zone}
        for d in devices
    )
    p.with_name(p.name + ".bak").write_text(text, encoding="utf-8")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    tmp.replace(p)
    return new


def register(engine: Any, site: Site, devices: Sequence[Device]) -> Site:
    """Place ``devices`` in the running engine (:meth:`rules.engine.RuleEngine.place`);
    returns the updated site (the caller keeps it as the runtime's site). Runs on the
    event loop, like every state change."""
    new = merged_site(site, devices)
    known = engine.devices
    for d in devices:
        st = known.get(d.id)
        if st is not None and st.system != d.system:
            raise Conflict(f"{d.id!r} already reports as a {st.system} device")
    engine.place(new, [d.id for d in devices])
    return new
