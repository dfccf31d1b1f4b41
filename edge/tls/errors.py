"""The error raised when certificate, key or CA material cannot serve."""

from __future__ import annotations

from edge.tunnel.errors import ConfigError


class TlsMaterialError(ConfigError):
    """Certificate, key, CA files or TLS settings that cannot be used.

    ``code`` is stable, for logs, metrics and the admin listener: ``tls_profile_unknown``,
    ``tls_file_unreadable``, ``tls_cert_invalid``, ``tls_key_invalid``, ``tls_key_mismatch``,
    ``tls_key_missing`` (a certificate path without a key path), ``tls_chain_invalid``, ``tls_cert_expired``,
    ``tls_cert_not_yet_valid``, ``tls_ca_invalid``, ``tls_cert_rejected`` (OpenSSL refused what passed our
    checks), ``tls_profile_fixed`` (a live holder's profile cannot change), ``tls_files_changing`` (the files
    kept changing while being read: a rotation is in progress). Messages name files, never key material.
    """

    def __init__(self, code: str, key_path: str, message: str) -> None:
        self.code = code
        super().__init__("tls", [(key_path, message)])
