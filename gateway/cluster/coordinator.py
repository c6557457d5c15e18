"""The lease loop of one process: keep what it owns, take its fair share, give up the rest.

Lifecycle of :class:`Coordinator`: ``await coordinator.run(stop)`` repeats :meth:`step`
every ``renew_every_s`` (a third of the lease time, so two renewals may fail before a
lease runs out) until ``stop`` is set, then stops every site it serves and releases its
leases (another process takes them at once, not after the lease time). One step::

    heartbeat ──> renew owned leases ──> lost ones: on_lost(site) (stop serving it)
       ──> fair share = ceil(sites / live processes)
       ──> owning more: stop one site, release it (one per step: the load moves gently)
       ──> owning fewer: acquire free or expired sites until the share is reached,
           on_won(lease) for each (start serving it)

The first step only announces the process (heartbeat): processes started together count
each other before taking anything, so they spread at once instead of one taking all and
handing sites on. Free sites are tried in an order of this instance's own (the sites
rotated by a hash of the instance id), so processes do not all race for the same site.

A step that fails (the database unreachable) is logged and the next one tries again; the
leases run out meanwhile and the fence (``gateway.cluster.fence``) refuses any write made
under them. The database calls run in a worker thread: the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence

from gateway.cluster.leases import Lease, LeaseStore

log = logging.getLogger("sitewatch.cluster")

OnWon = Callable[[Lease], Awaitable[None]]
OnLost = Callable[[str], Awaitable[None]]


class Coordinator:
    def __init__(
        self,
        store: LeaseStore,
        sites: Sequence[str],
        *,
        on_won: OnWon,
        on_lost: OnLost,
        renew_every_s: float | None = None,
    ) -> None:
        if not sites:
            raise ValueError("no site to serve")
        self.store = store
        self.sites = list(sites)
        self.on_won = on_won
        self.on_lost = on_lost
        self.renew_every_s = renew_every_s or store.ttl_ms / 3000
        self.owned: dict[str, Lease] = {}
        self.live = 1
        self.lost_total = 0
        self.won_total = 0
        self.last_ok = time.monotonic()
        self.steps = 0

    @property
    def instance(self) -> str:
        return self.store.instance

    def fair_share(self) -> int:
        return math.ceil(len(self.sites) / max(1, self.live))

    def _order(self) -> list[str]:
        k = zlib.crc32(self.instance.encode()) % len(self.sites)
        return self.sites[k:] + self.sites[:k]

    async def step(self) -> None:
        st = self.store
        await asyncio.to_thread(st.heartbeat)
        self.steps += 1
        if self.steps == 1 and not self.owned:
            return  # first beat only: processes starting together see each other first
        renewed, lost = await asyncio.to_thread(
            st.renew, {s: lease.epoch for s, lease in self.owned.items()}
        )
        self.last_ok = time.monotonic()
        for site in lost:
            log.warning("site %s: lease lost (taken over or released); stopping it", site)
            self.owned.pop(site, None)
            self.lost_total += 1
            await self.on_lost(site)
        self.owned.update(renewed)
        self.live = await asyncio.to_thread(st.live_members)
        share = self.fair_share()
        if len(self.owned) > share:
            site = sorted(self.owned)[-1]
            lease = self.owned.pop(site)
            log.info("site %s: more than my share (%d); handing it on", site, share)
            await self.on_lost(site)
            await asyncio.to_thread(st.release, site, lease.epoch)
            return
        if len(self.owned) >= share:
            return
        table = await asyncio.to_thread(st.table)
        for site in self._order():
            if len(self.owned) >= share:
                break
            held = table.get(site)
            if site in self.owned or (held is not None and held.owner):
                continue
            won = await asyncio.to_thread(st.acquire, site)
            if won is None:
                continue
            log.info("site %s: lease won (epoch %d)", site, won.epoch)
            self.owned[site] = won
            self.won_total += 1
            try:
                await self.on_won(won)
            except Exception:
                log.exception("site %s: cannot start it; releasing the lease", site)
                self.owned.pop(site, None)
                await asyncio.to_thread(st.release, site, won.epoch)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self.step()
                except Exception:  # noqa: BLE001 - the next step tries again
                    log.exception("lease step failed; trying again")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_every_s)
        finally:
            await self.leave()

    async def leave(self) -> None:
        """Stop every site served here, release the leases, leave the members."""
        for site, lease in list(self.owned.items()):
            await self.on_lost(site)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release, site, lease.epoch)
            self.owned.pop(site, None)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.store.leave)
