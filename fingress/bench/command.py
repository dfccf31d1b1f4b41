"""``fingress bench``: drive simulated agents through a running edge and print what they measured."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from edge.tunnel.errors import ConfigError
from fingress.bench import scenarios
from fingress.bench.fleet import Fleet, Progress
from fingress.bench.report import render_table
from fingress.bench.stack import CpuReading, SpawnedStack, StackOptions
from fingress.bench.target import Target, target_from_demo_json
from fingress.loops import CONNECTOR_LOOP, DEFAULT_LOOP, EDGE_LOOP, LOOPS, run_on

SCENARIOS = ("events", "requests", "storm", "flap")
# No run outlives this, whatever --duration-s says.
HARD_CAP_S = 900.0
# --spawn-demo's connector tier by default: one process per core, as README "Scaling out" advises for a
# deployment (a connector's work runs on one thread), but no more than this many, so that a many-core
# machine does not start dozens of processes for a benchmark.
MAX_DEFAULT_CONNECTORS = 4


def default_connectors() -> int:
    """How many connector processes ``--spawn-demo`` starts without ``--connectors``: the cores this
    process may run on, from 1 to :data:`MAX_DEFAULT_CONNECTORS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_CONNECTORS))


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return parse


def register(subparsers: Any) -> None:
    """Add ``bench`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "bench",
        help="load generator: simulated agents through a running edge (latency, integrity, storms)",
        description=(
            "Drive simulated agents through the edge's public API: each signs in with its own token, opens"
            " its own event socket, goes READY, takes calls offered by the emulator, answers, wraps up."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo-json", type=Path, help="the demo.json of a running `fingress demo`")
    source.add_argument(
        "--spawn-demo",
        action="store_true",
        help="start emulator, edge and connector as child processes (needed for storm and memory figures)",
    )
    parser.add_argument(
        "--scenario", choices=SCENARIOS, action="append", help="what to run (repeatable; default: events)"
    )
    parser.add_argument("--agents", type=_positive(int), default=100, help="simulated agents (default 100)")
    parser.add_argument(
        "--rate", type=_positive(float), default=1.0, help="events per agent per second (default 1)"
    )
    parser.add_argument(
        "--duration-s",
        type=_positive(float),
        default=20.0,
        help=f"per scenario (default 20, cap {HARD_CAP_S:.0f})",
    )
    parser.add_argument(
        "--concurrency", type=_positive(int), default=200, help="requests in flight at once (default 200)"
    )
    parser.add_argument(
        "--grace-s", type=_positive(float), default=30.0, help="the connector's disconnect grace (default 30)"
    )
    parser.add_argument(
        "--data-dir", type=Path, help="--spawn-demo's files and logs (default: a temporary one)"
    )
    parser.add_argument(
        "--connectors",
        type=_positive(int),
        metavar="N",
        help=(
            "--spawn-demo: connector processes (connector-1 … connector-N, each its own identity and admin"
            " port; the edge spreads the agents over them; storm restarts them all at once; memory and CPU"
            " figures sum them) (default: one per core, at most"
            f" {MAX_DEFAULT_CONNECTORS}; {default_connectors()} here)"
        ),
    )
    # The tiers run on what `fingress edge` / `fingress connector` run on, so the figures are the product's.
    for flag, process, default in (
        ("--edge-loop", "--spawn-demo: the event loop of the edge process", EDGE_LOOP),
        ("--connector-loop", "--spawn-demo: the event loop of the connector process(es)", CONNECTOR_LOOP),
        ("--emulator-loop", "--spawn-demo: the event loop of the emulator process", DEFAULT_LOOP),
        ("--bench-loop", "the event loop of the simulated agents (this process)", DEFAULT_LOOP),
    ):
        parser.add_argument(flag, choices=LOOPS, default=default, help=f"{process} (default {default})")
    parser.add_argument("--json", action="store_true", help="print every figure as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    chosen = tuple(dict.fromkeys(args.scenario or ["events"]))
    if "storm" in chosen and not args.spawn_demo:
        print("fingress bench: storm restarts the connector: it needs --spawn-demo", file=sys.stderr)
        return 2
    if args.connectors is not None and not args.spawn_demo:
        print(
            "fingress bench: --connectors starts connector processes: it needs --spawn-demo"
            " (a running demo has the connectors it has)",
            file=sys.stderr,
        )
        return 2
    try:
        results = run_on(args.bench_loop, _bench(args, chosen))
    except ConfigError as error:
        print(f"fingress bench: {error}", file=sys.stderr)
        return 2
    except TimeoutError:
        print(
            "fingress bench: the stack did not come up in time (see the logs in --data-dir)", file=sys.stderr
        )
        return 1
    print(json.dumps(results, indent=2) if args.json else render_table(results), flush=True)
    return 0


@contextlib.asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[tuple[Target, SpawnedStack | None]]:
    if args.demo_json is not None:
        yield target_from_demo_json(args.demo_json), None
        return
    with contextlib.ExitStack() as cleanup:
        data_dir = args.data_dir or Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="fingress-bench-"))
        )
        stack = SpawnedStack(
            options=StackOptions(
                data_dir=data_dir,
                agents=args.agents,
                disconnect_grace_s=args.grace_s,
                connectors=args.connectors or default_connectors(),
                edge_loop=args.edge_loop,
                connector_loop=args.connector_loop,
                emulator_loop=args.emulator_loop,
            )
        )
        target = await stack.start()
        try:
            yield target, stack
        finally:
            await stack.stop()


