"""Fencing on a real PostgreSQL: a process that lost its lease writes nothing.

A cluster schema (the leases) and a site schema (the site's state) of their own per run,
dropped at the end; skipped when the server (``SITEWATCH_TEST_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) cannot be reached.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from gateway.clock import ManualClock
from gateway.cluster import Fence, Fenced, LeaseStore, install_fence
from gateway.cluster.urls import site_db_url, site_schema
from gateway.store import make_engine, migrate
from gateway.store.models import meta
from gateway.store.work import UnitOfWork
from tests.pg import PG_URL, private_schemas


@pytest.fixture
def urls() -> Iterator[tuple[str, str]]:
    base = f"sw_fence_{uuid.uuid4().hex[:10]}"
    cluster_url = f"{PG_URL}?options=-csearch_path%3D{base}"
    with private_schemas(base, site_schema(cluster_url, "sc01")):
        yield cluster_url, site_db_url(cluster_url, "sc01")


def _bump(uow: UnitOfWork) -> None:
    uow.run(lambda tx: tx.conn.execute(sa.update(meta).values(value=meta.c.value + 1)))


def _value(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(meta.c.value))).scalar_one())


def test_stale_epoch_refused(urls: tuple[str, str]) -> None:
    cluster_url, site_url = urls
    cluster = make_engine(cluster_url)
    migrate(cluster)
    a = LeaseStore(cluster, "a", ttl_s=0.5)
    b = LeaseStore(cluster, "b", ttl_s=0.5)
    lease = a.acquire("sc01")
    assert lease is not None
    schema = cluster_url.rsplit("%3D", 1)[1]
    site_a = make_engine(site_url)
    migrate(site_a)
    fence = install_fence(site_a, Fence("sc01", "a", lease.epoch, schema=schema))
    uow = UnitOfWork(site_a, ManualClock(0), name="alarms")
    before = _value(site_a)
    _bump(uow)  # a holds the lease: written
    assert _value(site_a) == before + 1
    time.sleep(0.6)  # a pauses past its lease; b takes over
    taken = b.acquire("sc01")
    assert taken is not None and taken.epoch == lease.epoch + 1
    with pytest.raises(Fenced):
        _bump(uow)  # a wakes up and tries to write under the old epoch
    assert fence.refused == 1
    site_b = make_engine(site_url)
    install_fence(site_b, Fence("sc01", "b", taken.epoch, schema=schema))
    assert _value(site_b) == before + 1  # nothing of a's landed
    _bump(UnitOfWork(site_b, ManualClock(0), name="alarms"))
    assert _value(site_b) == before + 2
    for e in (site_a, site_b, cluster):
        e.dispose()


def test_takeover_waits_for_the_writer_in_flight(urls: tuple[str, str]) -> None:
    """A takeover cannot slip between the check and the commit of the old owner's write:
    the check's row lock makes it wait; and a writer stopped inside its transaction is
    ended by the server (idle in transaction), so the takeover is not held up for long."""
    cluster_url, site_url = urls
    schema = cluster_url.rsplit("%3D", 1)[1]
    cluster = make_engine(cluster_url)
    migrate(cluster)
    a = LeaseStore(cluster, "a", ttl_s=0.3)
    b = LeaseStore(cluster, "b", ttl_s=0.3)
    lease = a.acquire("sc01")
    assert lease is not None
    site_a = make_engine(site_url)
    migrate(site_a)
    install_fence(site_a, Fence("sc01", "a", lease.epoch, schema=schema))
    inside = threading.Event()
    release = threading.Event()
    outcome: list[object] = []

    def writer() -> None:
        try:
            with site_a.begin() as conn:  # the fence's check holds the lease row
                conn.execute(sa.update(meta).values(value=meta.c.value + 1))
                inside.set()
                release.wait(10)  # a process stopped mid-transaction
            outcome.append("committed")
        except DBAPIError as exc:
            outcome.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    assert inside.wait(5)
    time.sleep(0.4)  # the lease has run out, the writer still holds the row
    t0 = time.monotonic()
    taken = None
    while taken is None and time.monotonic() - t0 < 15:
        taken = b.acquire("sc01")  # waits at most lock_timeout per try
    waited = time.monotonic() - t0
    release.set()
    t.join(10)
    assert taken is not None and taken.epoch == lease.epoch + 1
    assert waited > 2  # it did wait for the writer's lock...
    assert waited < 10  # ...until the server ended the idle transaction
    assert outcome and isinstance(outcome[0], DBAPIError)  # the stale write is gone
    for e in (site_a, cluster):
        e.dispose()
