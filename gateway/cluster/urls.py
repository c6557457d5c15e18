"""Where each site's state lives when one process serves several sites.

- PostgreSQL: the cluster's tables (``leases``, ``cluster_members``) live in the schema of
  ``SITEWATCH_DB_URL`` (its ``search_path`` option, else ``public``): the *cluster schema*.
  Each site's state (alarms, tickets, rule state, ...) lives in a schema of its own,
  ``<cluster schema>_<site>`` (created on first use, migrated like any state store), so the
  sites' ids, sequences and unique indexes never meet. The site's URL is the same server
  with that ``search_path`` and an ``idle_in_transaction_session_timeout`` (a paused
  process cannot hold the fencing lock for long: ``gateway.cluster.fence``).
- SQLite (one process, no cluster): a file per site beside the configured one,
  ``state.db`` -> ``state-<site>.db``; the embedded telemetry file likewise.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url

#: a session idle inside a transaction this long is ended by PostgreSQL (ms)
IDLE_IN_TX_MS = 4000
_SEARCH_PATH = re.compile(r"-c\s*search_path=([A-Za-z0-9_]+)")


def is_postgres(db_url: str) -> bool:
    return make_url(db_url).get_backend_name() == "postgresql"


def cluster_schema(db_url: str) -> str:
    """The schema holding the leases: the URL's ``search_path`` option, else ``public``."""
    options = str(make_url(db_url).query.get("options", ""))
    m = _SEARCH_PATH.search(options)
    return m.group(1) if m else "public"


def site_schema(db_url: str, site: str) -> str:
    return f"{cluster_schema(db_url)}_{site}".lower()


def _with_options(url: URL, options: str) -> URL:
    old = str(url.query.get("options", ""))
    kept = " ".join(p for p in old.split() if not _SEARCH_PATH.fullmatch(p))
    return url.update_query_dict({"options": f"{kept} {options}".strip()})


def site_db_url(db_url: str, site: str) -> str:
    """The state store URL of ``site`` (see the module doc)."""
    url = make_url(db_url)
    if url.get_backend_name() == "postgresql":
        options = (
            f"-csearch_path={site_schema(db_url, site)} "
            f"-cidle_in_transaction_session_timeout={IDLE_IN_TX_MS}"
        )
        return _with_options(url, options).render_as_string(hide_password=False)
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return db_url
    p = Path(database)
    return url.set(database=str(p.with_name(f"{p.stem}-{site}{p.suffix}"))).render_as_string(
        hide_password=False
    )


def site_file_path(path: str, site: str, default: str) -> str:
    """A per-site file beside ``path`` (``default`` when empty): ``x.db`` -> ``x-<site>.db``."""
    p = Path(path or default)
    return str(p.with_name(f"{p.stem}-{site}{p.suffix}"))
