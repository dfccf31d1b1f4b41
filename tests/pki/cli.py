"""Running the ``fingress certs`` command in-process, as ``fingress`` would."""

from __future__ import annotations

import argparse

from fingress import certs_command


def run_certs(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fingress")
    certs_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["certs", *argv])
    code: int = args.run(args)
    return code
