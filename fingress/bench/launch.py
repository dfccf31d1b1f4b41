"""Run a ``fingress`` subcommand on a chosen event loop: ``python -m fingress.bench.launch uvloop edge ...``.

The benchmark starts the edge and the connector through this so the loop's effect (uvloop's TLS transport
allocates its read buffer lazily; CPython's zero-fills 256 KiB per connection) can be measured without
changing the subcommands themselves."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from fingress.cli import main as fingress_main
from fingress.demo.loops import LOOPS


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in LOOPS:
        print(
            f"usage: python -m fingress.bench.launch {{{','.join(LOOPS)}}} <fingress arguments>",
            file=sys.stderr,
        )
        return 2
    if argv[0] == "uvloop":
        import uvloop  # only when asked for

        # Set at process entry, before the subcommand's asyncio.run creates its loop.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return fingress_main(list(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
