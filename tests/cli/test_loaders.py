"""Every configuration loader turns a file it cannot use into one ``ConfigError`` naming the file, never a
traceback: missing, a folder, not UTF-8, not TOML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from connector.config import load_config as load_connector_config
from edge.config import load_config as load_edge_config
from edge.policy import load_policy
from edge.tunnel.errors import ConfigError
from fingress.check_command import check_file
from fingress.emulator.config import load_config as load_emulator_config

LOADERS: dict[str, Callable[[Path], object]] = {
    "edge": load_edge_config,
    "connector": load_connector_config,
    "policy": load_policy,
    "emulator": load_emulator_config,
}


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    return folder


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.toml"


def _not_utf8(tmp_path: Path) -> Path:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Zoë"\n'.encode("latin-1"))
    return path


def _not_toml(tmp_path: Path) -> Path:
    path = tmp_path / "broken.toml"
    path.write_text("[table\n", encoding="utf-8")
    return path


UNUSABLE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing": (_missing, "cannot read"),
    "folder": (_folder, "cannot read"),
    "not UTF-8": (_not_utf8, "cannot read"),
    "not TOML": (_not_toml, "not valid TOML"),
}


@pytest.mark.parametrize("case", UNUSABLE)
@pytest.mark.parametrize("kind", LOADERS)
def test_an_unusable_file_is_one_problem_naming_it(tmp_path: Path, kind: str, case: str) -> None:
    make, message = UNUSABLE[case]
    path = make(tmp_path)
    with pytest.raises(ConfigError) as raised:
        LOADERS[kind](path)
    error = raised.value
    assert path.name in error.source
    [(key, text)] = error.problems
    assert key == ""
    assert text.startswith(message), text
    [line] = check_file(path, kind)  # type: ignore[arg-type]
    assert path.name in line
    assert "Traceback" not in line
