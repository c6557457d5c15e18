"""The head of the journal's hash chain (migration 0009).

Declared on the state store's one :class:`~gateway.store.models.Base` and imported at the
end of ``gateway.store.models``. One row (``key = 'journal'``): the hash of the newest
journal entry and how many entries the chain holds. :func:`gateway.store.journal.append`
locks it (``SELECT ... FOR UPDATE``; SQLite's write lock is taken by ``BEGIN
IMMEDIATE``), chains the new entries to it and moves it, in the writer's transaction, so
two services on one database never fork the chain.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base


class JournalHeadRow(Base):
    __tablename__ = "journal_head"

    key: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    hash: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    entries: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")


journal_head: sa.Table = JournalHeadRow.__table__  # type: ignore[assignment]
