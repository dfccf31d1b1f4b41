"""edge.malloc_tuning: a fixed mmap threshold keeps large blocks (the loop's per-connection TLS read
buffers) in mappings of their own after one has been freed, and the edge applies it as it starts."""

from __future__ import annotations

import ctypes
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

from edge.server import EdgeServer
from tests.edge.fakes import FakeUpstream
from tests.edge.servers import IdentityProvider
from tests.support.need import need_glibc


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mapped_bytes(libc: ctypes.CDLL) -> int:
    """Bytes malloc holds in mappings of their own (``hblkhd``)."""
    mallinfo2 = libc.mallinfo2
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().hblkhd)


def _large_blocks_mapped() -> list[bool]:
    """In this process: whether each of three 256 KiB blocks, allocated and freed in turn, was a mapping
    of its own."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    mapped = []
    for _ in range(3):
        before = _mapped_bytes(libc)
        block = libc.malloc(256 * 1024)
        assert block
        mapped.append(_mapped_bytes(libc) - before >= 256 * 1024)
        libc.free(block)
    return mapped


_CHILD = """
import json, sys
from edge.malloc_tuning import fix_mmap_threshold
from tests.edge.test_malloc_tuning import _large_blocks_mapped
fixed = fix_mmap_threshold() if sys.argv[1] == "fixed" else None
print(json.dumps({"fixed": fixed, "mapped": _large_blocks_mapped()}))
"""


def _in_fresh_process(mode: str) -> dict[str, Any]:
    # A fresh interpreter: in this one, earlier tests leave free heap blocks that a request may reuse.
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_fixed_threshold_keeps_large_blocks_mapped_after_one_was_freed() -> None:
    need_glibc()
    # glibc's dynamic threshold rises past 256 KiB when such a block is freed, and later ones come from
    # the heap; fixed, each is a mapping of its own.
    assert _in_fresh_process("dynamic")["mapped"][1:] == [False, False]
    assert _in_fresh_process("fixed") == {"fixed": True, "mapped": [True, True, True]}


async def test_the_edge_tunes_malloc_once_as_it_starts(
    idp: IdentityProvider, tmp_path: Path, ca_file: Path, server_ssl_context: ssl.SSLContext
) -> None:
    # Imported here: the child interpreters above import this module, and the conftest's imports (httpx)
    # free large blocks that move glibc's dynamic threshold before the child measures it.
    from tests.edge.conftest import loopback_edge_config

    config = loopback_edge_config(idp, ca_file, tmp_path)
    calls: list[str] = []
    server = EdgeServer(
        config=config,
        upstream=FakeUpstream(),
        ssl_context_factory=lambda: server_ssl_context,
        tune_malloc=lambda: calls.append("tuned"),
    )
    assert calls == []
    async with server:
        assert calls == ["tuned"]
