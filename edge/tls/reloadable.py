"""A server TLS context whose certificate and key rotate without a restart and without dropping connections.

Servers (uvicorn, the ``websockets`` server) are handed one long-lived *outer* context. Its ``sni_callback``
runs at the start of every handshake, with or without SNI, and points that connection at the *current* inner
context. :meth:`ReloadableServerContext.reload` builds and validates a fresh inner context from the files and
swaps that single reference; open connections keep the session they negotiated, new handshakes get the new
certificate. A failed reload changes nothing and is reported.

OpenSSL takes the certificate, key and trust store from the inner context but keeps ``verify_mode``, the
protocol versions, cipher list and key-exchange groups from the outer one (copied into each connection
before the callback runs; seen for the versions: a TLS 1.2 client still got in after a swap to a
TLS 1.3-only inner context). So both are built by the same code, and the profile and whether mTLS is on
are fixed for the holder's life; certificate, key and the CA file's *contents* reload.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.tls.errors import TlsMaterialError
from edge.tls.material import CertificateInfo, FileStamp, file_stamp, read_pem, validate_chain_and_key
from edge.tls.profiles import TlsProfile, new_server_context

# How often a reload re-reads when the files change under it (a rotation writing its second file).
_READ_ATTEMPTS = 3


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: ``installed`` a new context, or left the old one serving because of ``error``."""

    installed: bool
    certificate: CertificateInfo
    error: TlsMaterialError | None = None


@dataclass(frozen=True)
class _Built:
    context: ssl.SSLContext
    certificate: CertificateInfo
    stamps: tuple[FileStamp, ...]


