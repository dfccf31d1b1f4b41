"""Certificate paths from the edge's policy file, applied as part of its all-or-nothing reload.

:class:`TlsPolicyParticipant` fits ``edge.policy_runtime.PolicyParticipant``: ``prepare`` builds and validates
a context from the policy's ``tls.cert_file``/``tls.key_file`` and vetoes the whole reload with a
``ConfigError`` (:class:`TlsMaterialError`) if they cannot serve; the returned commit swaps them in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from edge.tls.errors import TlsMaterialError
from edge.tls.profiles import parse_profile
from edge.tls.reloadable import ReloadableServerContext


class TlsSection(Protocol):
    """The policy's ``[tls]`` section, as far as this module reads it."""

    @property
    def cert_file(self) -> Path | None: ...

    @property
    def key_file(self) -> Path | None: ...

    @property
    def profile(self) -> str: ...


class PolicyWithTls(Protocol):
    @property
    def tls(self) -> TlsSection: ...


def _nothing() -> None:
    return None


class TlsPolicyParticipant:
    """Applies the policy's certificate paths to ``tls`` (the public listener's reloadable context).

    A policy without ``tls.cert_file`` leaves the certificate alone (it came from elsewhere, e.g. the
    edge configuration); one with ``cert_file`` but no ``key_file`` is vetoed, and so is a ``tls.profile``
    other than the listener's (a profile change needs a restart, see :mod:`edge.tls.reloadable`)."""

    def __init__(self, *, tls: ReloadableServerContext) -> None:
        self._tls = tls

    def prepare(self, policy: PolicyWithTls) -> Callable[[], None]:
        section = policy.tls
        profile = parse_profile(section.profile)
        if profile != self._tls.profile:
            raise TlsMaterialError(
                "tls_profile_fixed",
                "tls.profile",
                f"changing the TLS profile from {self._tls.profile} needs a restart",
            )
        if section.cert_file is None and section.key_file is None:
            return _nothing
        if section.cert_file is None or section.key_file is None:
            raise TlsMaterialError("tls_key_missing", "tls", "cert_file and key_file go together")
        return self._tls.prepare(cert_file=section.cert_file, key_file=section.key_file, profile=profile)
