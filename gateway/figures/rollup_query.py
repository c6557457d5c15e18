"""Energy answered from the roll-up (``gateway.figures.rollup``): kWh by zone, system or
device per site-local hour, day or month, from a few rows per device.

A period is answered here when it starts at or after the roll-up's ``since_ms``, starts
and ends on site-local hour edges or ends now or later (every period the scorecard, the
report and the screens ask for: months, days, months to date), and the hour rows it
needs are still kept; otherwise
:class:`~gateway.figures.energy.EnergyReader` reads the raw readings as before.

Each bucket of the answer is cut into whole months, whole days and hours
(:func:`plan`): a month's bucket is one month row per device, a month to date is its
whole days and the hours of today. Contiguous pieces of one span are read in one range
query (summed per device by the database when the range lies inside one bucket), and
the sums still waiting in memory are added. By zone or system the zone and system rows
answer (``gateway.figures.rollup_groups``: a month per hour by zone at 10,000 devices
is 14,880 rows) from when they follow the site's current mapping (:func:`parts`);
before that the database sums the device rows of each group (the site's device ->
group mapping in a temporary table, joined once: a month per hour is 7,440,000 rows
read, 4-12 s). By device every (device, day) is an item: 310,000 rows through the
driver's cursor (SQLAlchemy's rows would double the time), in key order, no
``GROUP BY`` (one row per device and start already); they are summed into one array
per device in the worker thread that reads them and the items built there, already
shaped for the API when asked (``shaped``), so the event loop only waits. A write that
lands meanwhile makes the read start again, so rows and waiting sums are always of one
moment.

Lifecycle: stateless functions over an :class:`~gateway.figures.rollup.EnergyRollup`.
"""

from __future__ import annotations

import asyncio
import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.clock import iso_ms
from gateway.figures.energy import group_key, metered_devices
from gateway.figures.periods import buckets, next_edge
from gateway.store import reader as read_only
from gateway.store.models_energy import energy_rollup, energy_rollup_groups

if TYPE_CHECKING:
    from gateway.figures.rollup import EnergyRollup

H = 3_600_000
#: reads that found a write in between before the read is done on the loop itself
READ_ATTEMPTS = 3

Piece = tuple[str, int, int]  # (span, start, end)


def plan(rollup: EnergyRollup, b0: int, b1: int) -> list[Piece]:
    """``[b0, b1)`` (on hour edges) as whole months, whole days and hours."""
    tz = rollup.hours.tz
    out: list[Piece] = []
    t = b0
    while t < b1:
        day, month = rollup.hours.parents(t)
        if t == month:
            end = next_edge(t, "1mo", tz)
            if end <= b1:
                out.append(("m", t, end))
                t = end
                continue
        if t == day:
            end = next_edge(t, "1d", tz)
            if end <= b1:
                out.append(("d", t, end))
                t = end
                continue
        out.append(("h", t, t + H))
        t += H
    return out


def answers(rollup: EnergyRollup, start_ms: int, end_ms: int) -> bool:
    """Whether the roll-up answers ``[start, end)`` (see the module doc)."""
    hours = rollup.hours
    if start_ms < rollup.since_ms or end_ms <= start_ms:
        return False
    if hours.hour(start_ms) != start_ms:
        return False
    if hours.hour(end_ms) != end_ms and end_ms < rollup.clock.now_ms():
        return False  # (a period "to date" ends now: its last hour is all there is)
    oldest = rollup.clock.now_ms() - rollup.hour_retention_ms
    if start_ms >= oldest:
        return True
    return all(span != "h" or lo >= oldest for span, lo, _ in plan(rollup, start_ms, end_ms))


def ranges(pieces: list[Piece]) -> list[Piece]:
    """Contiguous pieces of one span merged."""
    out: list[Piece] = []
    for span, lo, hi in sorted(pieces, key=lambda p: (p[0], p[1])):
        if out and out[-1][0] == span and out[-1][2] == lo:
            out[-1] = (span, out[-1][1], hi)
        else:
            out.append((span, lo, hi))
    return out


GROUPS_DDL = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS energy_groups "
    "(device VARCHAR(128) PRIMARY KEY, grp VARCHAR(128) NOT NULL)"
)

Acc = dict[str, list[float]]  # device or group -> kWh per bucket, then covered ms per bucket
Waiting = list[tuple[str, int, float, int]]  # (device, hour, kW·ms, covered ms)


