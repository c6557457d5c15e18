"""WAL checkpoints of the state store: never in a commit, on the checkpoint thread."""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from gateway.store import checkpoint
from gateway.store.checkpoint import Checkpointer
from gateway.store.db import make_engine

ROW = "x" * 2000


def fill(engine, n: int) -> None:
    """``n`` transactions of one row each (about a page and a half each in the log)."""
    with engine.begin() as c:
        c.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
    for _ in range(n):
        with engine.begin() as c:
            c.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": ROW})


def wal_size(path: Path) -> int:
    return os.stat(f"{path}-wal").st_size


def test_commits_never_checkpoint_the_thread_does(tmp_path) -> None:
    path = tmp_path / "state.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    own = Checkpointer(thread=False)  # its rounds run by hand here
    own.watch(str(path))
    fill(engine, 2000)  # ~12 MB through the log, 3x SQLite's automatic threshold
    # no commit checkpointed: the log holds every page written since it began
    grown = wal_size(path)
    assert grown > 3 * checkpoint.WAL_BYTES_MAX
    own.run_once()
    assert own.checkpoints == 1
    # all checkpointed: the next writes start the log again from its beginning, and cut
    # it back to the size past which it is checkpointed
    fill(engine, 100)
    assert wal_size(path) == checkpoint.WAL_BYTES_MAX
    raw = sqlite3.connect(path, isolation_level=None)
    busy, logged, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    raw.close()
    assert busy == 0 and 0 < logged < 1000 and done == logged  # only the 100 new
    own.run_once()  # a log under the size is left alone
    assert own.checkpoints == 1
    engine.dispose()


def test_the_process_checkpointer_runs_by_itself_and_forgets_dropped_engines(tmp_path) -> None:
    path = tmp_path / "state.db"
    engine = make_engine(f"sqlite:///{path}")
    key = os.path.abspath(path)
    assert checkpoint.CHECKPOINTER._watched.get(key) == 1
    before = checkpoint.CHECKPOINTER.checkpoints
    fill(engine, 1500)  # past 4 MiB
    deadline = time.monotonic() + 30
    while checkpoint.CHECKPOINTER.checkpoints == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.CHECKPOINTER.checkpoints > before
    engine.dispose()
    del engine
    gc.collect()
    assert key not in checkpoint.CHECKPOINTER._watched


def test_a_watch_outlives_a_database_not_made_yet_and_one_gone(tmp_path) -> None:
    own = Checkpointer(wal_bytes_max=0, thread=False)
    path = tmp_path / "late.db"
    engine = make_engine(f"sqlite:///{path}")
    unwatch = own.watch(str(path))
    own.run_once()  # before the engine's first connection made the file: still watched
    assert not path.exists() and own._watched
    fill(engine, 3)
    own.run_once()
    assert own.checkpoints == 1 and own._conns
    engine.dispose()
    for p in tmp_path.iterdir():
        p.unlink()
    own.run_once()  # gone: its connection closed, the watch kept until ended
    assert not own._conns and own._watched
    unwatch()
    assert not own._watched
