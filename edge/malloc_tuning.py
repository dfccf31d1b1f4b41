"""glibc's malloc, told to keep large blocks in mappings of their own (``M_MMAP_THRESHOLD``).

Every TLS connection of the edge's loop (uvloop) holds a 256 KiB read buffer, malloc'd once per
connection and touched only in its first page or two. Above glibc's mmap threshold (128 KiB) such a block
is a mapping of its own: only its touched pages are resident, and freeing it gives everything back.
But glibc raises the threshold each time a mapped block is freed (the "dynamic" threshold): after the
first TLS connection closes, every later read buffer is carved from the main heap instead, where the
blocks between them fragment and the heap cannot shrink. Setting the threshold explicitly switches the
dynamic adjustment off. Measured with ``benchmarks/edge_socket_memory.py --churn 5``: ~2 KiB less per
event socket; ``fingress bench`` with ``MALLOC_MMAP_THRESHOLD_=131072`` in the environment: ~5 KiB less
per agent. ``mallopt`` acts on the allocations that follow, so the edge calls it as it starts.
"""

from __future__ import annotations

import ctypes
import platform

# glibc's default initial threshold; what matters is that it is set, which freezes it.
MMAP_THRESHOLD_BYTES = 128 * 1024
_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h


def fix_mmap_threshold(threshold_bytes: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold_bytes`` for this process. Returns False (and changes
    nothing) where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold_bytes))
