"""The launcher the benchmark starts the edge and connector through."""

from __future__ import annotations

import pytest

from fingress.bench.launch import main


@pytest.mark.parametrize("argv", [[], ["trio", "edge"], ["edge", "--config", "x.toml"]])
def test_an_unknown_loop_is_a_usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err
