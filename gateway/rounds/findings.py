"""A checkpoint's answers judged against its checklist, and failed items turned into tickets.

:func:`judge` checks the answers with the checklists' own rules
(``gateway.tickets.checklist``: kinds, limits, required items) and returns the failed
items: a ``check`` answered false, a ``number`` outside its limits. It also asks for the
photos the items want (``photo: on_fail`` for a failed item, ``always`` for any answer):
422 naming the item when one is missing.

:class:`Findings` opens one ticket per failed item (``source`` ``inspection``; the
category the item names, else the crew's: ``cleaning`` and ``security`` by name, any other
crew a ``repair`` for that crew; the item's priority, else the template's), linked to the
round, zone, asset and photos (the ``round_findings`` row, written in the ticket's own
transaction, and the ticket's journal). The same failure at the same checkpoint of the
same template while its ticket is open adds to that ticket (count, rounds, photos, a
journal entry ``inspection_repeat``) instead of opening another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gateway.errors import Invalid
from gateway.people.principal import Principal
from gateway.rounds.model import SOURCE_INSPECTION, Round
from gateway.rounds.store import RoundStore
from gateway.store import journal as jr
from gateway.store.models import tickets as _tickets
from gateway.tickets.checklist import check_answers, unanswered
from rules.site import Site
from rules.vocab import TicketCategory

CREW_CATEGORY: Mapping[str, str] = {
    "cleaning": TicketCategory.CLEANING,
    "security": TicketCategory.SECURITY,
}


class Opener(Protocol):
    def create(
        self,
        *,
        title: str,
        category: str,
        priority: str,
        user: str,
        device: str | None = None,
        description: str | None = None,
        audit: Any = None,
        **origin: Any,
    ) -> dict[str, Any]: ...


def judge(
    cp: Mapping[str, Any], answers: Mapping[str, Any], photos: Sequence[str]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The answers as stored and the failed items, in checklist order (see the module doc)."""
    items: list[dict[str, Any]] = list(cp["items"])
    clean, outside = check_answers(items, answers)
    missing = unanswered(items, clean)
    if missing:
        raise Invalid(f"checkpoint {cp['id']}: unanswered: {', '.join(missing)}")
    out_ids = {str(i["id"]) for i in outside}
    failed = [
        i
        for i in items
        if str(i["id"]) in out_ids
        or (i.get("kind", "check") == "check" and clean.get(i["id"]) is False)
    ]
    if not photos:
        for i in items:
            if i.get("photo") == "always" and i["id"] in clean:
                raise Invalid(f"checkpoint {cp['id']}: item {i['id']} asks for a photo")
        for i in failed:
            if i.get("photo", "on_fail") == "on_fail":
                raise Invalid(f"checkpoint {cp['id']}: item {i['id']} failed: add a photo")
    return clean, failed


class Findings:
    def __init__(self, tickets: Opener, site: Site, store: RoundStore) -> None:
        self.tickets = tickets
        self.site = site
        self.store = store

    def repeat(
        self,
        conn: Connection,
        r: Round,
        cp: Mapping[str, Any],
        item: Mapping[str, Any],
        photos: list[str],
        user: str,
        now: int,
    ) -> bool:
        """Add to the open ticket of this failure, in ``conn``'s transaction; ``False``
        when there is none (a new ticket is to be opened)."""
        f = self.store.open_finding(conn, r.template_id, cp["id"], item["id"])
        if f is None:
            return False
        if r.id in f["rounds"]:
            return True  # this round's failure is on it already (an answer corrected)
        self.store.repeat_finding(conn, f, r.id, photos, now)
        status = conn.execute(
            sa.select(_tickets.c.status).where(_tickets.c.id == f["ticket_id"])
        ).scalar()
        jr.append(
            conn,
            [
                jr.entry(
                    at_ms=now,
                    actor=user,
                    action="inspection_repeat",
                    reason=f"failed again in round {r.id} ({r.name})",
                    ticket_id=f["ticket_id"],
                    state=status,
                    detail={
                        "round_id": r.id,
                        "checkpoint": cp["id"],
                        "item": item["id"],
                        "photos": photos,
                        "count": int(f["count"]) + 1,
                    },
                )
            ],
        )
        return True

    def open(
        self,
        r: Round,
        cp: Mapping[str, Any],
        item: Mapping[str, Any],
        value: Any,
        photos: list[str],
        who: Principal | None,
        user: str,
    ) -> dict[str, Any]:
        """One new ticket for a failed item (see the module doc)."""
        category = item.get("category") or CREW_CATEGORY.get(r.crew, TicketCategory.REPAIR)
        asset = cp.get("asset")
        device = asset if asset and self.site.device(asset) is not None else None
        place = cp.get("name") or cp["zone"]
        lines = [f"{r.name} · {place}", f"{item['text']}: {value!r}"]
        if item.get("standard"):
            lines.append(f"Standard 标准: {item['standard']}")
        if photos:
            lines.append(f"Photos 照片: {len(photos)}")

        def then(ttx: Any, t: Any) -> None:
            t.asset, t.device = asset, device
            ttx.conn.execute(
                sa.update(_tickets).where(_tickets.c.id == t.id).values(asset=asset, device=device)
            )
            now = ttx.now
            self.store.add_finding(
                ttx.conn,
                {
                    "round_id": r.id,
                    "template_id": r.template_id,
                    "checkpoint": cp["id"],
                    "item": item["id"],
                    "zone": cp["zone"],
                    "asset": asset,
                    "ticket_id": t.id,
                    "rounds": [r.id],
                    "photos": photos,
                    "count": 1,
                    "first_at_ms": now,
                    "last_at_ms": now,
                },
            )
            ttx.log(
                t,
                "inspection_finding",
                actor=user,
                detail={
                    "round_id": r.id,
                    "template_id": r.template_id,
                    "checkpoint": cp["id"],
                    "item": item["id"],
                    "value": jr.json_safe(value),
                    "photos": photos,
                },
            )

        return self.tickets.create(
            title=f"{item['text']} · {place}"[:200],
            category=str(category),
            priority=str(item.get("priority") or r.priority),
            user=user,
            description="\n".join(lines),
            audit=None if who is None else who.audit(),
            source=SOURCE_INSPECTION,
            channel=None,
            zone=cp["zone"],
            repair_crew=r.crew if category == TicketCategory.REPAIR else None,
            round_id=r.id,
            then=then,
        )
