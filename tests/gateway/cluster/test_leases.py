"""Leases and the lease loop on SQLite (the database clock; short lease times)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.cluster import Coordinator, Lease, LeaseStore
from gateway.cluster.urls import cluster_schema, site_db_url, site_schema
from gateway.store import make_engine, migrate


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = make_engine(f"sqlite:///{tmp_path}/state.db")
    migrate(eng)
    return eng


def test_acquire_renew_release_takeover(engine: sa.Engine) -> None:
    a = LeaseStore(engine, "a", ttl_s=0.4)
    b = LeaseStore(engine, "b", ttl_s=0.4)
    won = a.acquire("sc01")
    assert won is not None and won.epoch == 1 and won.owner == "a"
    assert b.acquire("sc01") is None  # held
    assert a.acquire("sc01") is None  # no silent re-take: renew is how an owner keeps it
    renewed, lost = a.renew({"sc01": 1})
    assert lost == [] and renewed["sc01"].epoch == 1
    time.sleep(0.5)  # a paused: the lease runs out
    assert b.table()["sc01"].owner == ""
    taken = b.acquire("sc01")
    assert taken is not None and taken.epoch == 2
    renewed, lost = a.renew({"sc01": 1})  # a wakes up: the site is gone
    assert renewed == {} and lost == ["sc01"]
    assert b.release("sc01", 2)
    assert not a.release("sc01", 2)  # not a's to release
    again = a.acquire("sc01")  # released: free at once, no waiting for the expiry
    assert again is not None and again.epoch == 3


def test_members_and_fair_share(engine: sa.Engine) -> None:
    a = LeaseStore(engine, "a", ttl_s=0.4)
    b = LeaseStore(engine, "b", ttl_s=0.4)
    assert a.live_members() == 1
    a.heartbeat()
    b.heartbeat()
    assert a.live_members() == 2
    time.sleep(0.5)
    a.heartbeat()
    assert a.live_members() == 1  # b stopped beating
    b.leave()


def _coordinator(store: LeaseStore, sites: list[str], serving: set[str]) -> Coordinator:
    async def won(lease: Lease) -> None:
        serving.add(lease.site)

    async def lost(site: str) -> None:
        serving.discard(site)

    return Coordinator(store, sites, on_won=won, on_lost=lost, renew_every_s=0.05)


def test_coordinators_spread_take_over_and_hand_on(engine: sa.Engine) -> None:
    sites = [f"s{i:02d}" for i in range(7)]
    served: dict[str, set[str]] = {"a": set(), "b": set(), "c": set()}
    cs = {k: _coordinator(LeaseStore(engine, k, ttl_s=0.5), sites, served[k]) for k in "abc"}

    async def scenario() -> None:
        for k in "abc":
            await asyncio.to_thread(cs[k].store.heartbeat)
        for _ in range(3):
            for k in "abc":
                await cs[k].step()
        assert max(len(v) for v in served.values()) == 3  # ceil(7/3): nobody above it
        assert set().union(*served.values()) == set(sites)
        # c dies (no more steps): a and b take its sites once its leases run out
        dead = set(served["c"])
        t0 = time.monotonic()
        while not dead <= served["a"] | served["b"]:
            for k in "ab":
                await cs[k].step()
            await asyncio.sleep(0.05)
            assert time.monotonic() - t0 < 3
        assert sorted(len(served[k]) for k in "ab") == [3, 4]
        # a new process d joins: the others hand sites on until everyone has its share
        served["d"] = set()
        cs["d"] = _coordinator(LeaseStore(engine, "d", ttl_s=0.5), sites, served["d"])
        for _ in range(12):
            for k in "abd":
                await cs[k].step()
            await asyncio.sleep(0.02)
        assert max(len(served[k]) for k in "abd") == 3
        assert min(len(served[k]) for k in "abd") >= 1
        assert sum(len(served[k]) for k in "abd") == 7
        for k in "abd":
            await cs[k].leave()
        assert all(not lease.owner for lease in cs["a"].store.table().values())

    asyncio.run(scenario())


def test_site_urls() -> None:
    pg = "postgresql+psycopg://u@h:5432/db?options=-csearch_path%3Dfoo"
    assert cluster_schema(pg) == "foo"
    assert site_schema(pg, "sc01") == "foo_sc01"
    url = site_db_url(pg, "sc01")
    assert "search_path%3Dfoo_sc01" in url and "idle_in_transaction_session_timeout" in url
    assert cluster_schema("postgresql+psycopg://u@h/db") == "public"
    assert site_db_url("sqlite:////tmp/x/state.db", "sc02") == "sqlite:////tmp/x/state-sc02.db"
