"""Photos of one site: uploaded, checked, kept outside the database, served to those allowed.

Life of a photo: :meth:`Photos.upload` checks the bytes by content
(``gateway.photos.images``: 413/415 with the reason), strips every piece of metadata,
makes a thumbnail, puts both in the :class:`~gateway.photos.store.PhotoStore` under a
fresh unguessable id (``secrets.token_urlsafe``: 192 random bits) and records who
uploaded it (``photos`` table). It then belongs to no round or ticket: only its uploader
sees it. :meth:`Photos.claim` attaches it, in the caller's transaction, to the round whose
answer names it (``gateway.rounds``) or to a ticket (the request page): a photo is
attached once, by its uploader. Reading (:meth:`Photos.read`) is judged by
:func:`may_read`; a photo of another site is not found (404), whoever asks.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from gateway.clock import Clock, iso_ms
from gateway.errors import Forbidden, Invalid, NotFound
from gateway.people.principal import Principal, may_move_ticket
from gateway.photos.images import normalize
from gateway.photos.store import PhotoStore
from gateway.store.models_rounds import photos as _p
from rules.vocab import Role

#: who may upload a photo (a viewer or an integrator may not)
UPLOADERS = (Role.TECHNICIAN, Role.LEAD, Role.OPERATOR, Role.MANAGER, Role.ADMIN)
#: who sees every photo of the site
SEE_ALL = (Role.ADMIN, Role.OPERATOR, Role.MANAGER)
THUMB = ".thumb"


@dataclass(frozen=True, slots=True)
class PhotoMeta:
    id: str
    site: str
    uploaded_by: str
    uploaded_at_ms: int
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    round_id: int | None
    ticket_id: int | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "content_type": self.content_type,
            "bytes": self.bytes,
            "width": self.width,
            "height": self.height,
            "uploaded_by": self.uploaded_by,
            "uploaded_at": iso_ms(self.uploaded_at_ms),
            "round_id": self.round_id,
            "ticket_id": self.ticket_id,
        }


def may_read(
    who: Principal,
    meta: PhotoMeta,
    *,
    round_crew: str | None = None,
    ticket_crew: str | None = None,
    ticket_assignee: str | None = None,
) -> bool:
    """Operators, managers and admins see every photo; its uploader sees it; a round's
    photo is seen by its crew (technicians and leads), a ticket's by those who may move
    the ticket. Viewers and integrators see none."""
    if who.has(*SEE_ALL) or who.user == meta.uploaded_by:
        return True
    if meta.round_id is not None:
        return (
            who.has(Role.TECHNICIAN, Role.LEAD)
            and who.crew is not None
            and (who.crew == round_crew)
        )
    if meta.ticket_id is not None:
        return may_move_ticket(who, ticket_crew, ticket_assignee)
    return False


class Photos:
    def __init__(self, engine: Engine, store: PhotoStore, clock: Clock, site_id: str) -> None:
        self._engine = engine
        self.store = store
        self._clock = clock
        self.site_id = site_id

    def upload(self, data: bytes, who: Principal | str) -> dict[str, Any]:
        """Keep a photo (see the module doc); 413/415 for what is not kept, 403 for a
        role that may not upload."""
        user = who if isinstance(who, str) else who.user
        if isinstance(who, Principal) and not who.has(*UPLOADERS):
            raise Forbidden(f"{user} may not upload photos")
        img = normalize(data)
        pid = secrets.token_urlsafe(24)
        self.store.put(pid, img.data, img.content_type)
        self.store.put(pid + THUMB, img.thumb, "image/jpeg")
        meta = PhotoMeta(
            id=pid,
            site=self.site_id,
            uploaded_by=user,
            uploaded_at_ms=self._clock.now_ms(),
            content_type=img.content_type,
            bytes=len(img.data),
            width=img.width,
            height=img.height,
            sha256=hashlib.sha256(img.data).hexdigest(),
            round_id=None,
            ticket_id=None,
        )
        try:
            with self._engine.begin() as conn:
                row = meta.public()
                conn.execute(sa.insert(_p).values(asdict(meta)))
        except BaseException:
            self.store.delete(pid)
            self.store.delete(pid + THUMB)
            raise
        return row

    def get(self, photo_id: str, conn: Connection | None = None) -> PhotoMeta | None:
        """The photo of this site with ``photo_id``, or ``None`` (another site's too)."""
        q = sa.select(_p).where(_p.c.id == photo_id, _p.c.site == self.site_id)
        if conn is not None:
            row = conn.execute(q).mappings().first()
        else:
            with self._engine.connect() as c:
                row = c.execute(q).mappings().first()
        return None if row is None else PhotoMeta(**dict(row))

    def content(self, meta: PhotoMeta, thumb: bool = False) -> tuple[bytes, str]:
        data = self.store.get(meta.id + (THUMB if thumb else ""))
        if data is None:
            raise NotFound(f"photo {meta.id} is no longer stored")
        return data, "image/jpeg" if thumb else meta.content_type

    def claim(
        self,
        conn: Connection,
        ids: Iterable[str],
        user: str,
        *,
        round_id: int | None = None,
        ticket_id: int | None = None,
    ) -> list[str]:
        """Attach the photos ``ids`` (uploaded by ``user``) to a round or a ticket, in the
        caller's transaction; a photo already attached to it stays. :class:`Invalid`
        for an unknown photo, another person's, or one attached elsewhere."""
        out: list[str] = []
        for pid in dict.fromkeys(ids):
            meta = self.get(pid, conn)
            if meta is None:
                raise Invalid(f"no photo {pid!r} (upload it first: POST /api/v1/photos)")
            if (meta.round_id, meta.ticket_id) == (round_id, ticket_id):
                out.append(pid)
                continue
            if meta.round_id is not None or meta.ticket_id is not None:
                raise Invalid(f"photo {pid} belongs to another round or ticket")
            if meta.uploaded_by != user:
                raise Invalid(f"photo {pid} was uploaded by someone else")
            conn.execute(
                sa.update(_p).where(_p.c.id == pid).values(round_id=round_id, ticket_id=ticket_id)
            )
            out.append(pid)
        return out
