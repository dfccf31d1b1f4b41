"""``fingress check --config FILE``: validate an edge, connector, policy or emulator file without running it.

The kind comes from ``--kind``, else from the file's top-level tables (``[oauth]`` is a policy,
``[finesse]`` a connector, ``[[agents]]`` an emulator, ``policy_file`` or ``[public]`` an edge), else from
its name. Every problem is printed as ``FILE: key.path: message``; the exit code is 0 when the file is
valid, 1 when it is not, 2 when its kind cannot be told. Only the schema is checked: files the configuration
points to (certificates, the policy) are not opened, so a file can be checked on another machine than the
one that will run it. Each kind's own loader (:mod:`edge.config`, :mod:`connector.config`, :mod:`edge.policy`,
:mod:`fingress.emulator.config`) reads and explains the file; this command only picks it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

from connector.config import load_config as load_connector_config
from edge.config import load_config as load_edge_config
from edge.policy import load_policy
from edge.tunnel.errors import ConfigError
from fingress.emulator.config import load_config as load_emulator_config

ConfigKind = Literal["edge", "connector", "policy", "emulator"]
CONFIG_KINDS: tuple[str, ...] = get_args(ConfigKind)
_KINDS_BY_NAME: tuple[ConfigKind, ...] = ("edge", "connector", "policy", "emulator")

# A top-level key that only one kind of file has, in the order they are tried.
_MARKERS: tuple[tuple[str, ConfigKind], ...] = (
    ("oauth", "policy"),
    ("finesse", "connector"),
    ("agents", "emulator"),
    ("teams", "emulator"),
    ("policy_file", "edge"),
    ("public", "edge"),
)

_LOADERS: dict[ConfigKind, Callable[[Path], object]] = {
    "edge": load_edge_config,
    "connector": load_connector_config,
    "policy": load_policy,
    "emulator": load_emulator_config,
}


class UnknownKind(Exception):
    """The file's kind could not be told from its contents or name."""


def detect_kind(path: Path) -> ConfigKind:
    """Tell the kind of configuration file at ``path``. Raises ``UnknownKind``; a file that cannot be read
    or parsed is detected by name only (the loader then reports why it cannot be read)."""
    document: dict[str, Any] = {}
    with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    for key, kind in _MARKERS:
        if key in document:
            return kind
    stem = path.name.lower()
    for kind in _KINDS_BY_NAME:
        if kind in stem:
            return kind
    raise UnknownKind(f"{path}: cannot tell which kind of file this is; pass --kind {'|'.join(CONFIG_KINDS)}")


def check_file(path: Path, kind: ConfigKind) -> list[str]:
    """The problems of the file, one line each (``FILE: key.path: message``); empty when it is valid."""
    try:
        _LOADERS[kind](path)
    except ConfigError as error:
        return str(error).splitlines()
    return []


def register(subparsers: Any) -> None:
    """Add ``check`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "check",
        help="validate a configuration or policy file",
        description="Validate an edge, connector, policy or emulator file; problems are named by key path.",
    )
    parser.add_argument("--config", type=Path, required=True, help="the TOML file to check")
    parser.add_argument("--kind", choices=CONFIG_KINDS, help="the file's kind (default: detected)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        kind: ConfigKind = args.kind or detect_kind(args.config)
    except UnknownKind as error:
        print(f"fingress check: {error}", file=sys.stderr)
        return 2
    problems = check_file(args.config, kind)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        print(f"fingress check: {args.config}: {kind} file has {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"{args.config}: valid {kind} file")
    return 0
