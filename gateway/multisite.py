"""Several sites in one process: a :class:`Host` runs one site runtime per lease it holds.

Lifecycle of :class:`Host`: ``Host(settings)`` reads the sites (``SITEWATCH_SITES``, or
every site file in ``SITEWATCH_SITES_DIR``, its id the file name's stem) and opens the
cluster's tables (the leases, in the state store of ``SITEWATCH_DB_URL``). ``await
host.run(stop)`` runs the lease loop (``gateway.cluster.coordinator``) and the process's
one HTTP server (when the composition root gave an app). For each lease won::

    site's schema created and migrated ──> its engine fenced at the lease's epoch
      ──> Runtime(site settings, serve_http=False, store=engine) ──> runtime.run(stop_site)

and for each lease lost or handed on, ``stop_site`` is set and the runtime drains as at a
shutdown (links paused, sink flushed, acknowledged, disconnected). A site runtime uses the
MQTT client id ``sitewatch-<site>`` (``-prio`` for its priority link) with a persistent
session: whoever owns the site next receives what the broker kept for it meanwhile.

When the fence refuses a write (the lease changed hands while this process was paused or
cut off), the site's broker connections are dropped at once, before any acknowledgement
goes out: the messages in flight are redelivered to the new owner, never lost here.

With a SQLite state store there is one process and no lease: every site is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway.cluster.coordinator import Coordinator
from gateway.cluster.fence import Fence, install_fence
from gateway.cluster.leases import Lease, LeaseStore
from gateway.cluster.urls import (
    cluster_schema,
    is_postgres,
    site_db_url,
    site_file_path,
    site_schema,
)
from gateway.runtime import Runtime, http_server
from gateway.settings import Settings
from gateway.sinks.embedded import DEFAULT_PATH
from gateway.site import load_site
from gateway.store import make_engine, open_store

log = logging.getLogger("sitewatch.multisite")

OWNED = "owned"
ELSEWHERE = "elsewhere"


def site_files(settings: Settings) -> dict[str, str]:
    """The sites served, id -> site file ('' = ``settings.site_file`` or the demo site)."""
    out: dict[str, str] = {}
    folder = Path(settings.sites_dir) if settings.sites_dir else None
    if folder is not None and not settings.site_ids:
        for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            out[p.stem] = str(p)
        if not out:
            raise ValueError(f"{folder}: no site file (*.yaml)")
        return out
    for site in settings.site_ids:
        own = folder / f"{site}.yaml" if folder is not None else None
        out[site] = str(own) if own is not None and own.exists() else settings.site_file
    return out


_MIGRATING = threading.Lock()


def _open_locked(db_url: str, lock_url: str) -> sa.Engine:
    """``open_store`` in this process (Alembic once for all the sites served, not a child
    process per site), one migration at a time here, and under a PostgreSQL advisory lock
    taken on ``lock_url``: processes starting together never run one schema's migrations
    side by side (the second waits, then finds them done)."""
    key = zlib.crc32(f"sitewatch-migrate:{db_url}".encode()) & 0x7FFFFFFF
    lock = make_engine(lock_url)
    try:
        with _MIGRATING, lock.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                return open_store(db_url, in_process=True)
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    finally:
        lock.dispose()


def instance_id(settings: Settings) -> str:
    return settings.instance or f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class Served:
    runtime: Runtime
    stop: asyncio.Event
    task: asyncio.Task[None]
    engine: sa.Engine
    fence: Fence | None


class Host:
    def __init__(
        self,
        settings: Settings,
        *,
        http_app: Callable[[Host], Any] | None = None,
        mqtt_protocol: str = "5",
        tokens: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.sites = site_files(settings)
        self.instance = instance_id(settings)
        self.http_app = http_app
        self.mqtt_protocol = mqtt_protocol
        self.tokens = tokens if tokens is not None else settings.tokens
        self.served: dict[str, Served] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}
        self.fenced_total = 0
        self._stopping: set[asyncio.Task[None]] = set()  # sites stopped after a refusal
        self._loop: asyncio.AbstractEventLoop | None = None
        self.clustered = is_postgres(settings.db_url)
        self.schema = cluster_schema(settings.db_url) if self.clustered else ""
        self.leases: LeaseStore | None = None
        self.coordinator: Coordinator | None = None
        if self.clustered:
            engine = _open_locked(settings.db_url, settings.db_url)  # the cluster's tables
            self.leases = LeaseStore(
                engine, self.instance, settings.lease_ttl_s, schema=self.schema
            )
            self.coordinator = Coordinator(
                self.leases, list(self.sites), on_won=self._won, on_lost=self._lost
            )

    # -- one site ------------------------------------------------------------------------
    def site_settings(self, site: str) -> Settings:
        s = self.settings
        return s.model_copy(
            update={
                "site": site,
                "site_file": self.sites[site],
                "db_url": site_db_url(s.db_url, site),
                "mqtt_client_id": f"sitewatch-{site}",
                "telemetry_db": site_file_path(s.telemetry_db, site, DEFAULT_PATH),
                "sites": "",
                "sites_dir": "",
            }
        )

    def _open_store(self, site: str) -> sa.Engine:
        """The site's state store, created (its own schema) and migrated; blocking."""
        url = site_db_url(self.settings.db_url, site)
        if self.clustered and self.leases is not None:
            with self.leases.engine.begin() as conn:
                conn.exec_driver_sql(
                    f'CREATE SCHEMA IF NOT EXISTS "{site_schema(self.settings.db_url, site)}"'
                )
        engine = _open_locked(url, self.settings.db_url) if self.clustered else open_store(url)
        if not self.clustered:
            return engine
        engine.dispose()
        return make_engine(url)  # a fresh pool: every connection will carry the fence

    async def start_site(self, site: str, lease: Lease | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        engine = await asyncio.to_thread(self._open_store, site)
        fence = None
        if lease is not None:
            fence = install_fence(
                engine, Fence(site, self.instance, lease.epoch, schema=self.schema)
            )
            fence.on_refused = self._refused
        site_settings = self.site_settings(site)
        rt = Runtime(
            site_settings,
            site=load_site(site_settings.site_file or None),
            tokens=self.tokens,
            mqtt_protocol=self.mqtt_protocol,
            serve_http=False,
            store=engine,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop), name=f"site-{site}")
        self.served[site] = Served(rt, stop, task, engine, fence)
        log.info("site %s: serving (%s)", site, f"epoch {lease.epoch}" if lease else "local")

    async def stop_site(self, site: str) -> None:
        served = self.served.pop(site, None)
        if served is None:
            return
        served.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(served.task), 30)
        except Exception:  # noqa: BLE001 - a fenced runtime may end in errors
            log.warning("site %s: its runtime ended badly", site, exc_info=True)
        served.engine.dispose()
        log.info("site %s: stopped", site)

    async def _won(self, lease: Lease) -> None:
        # started beside the lease loop: opening a store takes seconds, renewals do not wait
        task = asyncio.create_task(self._start_or_release(lease), name=f"start-{lease.site}")
        self._starting[lease.site] = task

    async def _start_or_release(self, lease: Lease) -> None:
        try:
            await self.start_site(lease.site, lease)
        except Exception:
            log.exception("site %s: cannot start it; releasing the lease", lease.site)
            if self.coordinator is not None and self.leases is not None:
                self.coordinator.owned.pop(lease.site, None)
                await asyncio.to_thread(self.leases.release, lease.site, lease.epoch)
        finally:
            self._starting.pop(lease.site, None)

    async def _lost(self, site: str) -> None:
        starting = self._starting.get(site)
        if starting is not None:
            with contextlib.suppress(Exception):
                await starting
        served = self.served.get(site)
        if served is not None and served.fence is not None and served.fence.refused:
            self._drop_links(served.runtime)
        await self.stop_site(site)

    def _refused(self, fence: Fence) -> None:
        """A write under a lost lease was refused: drop the site's broker connections
        before any acknowledgement leaves (redelivered to the owner), then stop it.

        Only the runtime that wrote under ``fence``: a runtime already stopped may still
        try a late write (a deferred save), and by then this process may serve the site
        again under a newer lease; that runtime is not the one fenced off."""
        self.fenced_total += 1
        served = self.served.get(fence.site)
        if served is None or served.fence is not fence or fence.refused > 1:
            return
        log.warning("site %s: fenced (lease epoch %d lost); dropping it", fence.site, fence.epoch)
        self._drop_links(served.runtime)
        if self._loop is not None:  # the refused write may have run in a worker thread
            self._loop.call_soon_threadsafe(self._stop_later, fence.site)

    def _stop_later(self, site: str) -> None:
        task = asyncio.get_running_loop().create_task(self.stop_site(site))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    @staticmethod
    def _drop_links(rt: Runtime) -> None:
        """No acknowledgement leaves any more, not even one already queued (what this
        runtime received is redelivered to the site's next owner), no new message comes
        in, the connections close without a DISCONNECT (:meth:`MqttLink.abort`)."""
        for link in rt.links:
            link.abort()

    # -- the process ---------------------------------------------------------------------
    def primary(self) -> Runtime | None:
        """The runtime the single-site routes mean: the first site, else the first served."""
        for site in self.sites:
            if site in self.served:
                return self.served[site].runtime
        return None

    def __getattr__(self, name: str) -> Any:
        # what a single-site caller (the HTTP layer) asks of "the runtime"
        if name.startswith("_") or name in ("served", "sites", "site_runtime"):
            raise AttributeError(name)
        rt = self.primary()
        if rt is None:
            raise AttributeError(f"{name}: no site served by this process")
        return getattr(rt, name)

    def extra_routers(self) -> list[Any]:
        return []

    def states(self) -> dict[str, str]:
        return {site: OWNED if site in self.served else ELSEWHERE for site in self.sites}

    def site_runtime(self, site: str) -> Runtime | None:
        served = self.served.get(site)
        return served.runtime if served is not None else None

    def health(self) -> dict[str, Any]:
        per_site = {s: v.runtime.health() for s, v in self.served.items()}
        ok = all(h["status"] == "ok" for h in per_site.values())
        return {
            "status": "ok" if ok else "degraded",
            "instance": self.instance,
            "sites": self.states(),
            "health": per_site,
            "fenced": self.fenced_total,
        }

    async def run(self, stop: asyncio.Event) -> None:
        http = None
        async with asyncio.TaskGroup() as tg:
            if self.http_app is not None:
                http = http_server(self.http_app(self), self.settings)
                tg.create_task(http.serve(), name="http")
            leases = None
            if self.coordinator is not None:
                leases = tg.create_task(self.coordinator.run(stop), name="leases")
            else:
                for site in self.sites:
                    await self.start_site(site)
            await stop.wait()
            if leases is not None:
                await leases  # the lease loop stops its sites and releases them
            for site in list(self.served):
                await self.stop_site(site)
            if http is not None:
                http.should_exit = True
