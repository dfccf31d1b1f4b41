"""Run a ``fingress`` subcommand on a chosen event loop: ``python -m fingress.bench.launch uvloop edge ...``.

The benchmark starts the edge and the connector through this so the loop's effect (uvloop's TLS transport
allocates its read buffer lazily; CPython's zero-fills 256 KiB per connection) can be measured without
changing the subcommands themselves."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from fingress.cli import main as fingress_main
from fingress.loops import LOOPS

# Subcommands with a --loop option of their own.
_HAS_LOOP_OPTION = ("edge", "connector")


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in LOOPS:
        print(
            f"usage: python -m fingress.bench.launch {{{','.join(LOOPS)}}} <fingress arguments>",
            file=sys.stderr,
        )
        return 2
    loop, command = argv[0], list(argv[1:])
    if command and command[0] in _HAS_LOOP_OPTION:
        # These choose their loop themselves (fingress edge defaults to uvloop): say which one explicitly.
        return fingress_main([command[0], "--loop", loop, *command[1:]])
    if loop == "uvloop":
        import uvloop  # only when asked for

        # Set at process entry, before the subcommand's asyncio.run creates its loop.
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return fingress_main(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
