"""Engine setup and schema migrations of the state store.

``make_engine(url)`` returns an engine configured for the gateway:

- SQLite (the default, ``sqlite:///./sitewatch.db``): WAL journal (readers never block the
  writer), ``busy_timeout`` so a second writer waits instead of failing, foreign keys on,
  ``synchronous=NORMAL``, WAL checkpoints on a thread of their own, never in a commit
  (:mod:`gateway.store.checkpoint`). Every transaction opened on the engine starts with
  ``BEGIN IMMEDIATE``: it takes the database's single write lock up front, so writers are
  serialised and a read-then-write transaction can never fail half-way with
  "database is locked". Pure readers use :func:`reader` (``BEGIN`` deferred: no lock).
- PostgreSQL (``postgresql+psycopg://...``): pre-ping on checkout; ``schema=`` puts every
  table (and Alembic's version table) in that schema via ``search_path``.

The schema is created and changed only by the Alembic migrations shipped in
``gateway/store/migrations``; :func:`migrate` runs them to head programmatically (no
``alembic.ini`` needed). A later migration (e.g. tickets) is added with::

    from alembic import command
    from gateway.store.db import alembic_config
    command.revision(alembic_config(url="sqlite:///./dev.db"), "tickets")
"""

from __future__ import annotations

import logging
import subprocess
import sys
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from gateway.store import checkpoint

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: each SQLite connection's page cache (SQLite's default is 2,000 KiB a connection, filled
#: by the rule engine's saves of device rows: ~1.5 MB more RSS by 10,000 devices); the
#: pages not kept come from the OS's file cache (bench.energy_10k: no change beyond noise)
SQLITE_CACHE_KIB = 512
#: a write-ahead log is cut back to this when it restarts (it grows past it between two
#: checkpoints), so that its size tells the checkpoint thread whether it grew since
WAL_SIZE_LIMIT = checkpoint.WAL_BYTES_MAX
_BEGIN_OPTION = "sqlite_begin"


def make_engine(db_url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``db_url`` (SQLAlchemy URL), set up as described in the module doc."""
    url = make_url(db_url)
    backend = url.get_backend_name()
    if schema is not None and backend != "postgresql":
        raise ValueError(f"schema= is supported for PostgreSQL only, not {backend}")
    if backend == "sqlite":
        return _sqlite_engine(db_url, echo=echo)
    engine = create_engine(url, pool_pre_ping=True, echo=echo)
    if schema is not None:
        _set_search_path(engine, schema)
    return engine


def reader(engine: Engine) -> Engine:
    """The same engine (same pool) for read-only work: on SQLite its transactions begin
    ``DEFERRED`` and so never take the write lock. Elsewhere it is ``engine`` itself."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})


def _sqlite_engine(db_url: str, *, echo: bool) -> Engine:
    url = make_url(db_url)
    database = url.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    connect_args: dict[str, Any] = {
        "check_same_thread": False,
        "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
    }
    if memory:
        # One shared connection, or every connection would see its own empty database.
        engine = create_engine(url, echo=echo, connect_args=connect_args, poolclass=StaticPool)
    else:
        path = Path(database).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args=connect_args)
        weakref.finalize(engine, checkpoint.watch(str(path)))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin
        # (the module's implicit BEGIN is deferred and skips DDL).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                # checkpoints on a thread of their own (gateway.store.checkpoint), never
                # inside a commit on the event loop; a log that grew is cut back
                cur.execute("PRAGMA wal_autocheckpoint=0")
                cur.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def _set_search_path(engine: Engine, schema: str) -> None:
    if not schema.replace("_", "").isalnum():
        raise ValueError(f"{schema!r}: a schema name is letters, digits and _")

    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f'SET search_path TO "{schema}"')
        finally:
            cur.close()
        dbapi_conn.autocommit = autocommit


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic configuration built in code: the migrations shipped with the package,
    run on ``connection`` (preferred) or on a fresh engine for ``url``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of ``engine`` to ``revision`` (default: the newest)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(alembic_config(connection=conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    with reader(engine).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with the package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_store(db_url: str, *, in_process: bool | None = None, **kwargs: Any) -> Engine:
    """``make_engine`` + ``migrate``: what the gateway calls at start.

    The migrations run in a child process (``python -m gateway.store.db URL``) unless the
    database lives in this process (SQLite in memory) or ``in_process`` says so: Alembic
    and Mako then never load into the long-running gateway (about 10 MB it would keep for
    nothing after start).
    """
    engine = make_engine(db_url, **kwargs)
    memory = engine.url.get_backend_name() == "sqlite" and engine.url.database in (
        None,
        "",
        ":memory:",
    )
    if in_process is None:
        in_process = memory or bool(kwargs)
    if in_process:
        migrate(engine)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "gateway.store.db", db_url],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"migrating the state store {engine.url.render_as_string()} failed:\n"
                + (proc.stderr.strip() or proc.stdout.strip())
            )
    log.info("state store %s migrated", engine.url.render_as_string())
    return engine


def _main(argv: list[str]) -> int:
    """``python -m gateway.store.db URL``: upgrade the state store to the newest revision."""
    if len(argv) != 1:
        print("usage: python -m gateway.store.db SQLALCHEMY_URL", file=sys.stderr)
        return 2
    engine = make_engine(argv[0])
    migrate(engine)
    print(current_revision(engine))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
