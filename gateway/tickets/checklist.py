"""Checklists on tickets: the items a plan's ticket carries and the technician's answers.

Life of a checklist: a preventive ticket is opened with its plan's items
(``Ticket.checklist``: ``{"id", "text", "kind", "min"?, "max"?, "required"}``), no answers;
the technician answers items, in one call or several (:func:`check_answers` checks each
value against its item's kind and returns those outside their limits, which open a
corrective ticket linked to the first); the ticket cannot be ``resolved`` while a
required item is unanswered (:class:`ChecklistIncomplete`, HTTP 409, naming them).

Kinds: ``check`` (true/false), ``number`` (finite, with optional ``min``/``max``),
``text`` (a non-empty string), ``photo`` (a photo id, a non-empty string).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.errors import Conflict, Invalid

Item = Mapping[str, Any]


class ChecklistIncomplete(Conflict):
    """Resolving a ticket whose required checklist items are not all answered (409)."""

    def __init__(self, ticket_id: int, missing: Sequence[str]) -> None:
        self.ticket_id = ticket_id
        self.missing = list(missing)
        super().__init__(
            f"ticket {ticket_id}: required checklist items unanswered: {', '.join(missing)}"
        )

    def detail(self) -> dict[str, Any]:
        return {"message": str(self), "ticket": self.ticket_id, "unanswered": self.missing}


def unanswered(checklist: Sequence[Item] | None, answers: Mapping[str, Any] | None) -> list[str]:
    """The ids of the required items without an answer, in checklist order."""
    got = answers or {}
    return [
        str(i["id"])
        for i in checklist or ()
        if i.get("required", True) and got.get(str(i["id"])) is None
    ]


def out_of_limits(item: Item, value: Any) -> bool:
    if item.get("kind") != "number" or value is None:
        return False
    lo, hi = item.get("min"), item.get("max")
    return (lo is not None and value < lo) or (hi is not None and value > hi)


def _value(item: Item, value: Any) -> Any:
    kind = item.get("kind", "check")
    iid = item["id"]
    if kind == "check":
        if not isinstance(value, bool):
            raise Invalid(f"checklist item {iid} (check) is answered true or false")
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"checklist item {iid} (number) is answered with a number")
        if not math.isfinite(value):
            raise Invalid(f"checklist item {iid}: {value} is not a finite number")
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"checklist item {iid} ({kind}) is answered with non-empty text")
    if len(value) > 2000:
        raise Invalid(f"checklist item {iid}: at most 2000 characters")
    return value.strip()


def check_answers(
    checklist: Sequence[Item] | None, answers: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Item]]:
    """The answers as stored, and the items they put outside their limits.
    :class:`Invalid` for an unknown item or a value of the wrong kind."""
    if not checklist:
        raise Invalid("this ticket has no checklist")
    if not answers:
        raise Invalid("answers is a non-empty mapping of item id to value")
    items = {str(i["id"]): i for i in checklist}
    clean: dict[str, Any] = {}
    outside: list[Item] = []
    for iid, value in answers.items():
        item = items.get(iid)
        if item is None:
            raise Invalid(f"no checklist item {iid!r} (items: {', '.join(items)})")
        clean[iid] = _value(item, value)
        if out_of_limits(item, clean[iid]):
            outside.append(item)
    return clean, outside


def check_costs(labour_min: float | None, parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One cost entry: labour minutes and parts (``name``, ``qty``, ``unit_cost``)."""
    if labour_min is not None and (not math.isfinite(labour_min) or labour_min < 0):
        raise Invalid("labour_min is a non-negative number")
    out: list[dict[str, Any]] = []
    for p in parts:
        name, qty, unit = p.get("name"), p.get("qty"), p.get("unit_cost")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("a part has a name")
        for what, v in (("qty", qty), ("unit_cost", unit)):
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise Invalid(f"part {name}: {what} is a non-negative number")
        out.append({"name": name.strip(), "qty": float(qty), "unit_cost": float(unit)})  # type: ignore[arg-type]
    if labour_min is None and not out:
        raise Invalid("a cost entry has labour_min or parts")
    return {"labour_min": float(labour_min or 0.0), "parts": out}
