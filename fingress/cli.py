"""The fingress command: a DMZ edge gateway for Cisco Finesse.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``run`` (a callable taking the parsed namespace, returning an exit code)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Subcommand modules, in the order `fingress --help` lists them.
_SUBCOMMANDS = (
    "fingress.demo.command",
    "fingress.edge_command",
    "fingress.connector_command",
    "fingress.check_command",
    "fingress.emulator.command",
    "fingress.certs_command",
    "fingress.token_command",
    "fingress.bench.command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fingress", description=__doc__.split("\n")[0] if __doc__ else None)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _SUBCOMMANDS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
