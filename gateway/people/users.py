"""Users: the people who sign in, kept in the state store (``users``, migration 0003).

Lifecycle of a user:

1. **Born** from the site file by :meth:`UserService.sync_from_site` (run at every start,
   idempotent): every crew member, lead and on-call becomes a user whose id is the
   member id, with site role ``technician`` (a crew's lead also ``lead``; the site
   manager, when the site file names a member id, also ``manager``), the member's name
   and crew (the first crew that lists them). The site file is authoritative for these
   three: each sync rewrites them and nothing else (never a password, never the roles an
   admin granted, never ``active``). A user the site file no longer lists keeps the
   user row (the audit trail names it) but loses its site roles and crew. Or **born** by
   :meth:`UserService.add` (``sitewatch users add``, ``POST /api/v1/users``): operators,
   managers, admins, integrators.
2. **Given a password** by :meth:`set_password` (Argon2 hash; every session of the user
   ends). Until then it cannot sign in.
3. **Changed** by :meth:`update` (name, granted roles, crew, active), **disabled** by
   :meth:`disable` (every session ends at once; keeps the row), enabled again by
   ``update(active=True)``.

A user may sign in when *usable*: active and holding at least one role. The first-run
admin: :meth:`ensure_admin` gives ``admin`` a random password when no usable admin with a
password exists and returns it (the CLI prints it once), else ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.clock import Clock
from gateway.errors import Conflict, Invalid, NotFound
from gateway.people.models import User, merge_roles, parse_roles, valid_id
from gateway.people.passwords import Passwords, new_password
from gateway.people.sessions import end_sessions_of
from gateway.site import Site
from gateway.store import models as m
from gateway.store.db import reader
from rules.vocab import Role

log = logging.getLogger(__name__)

ADMIN_ID = "admin"


class _Unset:
    __slots__ = ()


UNSET: Final = _Unset()


@dataclass(slots=True)
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    #: users the site file no longer lists (their site roles and crew were removed)
    unlisted: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.unlisted)


def site_people(site: Site) -> dict[str, tuple[str, str | None, tuple[Role, ...]]]:
    """Every person of the site file: id → (name, crew, site roles)."""
    people: dict[str, tuple[str, str | None, set[Role]]] = {}
    for crew in site.crews:
        for member in crew.members:
            people.setdefault(member.id, (member.name, crew.id, set()))[2].add(Role.TECHNICIAN)
        if crew.lead is not None:
            people[crew.lead][2].add(Role.LEAD)
    if site.site_manager is not None and site.site_manager in people:
        people[site.site_manager][2].add(Role.MANAGER)
    return {uid: (name, crew, merge_roles(roles)) for uid, (name, crew, roles) in people.items()}


class UserService:
    def __init__(self, db: Engine, clock: Clock, passwords: Passwords | None = None) -> None:
        self._db = db
        self._clock = clock
        self.passwords = passwords or Passwords()

    # ------------------------------------------------------------------ reading
    def find(self, user_id: str) -> User | None:
        if not isinstance(user_id, str) or not valid_id(user_id):
            return None
        with reader(self._db).connect() as conn:
            row = conn.execute(sa.select(m.users).where(m.users.c.id == user_id)).mappings().first()
        return None if row is None else User.from_row(row)

    def get(self, user_id: str) -> User:
        user = self.find(user_id)
        if user is None:
            raise NotFound(f"no user {user_id!r}")
        return user

    def list(
        self,
        *,
        role: Role | str | None = None,
        crew: str | None = None,
        active: bool | None = None,
    ) -> list[User]:
        q = sa.select(m.users).order_by(m.users.c.id)
        if crew is not None:
            q = q.where(m.users.c.crew == crew)
        if active is not None:
            q = q.where(m.users.c.active == active)
        with reader(self._db).connect() as conn:
            users = [User.from_row(r) for r in conn.execute(q).mappings()]
        if role is not None:
            users = [u for u in users if role in u.roles]
        return users

    def credentials(self, user_id: str) -> tuple[User, str | None] | None:
        """The user and its password hash, for :mod:`gateway.people.login` only (the
        hash never leaves the package)."""
        if not valid_id(user_id):
            return None
        with reader(self._db).connect() as conn:
            row = conn.execute(sa.select(m.users).where(m.users.c.id == user_id)).mappings().first()
        return None if row is None else (User.from_row(row), row["password_hash"])

    # ------------------------------------------------------------------ the site file
    def sync_from_site(self, site: Site) -> SyncReport:
        """Make every person of ``site`` a user (see the module doc); idempotent."""
        people = site_people(site)
        report = SyncReport()
        now = self._clock.now_ms()
        with self._db.begin() as conn:
            rows = {r["id"]: r for r in conn.execute(sa.select(m.users)).mappings()}
            for uid, (name, crew, roles) in people.items():
                row = rows.get(uid)
                site_roles = [r.value for r in roles]
                if row is None:
                    conn.execute(
                        sa.insert(m.users).values(
                            id=uid,
                            name=name,
                            roles=[],
                            site_roles=site_roles,
                            crew=crew,
                            active=True,
                            created_at_ms=now,
                            updated_at_ms=now,
                        )
                    )
                    report.added.append(uid)
                elif (row["name"], row["crew"], list(row["site_roles"] or [])) != (
                    name,
                    crew,
                    site_roles,
                ):
                    conn.execute(
                        sa.update(m.users)
                        .where(m.users.c.id == uid)
                        .values(
                            name=name,
                            crew=crew,
                            site_roles=site_roles,
                            updated_at_ms=now,
                        )
                    )
                    report.updated.append(uid)
            for uid, row in rows.items():
                if uid not in people and row["site_roles"]:
                    conn.execute(
                        sa.update(m.users)
                        .where(m.users.c.id == uid)
                        .values(
                            site_roles=[],
                            crew=None,
                            updated_at_ms=now,
                        )
                    )
                    report.unlisted.append(uid)
        if report.changed:
            log.info(
                "users from the site file: %d added, %d updated, %d no longer listed",
                len(report.added),
                len(report.updated),
                len(report.unlisted),
            )
        return report

    # ------------------------------------------------------------------ changing
    def add(
        self,
        user_id: str,
        *,
        roles: str | Iterable[str],
        name: str | None = None,
        crew: str | None = None,
        password: str | None = None,
    ) -> User:
        if not isinstance(user_id, str) or not valid_id(user_id):
            raise Invalid(f"{user_id!r} is not a user id (letters, digits, _ . -; 1-64)")
        granted = [r.value for r in parse_roles(roles)]
        _check_crew(crew)
        hashed = None if password is None else self.passwords.hash(password)
        now = self._clock.now_ms()
        try:
            with self._db.begin() as conn:
                conn.execute(
                    sa.insert(m.users).values(
                        id=user_id,
                        name=_name(name, user_id),
                        roles=granted,
                        site_roles=[],
                        crew=crew,
                        active=True,
                        password_hash=hashed,
                        password_set_at_ms=None if hashed is None else now,
                        created_at_ms=now,
                        updated_at_ms=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {user_id!r} exists") from exc
        log.info("user %s added with roles %s", user_id, ",".join(granted))
        return self.get(user_id)

    def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        roles: str | Iterable[str] | None = None,
        crew: str | None | _Unset = UNSET,
        active: bool | None = None,
    ) -> User:
        """Change what is given; ``roles`` replaces the granted roles (the site roles
        stay: they follow the site file)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = _name(name, user_id)
        if roles is not None:
            values["roles"] = [r.value for r in parse_roles(roles, allow_empty=True)]
        if not isinstance(crew, _Unset):
            _check_crew(crew)
            values["crew"] = crew
        if active is not None:
            values["active"] = bool(active)
        with self._db.begin() as conn:
            self._lock_row(conn, user_id)
            if values:
                values["updated_at_ms"] = self._clock.now_ms()
                conn.execute(sa.update(m.users).where(m.users.c.id == user_id).values(values))
            if active is False:
                end_sessions_of(conn, user_id)
        if values:
            log.info("user %s changed: %s", user_id, ", ".join(sorted(values)))
        return self.get(user_id)

    def disable(self, user_id: str) -> User:
        """The user can no longer sign in; every session of theirs ends now."""
        return self.update(user_id, active=False)

    def set_password(self, user_id: str, password: str) -> None:
        """Store the Argon2 hash of ``password``; every session of the user ends."""
        hashed = self.passwords.hash(password)
        with self._db.begin() as conn:
            self._lock_row(conn, user_id)
            self._store_hash(conn, user_id, hashed)
            end_sessions_of(conn, user_id)
        log.info("user %s: password set", user_id)

    def rehash(self, user_id: str, password: str) -> None:
        """Upgrade a hash made with older parameters (after a successful sign-in)."""
        with self._db.begin() as conn:
            self._store_hash(conn, user_id, self.passwords.hash(password))

    def ensure_admin(self) -> str | None:
        """A first-run admin: when no usable admin with a password exists, (re)make the
        user ``admin`` (active, role ``admin``) with a random password and return that
        password, to be shown once; else ``None``."""
        if any(u.usable and u.has_password for u in self.list(role=Role.ADMIN)):
            return None
        password = new_password()
        hashed = self.passwords.hash(password)
        now = self._clock.now_ms()
        with self._db.begin() as conn:
            row = (
                conn.execute(sa.select(m.users).where(m.users.c.id == ADMIN_ID).with_for_update())
                .mappings()
                .first()
            )
            if row is None:
                conn.execute(
                    sa.insert(m.users).values(
                        id=ADMIN_ID,
                        name="Administrator",
                        roles=[Role.ADMIN.value],
                        site_roles=[],
                        crew=None,
                        active=True,
                        created_at_ms=now,
                        updated_at_ms=now,
                    )
                )
            else:
                granted = merge_roles(row["roles"] or (), [Role.ADMIN])
                conn.execute(
                    sa.update(m.users)
                    .where(m.users.c.id == ADMIN_ID)
                    .values(
                        roles=[r.value for r in granted],
                        active=True,
                        updated_at_ms=now,
                    )
                )
            self._store_hash(conn, ADMIN_ID, hashed)
            end_sessions_of(conn, ADMIN_ID)
        log.warning("no admin could sign in: user %r now has a new random password", ADMIN_ID)
        return password

    # ------------------------------------------------------------------ machinery
    @staticmethod
    def _lock_row(conn: Connection, user_id: str) -> None:
        found = conn.execute(
            sa.select(m.users.c.id).where(m.users.c.id == user_id).with_for_update()
        ).first()
        if found is None:
            raise NotFound(f"no user {user_id!r}")

    def _store_hash(self, conn: Connection, user_id: str, hashed: str) -> None:
        now = self._clock.now_ms()
        conn.execute(
            sa.update(m.users)
            .where(m.users.c.id == user_id)
            .values(
                password_hash=hashed,
                password_set_at_ms=now,
                updated_at_ms=now,
            )
        )


def _name(name: str | None, user_id: str) -> str:
    text = (name or "").strip() or user_id
    if len(text) > 256:
        raise Invalid("a name has at most 256 characters")
    return text


def _check_crew(crew: str | None) -> None:
    if crew is not None and not valid_id(crew):
        raise Invalid(f"{crew!r} is not a crew id")
