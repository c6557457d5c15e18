"""The energy roll-up per zone and per system: the device rows of each batch the roll-up
writes (``gateway.figures.rollup``) summed per zone and per system and written in the
same transaction, so a month per hour by zone at 10,000 devices reads 14,880 rows
instead of summing 7,440,000 (``bench/energy_10k.py``).

**Which devices a zone holds.** The raw computation and the device rows group by the
site's *current* mapping; these rows by the mapping when they were written. So they
answer only from :attr:`GroupRows.since_ms` on: from when every device of the current
site had its current zone and system (``energy_rollup_members`` keeps that mapping).
When the site changes so that a device moves or goes, ``since_ms`` moves to the first
hour no batch written under the old mapping touches; periods before it are summed from
the device rows (``gateway.figures.rollup_query``), as before. A device added does not
move it (it had no rows before).

Lifecycle: one per :class:`~gateway.figures.rollup.EnergyRollup`; :meth:`restore` at its
start (in its transaction), :meth:`follow` on every site change, :meth:`take` /
:meth:`rows` per batch (on the event loop), :meth:`write` in the batch's transaction (in
a worker thread), :meth:`put_back` when that transaction failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from gateway.figures.energy import metered_devices
from gateway.store.models_energy import (
    energy_rollup_groups,
    energy_rollup_members,
    energy_rollup_state,
)
from rules.site import Site

GROUPINGS = ("zone", "system")
STATE_NAME = "groups"

Mapping = dict[str, tuple[str, str]]  # device -> (zone, system)


def mapping_of(site: Site) -> Mapping:
    return {d.id: (d.zone, str(d.system)) for d in metered_devices(site)}


@dataclass
class Saved:
    """What a batch writes of the mapping: ``since_ms``, members added or changed, and
    removed (``everything``: replace the whole table)."""

    since_ms: int
    upsert: Mapping
    delete: list[str]
    everything: bool = False


@dataclass
class Batch:
    """One transaction of the roll-up: device rows, group rows, the mapping's changes."""

    device: list[dict[str, Any]]
    groups: list[dict[str, Any]] = field(default_factory=list)
    saved: Saved | None = None


class GroupRows:
    def __init__(self) -> None:
        #: the mapping the group rows follow (the current site's, once followed)
        self.members: Mapping = {}
        #: from when the group rows answer; ``None`` before :meth:`restore`: never
        self.since_ms: int | None = None
        self._written: Mapping | None = {}  # members as stored (None: not known)
        self._since_written: int | None = None

    def follow(self, mapping: Mapping, floor_ms: int) -> None:
        """The site's mapping now: a device moved or gone moves :attr:`since_ms` to
        ``floor_ms`` (the first hour no batch taken so far touches)."""
        if self.since_ms is not None and any(mapping.get(d) != g for d, g in self.members.items()):
            self.since_ms = max(self.since_ms, floor_ms)
        self.members = dict(mapping)

    def restore(self, conn: sa.Connection, mapping: Mapping, floor_ms: int) -> None:
        """Read the stored mapping and ``since_ms`` and follow ``mapping`` from there; a
        store that never had group rows: from ``floor_ms``."""
        st = energy_rollup_state
        row = conn.execute(
            sa.select(st.c.since_ms).where(st.c.name == STATE_NAME)
        ).scalar_one_or_none()
        if row is None:
            self.since_ms = floor_ms
            self.members = dict(mapping)
            self._written, self._since_written = None, None
        else:
            mt = energy_rollup_members
            stored = {
                d: (z, s)
                for d, z, s in conn.execute(sa.select(mt.c.device, mt.c.zone, mt.c.system))
            }
            self.since_ms = int(row)
            self.members = stored
            self._written, self._since_written = dict(stored), self.since_ms
            self.follow(mapping, floor_ms)
        saved = self.take()
        if saved is not None:
            self.write(conn, saved)

    def take(self) -> Saved | None:
        """The mapping's changes since the last write (``None``: none), taken with a
        batch; counted as written (:meth:`put_back` if the batch fails)."""
        if self.since_ms is None:
            return None
        if self._written is not None and self._since_written == self.since_ms:
            if self._written == self.members:
                return None
        if self._written is None:
            saved = Saved(self.since_ms, dict(self.members), [], everything=True)
        else:
            w = self._written
            saved = Saved(
                self.since_ms,
                {d: g for d, g in self.members.items() if w.get(d) != g},
                [d for d in w if d not in self.members],
            )
        self._written, self._since_written = dict(self.members), self.since_ms
        return saved

    def put_back(self, saved: Saved | None) -> None:
        if saved is not None:
            self._written, self._since_written = None, None

    def rows(self, device_rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch's device rows summed per zone and per system (devices the site no
        longer has are left out: their hours are before :attr:`since_ms`)."""
        members = self.members
        out: dict[tuple[str, str, int, str], dict[str, Any]] = {}
        for r in device_rows:
            g = members.get(r["device"])
            if g is None:
                continue
            span, start = r["span"], r["start_ms"]
            for grouping, grp in (("zone", g[0]), ("system", g[1])):
                key = (grouping, span, start, grp)
                o = out.get(key)
                if o is None:
                    out[key] = {
                        "grouping": grouping, "span": span, "start_ms": start, "grp": grp,
                        "kwh": r["kwh"], "covered_ms": r["covered_ms"],
                    }  # fmt: skip
                else:
                    o["kwh"] += r["kwh"]
                    o["covered_ms"] += r["covered_ms"]
        return list(out.values())

    @staticmethod
    def write(conn: sa.Connection, saved: Saved) -> None:
        st = energy_rollup_state
        mt = energy_rollup_members
        done = conn.execute(
            sa.update(st).where(st.c.name == STATE_NAME).values(since_ms=saved.since_ms)
        ).rowcount
        if not done:
            conn.execute(sa.insert(st).values(name=STATE_NAME, since_ms=saved.since_ms))
        gone = list(saved.upsert) + saved.delete
        if saved.everything:
            conn.execute(sa.delete(mt))
        else:
            for i in range(0, len(gone), 500):
                conn.execute(sa.delete(mt).where(mt.c.device.in_(gone[i : i + 500])))
        if saved.upsert:
            conn.execute(
                sa.insert(mt),
                [{"device": d, "zone": z, "system": s} for d, (z, s) in saved.upsert.items()],
            )

    @staticmethod
    def sweep(conn: sa.Connection, hour_before: int, before: int) -> None:
        t = energy_rollup_groups
        conn.execute(sa.delete(t).where(t.c.span == "h", t.c.start_ms < hour_before))
        conn.execute(sa.delete(t).where(t.c.span != "h", t.c.start_ms < before))
