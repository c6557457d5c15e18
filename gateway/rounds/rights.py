"""Who may do a round: the members (technicians and leads) of its crew, and admins.

Every role reads rounds (contract section 4); doing one (start, answers, finish,
abandon) is for the round's crew (:func:`check_crew`, 403 otherwise). A shared role
token names no crew, so it does rounds only as ``admin``. Templates are made by managers
and admins.
"""

from __future__ import annotations

from gateway.errors import Forbidden
from gateway.people.principal import Principal
from rules.vocab import Role


def may_do(who: Principal, crew: str) -> bool:
    if who.has(Role.ADMIN):
        return True
    return who.has(Role.TECHNICIAN, Role.LEAD) and who.crew is not None and who.crew == crew


def check_crew(who: Principal, round_id: int, crew: str) -> None:
    if not may_do(who, crew):
        raise Forbidden(f"{who.user} may not do round {round_id}: it is crew {crew!r}'s")


def check_manager(who: Principal) -> None:
    if not who.has(Role.MANAGER, Role.ADMIN):
        raise Forbidden(f"{who.user} may not make round templates (managers and admins do)")
