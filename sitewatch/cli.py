"""``sitewatch``: the command line (demo, run, simulate, rules check, users)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.settings import ROLES, Settings, SettingsError, load_settings

log = logging.getLogger("sitewatch")

DEMO_BROKER_PORT = 11883
#: the longest ``sitewatch run`` waits for the child making the first-run admin
ADMIN_CHILD_TIMEOUT_S = 60.0
# the demo's building has a bad day, so the control room has something to show
DEMO_TOUR = (
    "lamp_failure@30",
    "door_held@60",
    "ahu_fault@90",
    "zone_overheat@120",
    "filter_clog@150",
    "fire_alarm@240",
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("amqtt", "transitions", "httpx", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[object]]) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        asyncio.run(runner())
    except KeyboardInterrupt:
        return 130
    return 0


# -- demo ---------------------------------------------------------------------------------
#: the demo's people besides the crews of the site file: (id, role, name)
DEMO_USERS = (
    ("operator", "operator", "Operator on duty"),
    ("manager", "manager", "Site manager"),
    ("viewer", "viewer", "Viewer"),
    ("admin", "admin", "Administrator"),
)


def _demo_people(rt: Any, password: str) -> None:
    """Give every demo user (the crews' members and :data:`DEMO_USERS`) the one shared
    demo ``password`` (new at each start)."""
    users = rt.people.users
    for uid, role, name in DEMO_USERS:
        if users.find(uid) is None:
            users.add(uid, roles=role, name=name)
    for user in users.list(active=True):
        users.set_password(user.id, password)


async def _demo_sign_in(rt: Any, password: str) -> None:
    """Set the demo passwords beside the starting gateway (Argon2 takes a moment per
    user: hashed in a worker thread, the gateway does not wait), then print them."""
    try:
        await asyncio.to_thread(_demo_people, rt, password)
    except Exception:  # noqa: BLE001 - the demo runs on without sign-in
        log.exception("cannot set the demo users' password")
        return
    crews = ", ".join(f"{m.id} ({c.id})" for c in rt.site.crews for m in c.members)
    print(f"\n  sign in on the page as any of these users, password {password}:")
    print(f"    {', '.join(uid for uid, _, _ in DEMO_USERS)}")
    print(f"    technicians: {crews}\n", flush=True)


async def _demo(settings: Settings, tokens: dict[str, str], stop: asyncio.Event) -> None:
    from gateway.people import new_password
    from simulators.rounds import run as simulate_rounds
    from simulators.runner import simulate
    from sitewatch.bootstrap import build_runtime

    broker = None
    protocol = "5"
    if "SITEWATCH_MQTT_URL" not in os.environ:
        from gateway.embedded_broker import start_broker

        broker = await start_broker("127.0.0.1", DEMO_BROKER_PORT)
        settings = settings.model_copy(update={"mqtt_url": f"mqtt://127.0.0.1:{DEMO_BROKER_PORT}"})
        protocol = "3.1.1"  # amqtt speaks MQTT 3.1.1 only
    rt = build_runtime(settings, tokens=tokens, mqtt_protocol=protocol)
    url = f"http://{settings.http_bind}"
    print(
        f"\nsitewatch demo: site {settings.site} ({rt.site.name}), {len(rt.site.devices)} devices"
    )
    print(f"  control room: {url}/   API: {url}/docs   health: {url}/healthz")
    print(f"  broker: {settings.mqtt_url}")
    print("  tokens (Authorization: Bearer <token>):")
    for token, role in tokens.items():
        print(f"    {role:<11} {token}")
    print("  Ctrl-C stops.\n", flush=True)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(rt.run(stop), name="gateway")
            tg.create_task(_demo_sign_in(rt, new_password()), name="demo-sign-in")
            tg.create_task(
                simulate(
                    settings.mqtt_url,
                    rt.site,
                    site_id=settings.site,
                    stop=stop,
                    scenarios=DEMO_TOUR,
                ),
                name="simulator",
            )
            admin = next((t for t, r in tokens.items() if r == "admin"), None)
            if admin is not None:  # the crews walk their rounds, some items failing
                tg.create_task(
                    simulate_rounds(f"http://{settings.http_bind}", admin, stop),
                    name="rounds-simulator",
                )
    finally:
        if broker is not None:
            await broker.shutdown()
    print("sitewatch demo stopped.")


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    tokens = settings.tokens or {secrets.token_urlsafe(18): role for role in ROLES}
    return _run_until_signal(lambda stop: _demo(settings, tokens, stop))


# -- run ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not settings.tokens:
        print(
            "sitewatch run: no API token configured; set SITEWATCH_API_TOKENS, "
            "e.g. SITEWATCH_API_TOKENS=operator=<secret>,viewer=<secret>",
            file=sys.stderr,
        )
        return 2
    from sitewatch.bootstrap import build_runtime, serves_several

    if serves_several(settings):
        return _run_host(settings, args.mqtt_protocol)
    try:
        rt = build_runtime(settings, mqtt_protocol=args.mqtt_protocol)
    except (ValueError, OSError) as exc:
        print(f"sitewatch run: {exc}", file=sys.stderr)
        return 2
    _admin_notice(_ensure_admin(rt))
    log.info(
        "gateway for site %s: broker %s, store %s, API http://%s",
        settings.site,
        settings.mqtt_url,
        settings.influx_url or "embedded",
        settings.http_bind,
    )
    return _run_until_signal(rt.run)


def _ensure_admin(rt: Any) -> str | None:
    """The first-run admin (``UserService.ensure_admin``), made in a forked child where
    the system has ``fork`` and the state store is a file or a server: hashing its
    password is Argon2's 64 MiB, which would otherwise stay the gateway's peak memory
    (VmHWM) for as long as it runs. The child takes new connections of the store
    (SQLAlchemy's rule after a fork: ``dispose(close=False)``), prints what the user must
    see itself and exits; the parent waits for it (at most ``ADMIN_CHILD_TIMEOUT_S``).
    A child that fails or does not finish, or no fork: here."""
    from sqlalchemy.pool import StaticPool

    if not hasattr(os, "fork") or isinstance(rt.db.pool, StaticPool):  # in-memory SQLite
        return rt.people.users.ensure_admin()  # type: ignore[no-any-return]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            rt.db.dispose(close=False)
            _admin_notice(rt.people.users.ensure_admin())
            code = 0
        except BaseException:  # noqa: BLE001 - the parent does it again
            log.exception("cannot make the first-run admin in a child process")
        finally:
            os._exit(code)
    deadline = time.monotonic() + ADMIN_CHILD_TIMEOUT_S
    done, status = os.waitpid(pid, os.WNOHANG)
    while done == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        done, status = os.waitpid(pid, os.WNOHANG)
    if done == 0:  # stuck (a store lock held elsewhere?): stopped, and done here
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        log.warning("the first-run admin's child did not finish; making it here")
    elif os.waitstatus_to_exitcode(status) == 0:
        return None  # told by the child, if there was anything to tell
    return rt.people.users.ensure_admin()  # type: ignore[no-any-return]


def _admin_notice(admin_password: str | None) -> None:
    if admin_password is not None:  # shown once, here; never logged
        print(
            "sitewatch run: no admin could sign in; user 'admin' now has the password "
            f"{admin_password}\n  change it: sitewatch users set-password admin",
            flush=True,
        )


def _run_host(settings: Settings, mqtt_protocol: str) -> int:
    """``sitewatch run`` for several sites (SITEWATCH_SITES / SITEWATCH_SITES_DIR): the
    sites this process wins a lease on (``gateway.multisite``), one HTTP server."""
    from sitewatch.bootstrap import build_host

    try:
        host = build_host(settings, mqtt_protocol=mqtt_protocol)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"sitewatch run: {exc}", file=sys.stderr)
        return 2
    log.info(
        "gateway %s for sites %s: broker %s, API http://%s",
        host.instance,
        ",".join(host.sites),
        settings.mqtt_url,
        settings.http_bind,
    )
    return _run_until_signal(host.run)


# -- simulate -----------------------------------------------------------------------------
def cmd_simulate(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    from simulators.cli import main as sim_main

    return _run_until_signal(lambda stop: sim_main(args, settings, stop))


def cmd_rules(args: argparse.Namespace) -> int:
    from rules.cli import main as rules_main

    return rules_main(["check", args.file])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sitewatch", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="everything on one machine: broker, building, gateway, API")
    d.add_argument("--config", help="YAML settings file")
    d.set_defaults(fn=cmd_demo)

    r = sub.add_parser("run", help="the gateway against real services")
    r.add_argument("--config", help="YAML settings file")
    r.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], default="5")
    r.set_defaults(fn=cmd_run)

    s = sub.add_parser("simulate", help="the simulated building alone")
    s.add_argument("--config", help="YAML settings file")
    from simulators.cli import add_arguments

    add_arguments(s)
    s.set_defaults(fn=cmd_simulate)

    rl = sub.add_parser("rules", help="rule packs")
    rsub = rl.add_subparsers(dest="rules_command", required=True)
    rc = rsub.add_parser("check", help="validate a rule pack, every error with its line")
    rc.add_argument("file")
    rc.set_defaults(fn=cmd_rules)

    from sitewatch.report_cli import add_parser as add_report_parser
    from sitewatch.users_cli import add_parser as add_users_parser

    add_report_parser(sub)

    add_users_parser(sub)

    from sitewatch.integrator_cli import add_parsers as add_integrator_parsers

    add_integrator_parsers(sub, rsub)  # devices import, record, replay, rules backtest
    from sitewatch.site_cli import add_parser as add_site_parser

    add_site_parser(sub)  # site export --format brick
    from sitewatch.requests_cli import add_parser as add_requests_parser

    add_requests_parser(sub)  # requests qr
    from sitewatch.rounds_cli import add_parser as add_rounds_parser

    add_rounds_parser(sub)  # rounds qr
    from sitewatch.journal_cli import add_parser as add_journal_parser

    add_journal_parser(sub)  # journal verify
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    rc: int = args.fn(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