async def _report_progress(progress: Progress, started: float, quiet: bool) -> None:
    while not quiet:
        await asyncio.sleep(2.0)
        print(
            f"[{time.perf_counter() - started:6.1f} s] {progress.phase}: {progress.done} done,"
            f" {progress.failed} failed",
            file=sys.stderr,
            flush=True,
        )


async def _bench(args: argparse.Namespace, chosen: tuple[str, ...]) -> dict[str, Any]:
    duration_s = min(args.duration_s, HARD_CAP_S)
    progress = Progress()
    started = time.perf_counter()
    reporter = asyncio.create_task(_report_progress(progress, started, args.quiet))
    results: dict[str, Any] = {}
    try:
        async with asyncio.timeout(HARD_CAP_S + 120), _target(args) as (target, stack):
            count = min(args.agents, len(target.agents))
            fleet = Fleet(target=target, concurrency=args.concurrency, progress=progress)
            if stack is not None:
                results["connectors"] = stack.connector_count
            try:
                memory_before = stack.resident_kib() if stack is not None else None
                bring_up_started = time.perf_counter()
                sign_ins = await fleet.bring_up(count)
                results["sign_in"] = {
                    "agents_requested": count,
                    "agents_up": len(fleet.agents),
                    "all_up_s": round(time.perf_counter() - bring_up_started, 2),
                    "latency": sign_ins.summary_ms(),
                    "errors": dict(progress.errors),
                }
                if stack is not None:
                    # How the edge spread the signed-in agents over the connector processes.
                    results["sign_in"]["sessions_per_connector"] = await stack.active_sessions()
                if stack is not None and memory_before is not None:
                    results["memory"] = _memory(
                        memory_before, stack.resident_kib(), len(fleet.agents), sockets=stack.open_sockets()
                    )
                for name in chosen:
                    progress.done, progress.failed, progress.errors = 0, 0, {}
                    cpu_before = _cpu(stack)
                    results[name] = await _scenario(name, fleet, stack, args, duration_s)
                    results[name]["cpu_s"] = _cpu_used(cpu_before, _cpu(stack))
                    if progress.errors:
                        results[name]["errors"] = dict(progress.errors)
            finally:
                await fleet.aclose()
    finally:
        reporter.cancel()
    return results


async def _scenario(
    name: str, fleet: Fleet, stack: SpawnedStack | None, args: argparse.Namespace, duration_s: float
) -> dict[str, Any]:
    if name == "events":
        baseline = _cpu(stack)
        return await scenarios.events(
            fleet,
            duration_s=duration_s,
            rate_per_agent=args.rate,
            cpu_seconds=lambda: _cpu_used(baseline, _cpu(stack)),
        )
    if name == "requests":
        return await scenarios.requests(fleet, duration_s=duration_s)
    if name == "flap":
        return await scenarios.flap(fleet, duration_s=duration_s, grace_s=args.grace_s)
    assert stack is not None

    async def restart() -> None:
        await stack.stop_connector()
        await stack.start_connector()

    return await scenarios.storm(fleet, restart=restart, deadline_s=duration_s + 60)


def _cpu(stack: SpawnedStack | None) -> dict[str, CpuReading | None]:
    """``(pids, CPU seconds used so far)`` of each tier (spawned stacks only; a tier's processes summed)
    and of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    tiers = stack.cpu_seconds() if stack is not None else {}
    return {**tiers, "bench": ((os.getpid(),), usage.ru_utime + usage.ru_stime)}


def _cpu_used(
    before: Mapping[str, CpuReading | None], after: Mapping[str, CpuReading | None]
) -> dict[str, float]:
    """CPU seconds each tier used between two :func:`_cpu` readings (the whole scenario, including its
    set-up and tear-down phases). A tier whose processes were all replaced in between (a storm's restart)
    is reported as ``<tier>_since_restart``: its new processes' CPU, all of it used inside the interval (the
    old ones' last seconds can no longer be read). A tier with only some processes replaced, one not
    running, or a reading missing is left out."""
    used: dict[str, float] = {}
    for name, end in after.items():
        start = before.get(name)
        if start is None or end is None or start[1] is None or end[1] is None:
            continue
        if start[0] == end[0]:
            used[name] = round(end[1] - start[1], 2)
        elif not set(start[0]) & set(end[0]):
            used[f"{name}_since_restart"] = round(end[1], 2)
    return used


def _memory(
    before: dict[str, int | None],
    after: dict[str, int | None],
    agents: int,
    *,
    sockets: dict[str, int | None],
) -> dict[str, Any]:
    # The sockets say what the growth paid for: at the edge, each agent's event socket and also the
    # simulated apps' pooled HTTPS connections (up to --concurrency of them, ~40 KiB each there).
    figures: dict[str, Any] = {"agents": agents}
    for tier in ("edge", "connector", "emulator"):
        start, end = before.get(tier), after.get(tier)
        figures[f"{tier}_rss_kib"] = end
        figures[f"{tier}_sockets"] = sockets.get(tier)
        if start is not None and end is not None and agents:
            figures[f"{tier}_kib_per_agent"] = round((end - start) / agents, 1)
    return figures
