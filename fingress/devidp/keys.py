"""The dev IdP's signing keys: RSA 2048 for RS256, kept in one 0600 JSON file, newest first.

The newest key signs; up to ``max_keys`` are published in the JWKS, so a rotation does not invalidate the
tokens already issued. Each ``kid`` is the key's RFC 7638 thumbprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from fingress.devidp.errors import DevIdpError
from fingress.pki import write_atomically

SIGNING_ALGORITHM = "RS256"


def generate_signing_key() -> RSAKey:
    """A new RS256 signing key whose ``kid`` is its thumbprint."""
    key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": SIGNING_ALGORITHM}, private=True)
    return RSAKey.import_key({**key.as_dict(private=True), "kid": key.thumbprint()})


@dataclass(frozen=True)
class SigningKeys:
    """An immutable, ordered set of keys: ``keys[0]`` signs. ``repr`` shows key ids only."""

    keys: tuple[RSAKey, ...]

    def __repr__(self) -> str:
        return f"SigningKeys(kids={[key.kid for key in self.keys]!r})"

    @property
    def active(self) -> RSAKey:
        return self.keys[0]

    def rotated(self, new_key: RSAKey, *, max_keys: int = 2) -> SigningKeys:
        """A set with ``new_key`` signing and at most ``max_keys`` keys published."""
        return SigningKeys(keys=(new_key, *self.keys)[: max(1, max_keys)])

    def public_jwks(self) -> dict[str, Any]:
        """The JWKS document: public parts only."""
        return dict(KeySet(list(self.keys)).as_dict(private=False))

    def save(self, path: Path) -> None:
        """Write the private keys to ``path`` atomically with mode 0600."""
        document = {"keys": [key.as_dict(private=True) for key in self.keys]}
        write_atomically(path, json.dumps(document, indent=1).encode(), mode=0o600)

    @staticmethod
    def load(path: Path) -> SigningKeys:
        """The keys saved at ``path``; :class:`DevIdpError` if missing or unreadable."""
        try:
            document = json.loads(path.read_bytes())
            keys = tuple(RSAKey.import_key(item) for item in document["keys"])
        except FileNotFoundError as error:
            raise DevIdpError("devidp_missing", f"no signing keys at {path}") from error
        except (OSError, ValueError, KeyError, TypeError, JoseError) as error:
            raise DevIdpError("devidp_corrupt", f"{path}: not a signing key file") from error
        if not keys or not all(key.is_private and key.kid for key in keys):
            raise DevIdpError("devidp_corrupt", f"{path}: no usable private signing key")
        return SigningKeys(keys=keys)