def _fetch(conn: sa.Connection, stmt: Any) -> Sequence[Any]:
    """The rows of ``stmt`` as the driver's tuples: SQLAlchemy's result rows cost as much
    as the read itself for 310,000 rows (``bench/energy_10k.py``)."""
    c = stmt.compile(dialect=conn.dialect)
    params = c.construct_params()
    args: Any = tuple(params[k] for k in c.positiontup or ()) if c.positional else params
    cur = conn.connection.cursor()
    try:
        cur.execute(c.string, args)
        return cur.fetchall()
    finally:
        cur.close()


Part = tuple[bool, str, int, int]  # (from the group rows, span, start, end)


def parts(spans: list[Piece], since: int | None) -> list[Part]:
    """``spans`` cut where the group rows begin to answer (``since``; ``None``: never):
    rows starting before it are summed from the device rows."""
    out: list[Part] = []
    for span, lo, hi in spans:
        if since is None or hi <= since:
            out.append((False, span, lo, hi))
            continue
        if lo < since:
            out.append((False, span, lo, since))
        out.append((True, span, max(lo, since), hi))
    return out


def _read(
    rollup: EnergyRollup,
    spans: list[Piece],
    starts: list[int],
    by: str,
    groups: dict[str, str] | None,
    waiting: Waiting,
) -> Acc:
    """Device (or group) -> ``[kWh of bucket 0..n-1, covered ms of bucket 0..n-1]``: the
    rows in ``spans`` plus the ``waiting`` sums. With ``groups`` (device -> zone or
    system, ``by``) the group rows answer from their ``since_ms`` on
    (``gateway.figures.rollup_groups``: a few rows); before it the database sums the
    device rows per group (a temporary table maps the devices: one pass over the rows);
    devices not in it are left out. Runs in a worker thread: the per-row work (310,000
    rows for a month per day by device) stays off the event loop."""
    t = energy_rollup
    gt = energy_rollup_groups
    n = len(starts)
    acc: Acc = {}
    since = rollup.groups.since_ms if groups is not None else None
    todo = parts(spans, since)
    with read_only(rollup.db).begin() as conn:
        g = sa.table("energy_groups", sa.column("device"), sa.column("grp"))
        if groups is not None and not all(own for own, *_ in todo):
            ddl = GROUPS_DDL + (" WITHOUT ROWID" if conn.dialect.name == "sqlite" else "")
            conn.execute(sa.text(ddl))
            conn.execute(sa.text("DELETE FROM energy_groups"))
            conn.execute(
                sa.text("INSERT INTO energy_groups (device, grp) VALUES (:d, :g)"),
                [{"d": d, "g": grp} for d, grp in groups.items()],
            )
        for own, span, lo, hi in todo:
            j0 = bisect_right(starts, lo) - 1
            one = j0 == bisect_right(starts, hi - 1) - 1
            covered = sa.cast(sa.func.sum(t.c.covered_ms), sa.BigInteger)  # (PG: numeric)
            if own:  # one row per (group, start)
                key: Any = gt.c.grp
                rows: Any = gt
                where = [gt.c.grouping == by, gt.c.span == span]
                where += [gt.c.start_ms >= lo, gt.c.start_ms < hi]
                covered = sa.cast(sa.func.sum(gt.c.covered_ms), sa.BigInteger)
                q = sa.select(key, gt.c.start_ms, gt.c.kwh, gt.c.covered_ms)
                if one:
                    q = sa.select(key, sa.func.sum(gt.c.kwh), covered).group_by(key)
            else:
                key = t.c.device if groups is None else g.c.grp
                rows = t if groups is None else t.join(g, g.c.device == t.c.device)
                where = [t.c.span == span, t.c.start_ms >= lo, t.c.start_ms < hi]
                if one:
                    q = sa.select(key, sa.func.sum(t.c.kwh), covered).group_by(key)
                elif groups is None:  # one row per (device, start) already
                    q = sa.select(key, t.c.start_ms, t.c.kwh, t.c.covered_ms)
                else:
                    q = sa.select(key, t.c.start_ms, sa.func.sum(t.c.kwh), covered)
                    q = q.group_by(key, t.c.start_ms)
            result = _fetch(conn, q.select_from(rows).where(*where))
            if one:
                for name, kwh, cov in result:
                    a = acc.get(name)
                    if a is None:
                        a = acc[name] = [0.0] * (2 * n)
                    a[j0] += kwh or 0.0
                    a[n + j0] += cov or 0
                continue
            index: dict[int, int] = {}  # row start -> bucket (a few distinct starts)
            for name, start, kwh, cov in result:
                j = index.get(start)
                if j is None:
                    j = index[start] = bisect_right(starts, int(start)) - 1
                a = acc.get(name)
                if a is None:
                    a = acc[name] = [0.0] * (2 * n)
                a[j] += kwh or 0.0
                a[n + j] += cov or 0
    for device, hour, kwms, cov in waiting:
        name = device
        if groups is not None:
            if device not in groups:
                continue
            name = groups[device]
        j = bisect_right(starts, hour) - 1
        a = acc.get(name)
        if a is None:
            a = acc[name] = [0.0] * (2 * n)
        a[j] += kwms / H
        a[n + j] += cov
    return acc


