"""``sitewatch simulate``: the simulated building alone, publishing to the configured broker.

The site is the configured site file (``SITEWATCH_SITE_FILE``, default the shipped demo
site) published under the configured site id (``SITEWATCH_SITE``), to
``SITEWATCH_MQTT_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from gateway.settings import Settings
from gateway.site import load_site

from .engine import AHU_SCENARIOS, PAYLOAD_FORMS, SCENARIOS
from .runner import parse_scenario, simulate


def _positive_int(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return n


def _positive_float(text: str) -> float:
    x = float(text)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be positive")
    return x


def _scenario(text: str) -> str:
    try:
        parse_scenario(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``sitewatch simulate``."""
    parser.add_argument(
        "--devices",
        type=_positive_int,
        metavar="N",
        help="simulated devices (default: the site file's; more are copies with suffixed ids)",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        metavar="MSG_PER_S",
        help="total telemetry messages per second (default: the site file's intervals)",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        default=[],
        type=_scenario,
        metavar="NAME[:DEVICE][@DELAY_S]",
        help=f"inject a fault scenario (repeatable): {', '.join(SCENARIOS)}; with the "
        f"air-handler points (SITEWATCH_RULE_PACKS with fdd): {', '.join(AHU_SCENARIOS)}",
    )
    parser.add_argument(
        "--duration", type=_positive_float, metavar="S", help="stop after S seconds"
    )
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=1.0,
        metavar="X",
        help="replay the past X times faster than real time, up to now "
        "(duration × X seconds of history, or the last hour), then carry on in real time",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--payload",
        choices=PAYLOAD_FORMS,
        default="values",
        help="telemetry form: {ts, values: {...}} (values), flat, or a mix of both",
    )


async def main(
    args: argparse.Namespace, settings: Settings, stop: asyncio.Event | None = None
) -> int:
    """Run the simulators until ``stop``, Ctrl-C or ``--duration``; returns an exit code."""
    try:
        site = load_site(settings.site_file or None)
    except (OSError, ValueError) as exc:
        print(f"sitewatch simulate: site file: {exc}", file=sys.stderr)
        return 2
    own_stop = stop is None
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
    n_devices = args.devices or len(site.devices)
    print(
        f"sitewatch simulate: site {settings.site} ({site.name}), {n_devices} devices, "
        f"broker {settings.mqtt_url}" + (f", rate {args.rate:g} msg/s" if args.rate else ""),
        flush=True,
    )
    try:
        published = await simulate(
            settings.mqtt_url,
            site,
            devices=args.devices,
            rate=args.rate,
            scenarios=args.scenario,
            duration=args.duration,
            stop=stop,
            site_id=settings.site,
            speed=args.speed,
            seed=args.seed,
            payload=args.payload,
        )
    except ValueError as exc:
        print(f"sitewatch simulate: {exc}", file=sys.stderr)
        return 2
    finally:
        if own_stop:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
    print(f"sitewatch simulate: stopped, {published} messages published", flush=True)
    return 0
