"""``fingress demo``: run the whole system on loopback and print a walkthrough (see :mod:`fingress.demo`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

from edge.tunnel.errors import FingressError
from fingress.demo.ports import DEFAULT_BASE_PORT, DemoPorts
from fingress.demo.system import DEFAULT_DATA_DIR, DemoOptions, DemoSystem
from fingress.demo.walkthrough import render_walkthrough
from fingress.logging_setup import LOG_FORMATS, configure_logging
from fingress.loops import DEFAULT_LOOP, LOOPS, run_on


def _grace_s(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="run everything on loopback: emulator, connector, edge, identity provider",
        description=(
            "Run the whole system in one process: the Finesse emulator (sides A and B), a connector, an edge"
            " and a development identity provider; every listener on --base-port, +1, +2, ..."
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"PKI, IdP keys, configs, demo.json ({DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--base-port", type=int, default=DEFAULT_BASE_PORT, help=f"first port (default {DEFAULT_BASE_PORT})"
    )
    parser.add_argument(
        "--disconnect-grace-s",
        type=_grace_s,
        default=30.0,
        help="how long an agent's Finesse session waits for the app to come back (default 30)",
    )
    parser.add_argument(
        "--loop", choices=LOOPS, default=DEFAULT_LOOP, help=f"event loop (default {DEFAULT_LOOP})"
    )
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, default="console", help="log lines (default console)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_format)
    try:
        DemoPorts.from_base(args.base_port)
    except ValueError as error:
        print(f"fingress demo: {error}", file=sys.stderr)
        return 2
    options = DemoOptions(
        data_dir=args.data_dir, base_port=args.base_port, disconnect_grace_s=args.disconnect_grace_s
    )
    return run_on(args.loop, _serve(DemoSystem(options=options), data_dir=str(args.data_dir)))


async def _serve(demo: DemoSystem, *, data_dir: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"starting the fingress demo in {demo.data_dir} ...", flush=True)
    try:
        await demo.start()
    except FingressError as error:
        print(f"fingress demo: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"fingress demo: cannot listen: {error.strerror or error}", file=sys.stderr)
        return 1
    except TimeoutError:
        print("fingress demo: the connector's tunnel to the edge did not come up", file=sys.stderr)
        return 1
    print(render_walkthrough(demo.manifest(), python=sys.executable, data_dir=data_dir), flush=True)
    print(f"\n(wrote {demo.manifest_file})", flush=True)
    await stop.wait()
    print("stopping ...", flush=True)
    await demo.stop()
    print("fingress demo stopped", flush=True)
    return 0