class ReloadableServerContext:
    """Holds the serving certificate of one listener and swaps it atomically on :meth:`reload`.

    Construction loads the files and raises :class:`TlsMaterialError` if they cannot serve (a listener must
    not start with bad material). Afterwards reloads never raise: they report through :class:`ReloadOutcome`
    and :attr:`last_error` (only :meth:`prepare` raises, to veto a policy change).
    """

    def __init__(
        self,
        *,
        cert_file: Path,
        key_file: Path,
        profile: TlsProfile = "intermediate",
        client_ca_file: Path | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.cert_file = Path(cert_file)
        self.key_file = Path(key_file)
        self.profile: TlsProfile = profile
        self.client_ca_file = Path(client_ca_file) if client_ca_file is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        built = self._build(self.cert_file, self.key_file)
        self._current = built
        self._seen_stamps = built.stamps
        self.last_error: TlsMaterialError | None = None
        self.reloads_installed = 0
        self.reloads_failed = 0
        # The outer context carries a certificate too (the first one) so that it is complete on its own;
        # the callback replaces it per connection with whatever is current.
        self._outer = self._build(self.cert_file, self.key_file).context
        self._outer.sni_callback = self._select_current

    @property
    def context(self) -> ssl.SSLContext:
        """The context to give a server once; it follows every successful reload."""
        return self._outer

    @property
    def certificate(self) -> CertificateInfo:
        """The certificate new handshakes currently receive."""
        return self._current.certificate

    @property
    def mutual_tls(self) -> bool:
        """Whether clients must present a certificate from ``client_ca_file``."""
        return self.client_ca_file is not None

    def context_factory(self) -> ssl.SSLContext:
        """The same as :attr:`context`, as a zero-argument factory."""
        return self._outer

    def prepare(
        self, *, cert_file: Path, key_file: Path, profile: TlsProfile | None = None
    ) -> Callable[[], None]:
        """Phase one of a transactional change of the certificate *paths* (a policy reload): build and
        validate a context from ``cert_file``/``key_file`` without touching what serves, raising
        :class:`TlsMaterialError` (a ``ConfigError``) to veto. The returned callable makes it current and
        cannot fail. A different ``profile`` is vetoed with ``tls_profile_fixed``: it needs a new listener."""
        if profile is not None and profile != self.profile:
            raise TlsMaterialError(
                "tls_profile_fixed",
                "profile",
                f"changing the TLS profile from {self.profile} needs a restart",
            )
        cert_file, key_file = Path(cert_file), Path(key_file)
        built = self._build(cert_file, key_file)

        def commit() -> None:
            with self._lock:
                self.cert_file, self.key_file = cert_file, key_file
                self._install(built)

        return commit

    def status(self) -> dict[str, Any]:
        """A JSON-able summary for the admin listener: the serving certificate, its expiry, reload counts
        and the last reload error (code and message; never key material)."""
        certificate = self._current.certificate
        error = self.last_error
        return {
            "profile": self.profile,
            "mutual_tls": self.mutual_tls,
            "cert_file": str(self.cert_file),
            "fingerprint_sha256": certificate.fingerprint_sha256,
            "subject": certificate.subject,
            "serial_number": f"{certificate.serial_number:x}",
            "not_before": certificate.not_before.isoformat(),
            "not_after": certificate.not_after.isoformat(),
            "seconds_left": int(certificate.seconds_left(self._clock())),
            "reloads_installed": self.reloads_installed,
            "reloads_failed": self.reloads_failed,
            "last_error": None if error is None else {"code": error.code, "message": str(error)},
        }

    def uvicorn_context_factory(
        self, config: Any, default_factory: Callable[[], ssl.SSLContext]
    ) -> ssl.SSLContext:
        """For ``uvicorn.Config(ssl_context_factory=...)``: ignores uvicorn's own TLS settings."""
        return self._outer

    def reload(self) -> ReloadOutcome:
        """Build and validate a fresh context from the files and swap it in; on failure keep the old one."""
        with self._lock:
            # Stamped before reading: if the files change during a failing read, polling notices and retries.
            stamps_before = self._stamps()
            try:
                built = self._build(self.cert_file, self.key_file)
            except TlsMaterialError as error:
                self.last_error = error
                self.reloads_failed += 1
                self._seen_stamps = stamps_before
                return ReloadOutcome(installed=False, certificate=self._current.certificate, error=error)
            self._install(built)
            return ReloadOutcome(installed=True, certificate=built.certificate)

    def files_changed(self) -> bool:
        """Whether any file differs from what the last reload saw (a few ``stat`` calls, no reads)."""
        return self._stamps() != self._seen_stamps

    def reload_if_changed(self) -> ReloadOutcome | None:
        """:meth:`reload` when :meth:`files_changed`, else ``None``."""
        return self.reload() if self.files_changed() else None

    async def watch(
        self, *, interval_s: float = 2.0, on_outcome: Callable[[ReloadOutcome], None] | None = None
    ) -> None:
        """Poll the files every ``interval_s`` and reload on change, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            outcome = self.reload_if_changed()
            if outcome is not None and on_outcome is not None:
                on_outcome(outcome)

    def _select_current(
        self, ssl_object: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, context: ssl.SSLContext
    ) -> None:
        ssl_object.context = self._current.context

    def _install(self, built: _Built) -> None:
        self._current = built
        self._seen_stamps = built.stamps
        self.last_error = None
        self.reloads_installed += 1

    def _stamps(self, cert_file: Path | None = None, key_file: Path | None = None) -> tuple[FileStamp, ...]:
        paths = [cert_file or self.cert_file, key_file or self.key_file]
        if self.client_ca_file is not None:
            paths.append(self.client_ca_file)
        return tuple(file_stamp(path) for path in paths)

    def _build(self, cert_file: Path, key_file: Path) -> _Built:
        # A rotation replaces two files one after the other; if they change while being read, read again,
        # so that what was validated is exactly what OpenSSL loaded.
        for _ in range(_READ_ATTEMPTS):
            before = self._stamps(cert_file, key_file)
            certificate = validate_chain_and_key(
                read_pem(cert_file, "cert_file"), read_pem(key_file, "key_file"), now=self._clock()
            )
            context = new_server_context(self.profile, client_ca_file=self.client_ca_file)
            try:
                context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
            except (OSError, ssl.SSLError) as error:
                if self._stamps(cert_file, key_file) == before:
                    raise TlsMaterialError(
                        "tls_cert_rejected", "cert_file", f"{cert_file}: OpenSSL refused the certificate"
                    ) from error
                continue
            if self._stamps(cert_file, key_file) == before:
                return _Built(context=context, certificate=certificate, stamps=before)
        raise TlsMaterialError("tls_files_changing", "cert_file", f"{cert_file}: kept changing while read")
