"""``sitewatch users ...``: the people who sign in, managed from the command line.

Each command opens the state store named by the settings (``SITEWATCH_DB_URL``; the
migrations run first), makes every crew member of the site file a user (as the gateway
does at each start, so a technician can be given a password before the first start),
does its one change and exits:

- ``users add ID --role ROLE[,ROLE] [--name NAME] [--crew CREW]``
- ``users set-password ID``: the password is read from standard input when it is not a
  terminal (one line), else asked twice without echo; it is never printed nor logged
- ``users disable ID``: the user can no longer sign in; every session ends at once
- ``users list``

A refused change (unknown user, id taken, unknown role, too short a password) prints
its reason on standard error and exits with 1; a bad setting exits with 2.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TextIO

from gateway.errors import DomainError
from gateway.people import People
from gateway.settings import SettingsError, load_settings


def _people(args: argparse.Namespace) -> People:
    from gateway.clock import SystemClock
    from gateway.site import load_site
    from gateway.store import open_store

    settings = load_settings(args.config)
    people = People(open_store(settings.db_url), SystemClock())
    site = load_site(settings.site_file or None)
    people.users.sync_from_site(site)
    return people


def read_password(stdin: TextIO, *, prompt: bool) -> str:
    """One line of ``stdin`` (its newline dropped), or asked twice on the terminal."""
    if not prompt:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise DomainError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace) -> int:
    try:
        people = _people(args)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return _run(args, people)
    except DomainError as exc:
        print(f"sitewatch users {args.users_command}: {exc.detail()}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, people: People) -> int:
    users = people.users
    match args.users_command:
        case "add":
            user = users.add(args.id, roles=args.role, name=args.name, crew=args.crew)
            print(f"added {user.id} ({user.name}): {','.join(user.roles)}")
            if not user.has_password:
                print(f"  give a password with: sitewatch users set-password {user.id}")
        case "set-password":
            users.get(args.id)
            password = read_password(sys.stdin, prompt=sys.stdin.isatty())
            users.set_password(args.id, password)
            print(f"password of {args.id} set; their sessions ended")
        case "disable":
            user = users.disable(args.id)
            print(f"{user.id} disabled; their sessions ended")
        case "list":
            rows = [
                (
                    u.id,
                    u.name,
                    ",".join(u.roles) or "-",
                    u.crew or "-",
                    "active" if u.active else "disabled",
                    "password" if u.has_password else "no password",
                )
                for u in users.list()
            ]
            widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
            for r in rows:
                print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)), r[5])
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = sub.add_parser("users", help="the people who sign in")
    u.set_defaults(fn=cmd_users)
    usub = u.add_subparsers(dest="users_command", required=True)
    a = usub.add_parser("add", help="add a user (operators, managers, admins, integrators)")
    a.add_argument("id")
    a.add_argument("--role", required=True, help="ROLE[,ROLE]: " + ", ".join(_roles()))
    a.add_argument("--name")
    a.add_argument("--crew")
    sp = usub.add_parser(
        "set-password", help="set a password (read from standard input when not a terminal)"
    )
    sp.add_argument("id")
    d = usub.add_parser("disable", help="the user can no longer sign in; sessions end")
    d.add_argument("id")
    ls = usub.add_parser("list", help="every user")
    for p in (a, sp, d, ls):
        p.add_argument("--config", help="YAML settings file")


def _roles() -> list[str]:
    from rules.vocab import ROLES

    return [r.value for r in ROLES]
