"""``--loop`` of ``fingress edge`` and ``fingress connector``: the edge defaults to uvloop (a fifth of the
memory per agent connection), the connector to asyncio; a loop runs what it is given."""

from __future__ import annotations

import asyncio

import pytest

from fingress.cli import build_parser
from fingress.loops import loop_factory, run_on


@pytest.mark.parametrize(("command", "default"), [("edge", "uvloop"), ("connector", "asyncio")])
def test_each_tier_has_its_default_loop_and_takes_the_other(command: str, default: str) -> None:
    parser = build_parser()
    assert parser.parse_args([command, "--config", "x.toml"]).loop == default
    other = "asyncio" if default == "uvloop" else "uvloop"
    assert parser.parse_args([command, "--config", "x.toml", "--loop", other]).loop == other


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
