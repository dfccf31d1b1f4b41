"""``fingress token``: print an agent access token from the development identity provider.

Reads the dev IdP's settings and signing key from the data directory (``fingress demo`` creates them), so
no server has to run. Only the token goes to stdout: ``TOKEN=$(fingress token --agent 1001)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fingress.devidp import DevIdentityProvider, DevIdpError

DEFAULT_DATA_DIR = Path(".fingress")


def register(subparsers: Any) -> None:
    """Add ``token`` to the ``fingress`` parser."""
    parser = subparsers.add_parser(
        "token",
        help="print an agent access token from the demo's development identity provider",
        description=__doc__.split("\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"the demo's data directory (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument("--agent", required=True, help="agent id (the token's subject and agent-id claim)")
    parser.add_argument("--scope", help="space-separated scopes (default: every scope the provider offers)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        provider = DevIdentityProvider.open(args.data_dir)
        issued = provider.issue_token(args.agent, scope=args.scope)
    except DevIdpError as error:
        print(f"fingress token: {error.code}: {error.detail}", file=sys.stderr)
        return 1
    print(issued.access_token)
    return 0
