"""Restricting the key-exchange groups an ``ssl.SSLContext`` offers.

Python's ``ssl`` module gained ``SSLContext.set_groups`` only after 3.11; 3.11 has ``set_ecdh_curve``, which
narrows the context to ONE group. Mozilla's profiles want exactly X25519, P-256 and P-384, and OpenSSL 3's
default list also offers X448, P-521 and finite-field groups, which scanners flag. So, in order:

1. ``SSLContext.set_groups`` when the running Python has it;
2. on CPython 3.11–3.14 with OpenSSL 3, OpenSSL's own ``SSL_CTX_set1_groups_list`` through ``ctypes``. Those
   versions lay ``PySSLContext`` out as ``PyObject_HEAD`` followed by the ``SSL_CTX *``; the pointer is
   cross-checked (``SSL_CTX_get_options`` must equal ``context.options``) before anything is written;
3. otherwise ``set_ecdh_curve("prime256v1")``: still compliant (a subset), every client speaks P-256, but a
   TLS 1.3 client that guessed X25519 pays one HelloRetryRequest round trip.
"""

from __future__ import annotations

import ctypes
import ssl
import sys
from collections.abc import Sequence

#: Mozilla's ``tls_curves`` for both the intermediate and the modern profile, in preference order.
MOZILLA_GROUPS: tuple[str, ...] = ("X25519", "P-256", "P-384")

_SSL_CTRL_SET_GROUPS_LIST = 92  # from openssl/ssl.h; SSL_CTX_set1_groups_list is a macro over SSL_CTX_ctrl
_LAYOUT_KNOWN_VERSIONS = ((3, 11), (3, 12), (3, 13), (3, 14))


def restrict_groups(context: ssl.SSLContext, groups: Sequence[str] = MOZILLA_GROUPS) -> str:
    """Limit ``context`` to ``groups`` (OpenSSL names). Returns how: ``"set_groups"``, ``"openssl"`` or
    ``"p256_only"`` (the fallback). Never leaves the context with OpenSSL's unrestricted default list."""
    group_list = ":".join(groups)
    set_groups = getattr(context, "set_groups", None)
    if set_groups is not None:
        set_groups(group_list)
        return "set_groups"
    if _set_groups_via_openssl(context, group_list):
        return "openssl"
    context.set_ecdh_curve("prime256v1")
    return "p256_only"


def _set_groups_via_openssl(context: ssl.SSLContext, group_list: str) -> bool:
    if sys.implementation.name != "cpython" or sys.version_info[:2] not in _LAYOUT_KNOWN_VERSIONS:
        return False
    if ssl.OPENSSL_VERSION_INFO < (3, 0, 0, 0, 0):
        return False
    try:
        import _ssl  # the extension module is linked against the libssl the ssl module uses

        library = ctypes.CDLL(_ssl.__file__)
        ctrl = library.SSL_CTX_ctrl
        get_options = library.SSL_CTX_get_options
    except (ImportError, OSError, AttributeError):
        return False
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    ctrl.restype = ctypes.c_long
    get_options.argtypes = [ctypes.c_void_p]
    get_options.restype = ctypes.c_uint64
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer or get_options(pointer) != int(context.options):
        return False
    return bool(ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, group_list.encode("ascii")) == 1)
