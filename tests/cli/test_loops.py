"""``--loop`` of ``fingress edge`` and ``fingress connector``: both default to uvloop (the edge: a fifth of
the memory per agent connection; the connector: less CPU), either takes asyncio; a loop runs what it is
given."""

from __future__ import annotations

import ast
import asyncio
import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fingress.cli import build_parser
from fingress.gc_tuning import FULL_COLLECTION_AFTER
from fingress.loops import loop_factory, run_on


@pytest.fixture(autouse=True)
def restored_collector() -> Iterator[None]:
    """run_on tunes this (the test) process's collector: put it back afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.parametrize("command", ["edge", "connector"])
def test_each_tier_defaults_to_uvloop_and_takes_asyncio(command: str) -> None:
    parser = build_parser()
    assert parser.parse_args([command, "--config", "x.toml"]).loop == "uvloop"
    assert parser.parse_args([command, "--config", "x.toml", "--loop", "asyncio"]).loop == "asyncio"


def test_the_benchmark_runs_each_spawned_tier_on_that_tiers_default() -> None:
    """What `fingress bench --spawn-demo` measures is what `fingress edge` / `connector` run on."""
    args = build_parser().parse_args(["bench", "--spawn-demo"])
    tiers = build_parser()
    assert args.edge_loop == tiers.parse_args(["edge", "--config", "x.toml"]).loop
    assert args.connector_loop == tiers.parse_args(["connector", "--config", "x.toml"]).loop
    assert (args.emulator_loop, args.bench_loop) == ("asyncio", "asyncio")


def test_an_unknown_loop_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["edge", "--config", "x.toml", "--loop", "trio"])
    assert caught.value.code == 2
    assert "invalid choice: 'trio'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown event loop 'trio'"):
        loop_factory("trio")


@pytest.mark.parametrize("name", ["asyncio", "uvloop"])
def test_run_on_runs_the_coroutine_on_the_named_loop(name: str) -> None:
    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    module = run_on(name, loop_module())
    assert module.startswith("uvloop" if name == "uvloop" else "asyncio")


def test_run_on_tunes_the_collector_for_serving() -> None:
    """Start-up objects frozen, full collections far apart (in a fresh interpreter: the settings are
    process-wide)."""
    probe = (
        "import gc, asyncio\n"
        "from fingress.loops import run_on\n"
        "before = (gc.get_threshold(), gc.get_freeze_count())\n"
        "async def main(): return (gc.get_threshold(), gc.get_freeze_count())\n"
        "print(repr((before, run_on('asyncio', main()))))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    (threshold_before, frozen_before), (threshold_after, frozen_after) = ast.literal_eval(output)
    assert threshold_before == (700, 10, 10)
    assert frozen_before == 0
    assert threshold_after == (700, 10, FULL_COLLECTION_AFTER)
    assert frozen_after > 1000, "the modules' objects are in the permanent generation"


def test_a_named_subcommand_is_parsed_with_its_module_alone_and_help_lists_them_all() -> None:
    probe = (
        "import sys; from fingress.cli import build_parser; "
        "build_parser('edge').parse_args(['edge', '--config', 'x.toml']); "
        "print(sorted(m for m in ('fingress.bench.command', 'fingress.demo.command', "
        "'fingress.emulator.command', 'fingress.edge_command') if m in sys.modules))"
    )
    imported = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert imported.stdout.strip() == "['fingress.edge_command']"
    with pytest.raises(SystemExit):
        build_parser("edge").parse_args(["token"])  # not registered: the choice is refused
    listed = build_parser().format_help()
    for name in ("demo", "edge", "connector", "check", "emulator", "certs", "token", "bench"):
        assert name in listed