async def sums(
    rollup: EnergyRollup,
    edges: list[tuple[int, int]],
    by: str = "device",
    groups: dict[str, str] | None = None,
) -> Acc:
    """Device -> ``[kWh per bucket..., covered ms per bucket...]`` over ``edges``
    (contiguous buckets on hour edges), rows and waiting sums of one moment; with
    ``groups`` (device -> group) keyed by group instead, devices not in it left out."""
    starts = [b0 for b0, _ in edges]
    lo, hi = edges[0][0], edges[-1][1]
    spans = ranges([p for b0, b1 in edges for p in plan(rollup, b0, b1)])
    acc: Acc = {}
    for attempt in range(READ_ATTEMPTS + 1):
        writes = rollup.writes
        waiting = [
            (device, hour, e[0], e[1])
            for (device, hour), e in list(rollup.pending.items())
            if lo <= hour < hi and (e[0] or e[1])
        ]
        if attempt == READ_ATTEMPTS:  # writes keep landing: read on the loop, no write between
            acc = _read(rollup, spans, starts, by, groups, waiting)
            break
        acc = await asyncio.to_thread(_read, rollup, spans, starts, by, groups, waiting)
        if rollup.writes == writes:
            break
    return acc


def _items(acc: Acc, edges: list[tuple[int, int]], keep: Any, shaped: bool) -> list[dict[str, Any]]:
    """The answer's items from ``acc``: every kept key and bucket some credited step
    covered, sorted by key then start (the buckets are in order already); ``shaped``: as
    :func:`gateway.figures.energy.shape` makes them, in the same pass."""
    n = len(edges)
    labels: list[Any] = [iso_ms(b0) if shaped else b0 for b0, _ in edges]
    out: list[dict[str, Any]] = []
    append = out.append
    for name in sorted(acc):
        if name not in keep:
            continue
        a = acc[name]
        for j in range(n):
            if a[n + j] > 0:
                kwh = a[j]
                append({"key": name, "start": labels[j], "kwh": round(kwh, 4) if shaped else kwh})
    return out


async def series(
    rollup: EnergyRollup, start_ms: int, end_ms: int, by: str, step: str, shaped: bool = False
) -> list[dict[str, Any]]:
    """As :meth:`gateway.figures.energy.EnergyReader.series`, from the roll-up."""
    site = rollup.site
    edges = buckets(start_ms, end_ms, step, site.tz)
    if not edges:
        return []
    keys = {d.id: group_key(d, by) for d in metered_devices(site)}
    if by == "device":
        acc = await sums(rollup, edges)
        return await asyncio.to_thread(_items, acc, edges, keys, shaped)
    # by zone or system the database sums the devices of each group
    acc = await sums(rollup, edges, by, keys)
    return _items(acc, edges, set(keys.values()), shaped)


async def total(
    rollup: EnergyRollup, start_ms: int, end_ms: int, system: str | None = None
) -> tuple[float, int]:
    """As :meth:`gateway.figures.energy.EnergyReader.total`, from the roll-up."""
    ids = {d.id for d in metered_devices(rollup.site, system)}
    acc = await sums(rollup, [(start_ms, end_ms)])
    parts = [a[0] for device, a in acc.items() if device in ids and a[1] > 0]
    return math.fsum(parts), len(parts)
