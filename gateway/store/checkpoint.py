"""WAL checkpoints of the SQLite state store, on a thread of their own, off the event loop.

SQLite's automatic checkpoint runs inside the commit that takes the write-ahead log past
1,000 pages: that commit copies the logged pages into the database file and fsyncs it, in
whatever thread committed. The state store commits on the event loop (alarms, tickets,
the outbox), and while telemetry keeps the disk busy such a commit took up to a second
(``python -m bench.latency``, overload phase: one loop turn of 1,062 ms, 38 ms of it CPU,
in a ticket commit; fire alarms p99 142 ms). So connections to a database file turn the
automatic checkpoint off (``PRAGMA wal_autocheckpoint=0``, :mod:`gateway.store.db`) and
one daemon thread checkpoints instead: every :data:`CHECK_S`, each watched database whose
log has grown past :data:`WAL_BYTES_MAX` gets a ``PASSIVE`` checkpoint on the thread's own
connection (``gateway.store.db`` sets ``journal_size_limit`` to the same size, so a log
restarted after a checkpoint is cut back to it and its size tells whether it grew again).
A passive checkpoint waits for no reader or writer (what a reader still needs
stays in the log for the next round), and with ``synchronous=NORMAL`` a commit in WAL mode
writes the log without an fsync: the loop's commits no longer wait for the disk.

Lifecycle: :func:`watch` (called by ``make_engine`` for a database file, before the file
exists) starts the thread on first use and returns a function that ends the watch
(``make_engine`` calls it when the engine is garbage-collected). The thread closes the
connections of ended watches and of databases whose file is gone; it sleeps while
nothing is watched. When the last connection to a database closes, SQLite checkpoints it anyway.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: how often the thread looks at the logs' sizes (a stat() each)
CHECK_S = 0.5
#: a log past this is checkpointed: SQLite's own threshold (1,000 pages of 4 KiB)
WAL_BYTES_MAX = 4 * 1024 * 1024


class Checkpointer:
    """Checkpoints the watched databases' logs (see the module doc)."""

    def __init__(
        self, check_s: float = CHECK_S, wal_bytes_max: int = WAL_BYTES_MAX, *, thread: bool = True
    ) -> None:
        """``thread=False``: no thread; the owner calls :meth:`run_once` (tests)."""
        self.check_s = check_s
        self.use_thread = thread
        self.wal_bytes_max = wal_bytes_max
        self.checkpoints = 0  # passive checkpoints run (for tests and curiosity)
        self._lock = threading.Lock()
        self._watched: dict[str, int] = {}  # path -> engines watching it
        self._conns: dict[str, sqlite3.Connection] = {}  # the thread's own
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, path: str) -> Callable[[], None]:
        """Checkpoint ``path``'s log from now on; the returned function ends the watch."""
        path = os.path.abspath(path)
        with self._lock:
            self._watched[path] = self._watched.get(path, 0) + 1
            if self._thread is None and self.use_thread:
                self._thread = threading.Thread(
                    target=self._run, name="sitewatch-checkpoint", daemon=True
                )
                self._thread.start()
        self._wake.set()
        done = [False]

        def unwatch() -> None:
            with self._lock:
                if done[0]:
                    return
                done[0] = True
                n = self._watched.get(path, 0) - 1
                if n > 0:
                    self._watched[path] = n
                else:
                    self._watched.pop(path, None)

        return unwatch

    def run_once(self) -> None:
        """One round: checkpoint every watched log past the size (the thread's step)."""
        with self._lock:
            watched = list(self._watched)
            ended = [p for p in self._conns if p not in self._watched]
        for path in ended:
            self._close(path)
        for path in watched:
            try:
                size = os.stat(path + "-wal").st_size
            except OSError:
                # no log yet (the file is made by the engine's first connection) or the
                # database is gone (a test's tmp dir): still watched, until unwatched
                if path in self._conns and not os.path.exists(path):
                    self._close(path)
                continue
            if size > self.wal_bytes_max:
                self._checkpoint(path)

    def _checkpoint(self, path: str) -> None:
        try:
            conn = self._conns.get(path)
            if conn is None:
                conn = self._conns[path] = sqlite3.connect(
                    path, timeout=0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA cache_size=-64")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # locked, I/O error: the next round tries again
            log.warning("WAL checkpoint of %s failed: %s", path, exc)
            self._close(path)

    def _close(self, path: str) -> None:
        conn = self._conns.pop(path, None)
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def _run(self) -> None:
        while True:
            with self._lock:
                idle = not self._watched and not self._conns
            if idle:
                self._wake.wait()
                self._wake.clear()
                continue
            self._wake.wait(self.check_s)
            self._wake.clear()
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the thread must outlive one bad round
                log.exception("WAL checkpoint round failed")


CHECKPOINTER = Checkpointer()


def watch(path: str) -> Callable[[], None]:
    """:meth:`Checkpointer.watch` on the process's checkpointer."""
    return CHECKPOINTER.watch(path)
