"""SASL mechanisms for the client (sans-I/O): PLAIN (RFC 4616) and SCRAM-SHA-1 (RFC 5802).

A mechanism produces the initial response, answers challenges and checks the data that comes with
``<success/>``. Every failure raises :class:`SaslFailure`, whose message never contains the password.
SCRAM verifies the server's signature, so a server that does not know the password cannot pretend
that authentication succeeded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Protocol

from connector.xmpp.saslprep import saslprep

# A hostile server could ask for billions of PBKDF2 rounds and pin a CPU; real servers use ~4,096–100,000.
MAX_SCRAM_ITERATIONS = 1_000_000


class SaslFailure(Exception):
    """The SASL exchange cannot go on; ``condition`` is the RFC 6120 §6.5 condition it amounts to."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


class SaslMechanism(Protocol):
    name: str

    def initial_response(self) -> bytes:
        """The bytes sent with ``<auth/>``."""

    def respond(self, challenge: bytes) -> bytes:
        """The answer to a ``<challenge/>``."""

    def verify_success(self, additional_data: bytes) -> None:
        """Check the data of ``<success/>``; raises :class:`SaslFailure` if the server is not trusted."""


class PlainMechanism:
    """RFC 4616 PLAIN: the password travels inside TLS. What Finesse offers."""

    name = "PLAIN"

    def __init__(self, *, username: str, password: str) -> None:
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        return f"PlainMechanism(username={self._username!r})"

    def initial_response(self) -> bytes:
        # authzid empty: act as the authenticated identity.
        return b"\0" + self._username.encode() + b"\0" + self._password.encode()

    def respond(self, challenge: bytes) -> bytes:
        raise SaslFailure("malformed-request", "PLAIN has no challenges")

    def verify_success(self, additional_data: bytes) -> None:
        return None


def _escape_saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _attributes(message: bytes) -> dict[str, str]:
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslFailure("malformed-request", "SCRAM message is not UTF-8") from None
    attributes: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise SaslFailure("malformed-request", "SCRAM message is not a list of attributes")
        attributes.setdefault(key, value)
    return attributes


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise SaslFailure("malformed-request", f"SCRAM {what} is not base64") from None


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha1).digest()


class ScramSha1Mechanism:
    """RFC 5802 SCRAM-SHA-1 without channel binding (``n,,``)."""

    name = "SCRAM-SHA-1"

    def __init__(self, *, username: str, password: str, nonce_factory: Callable[[], str]) -> None:
        try:
            prepared_username = saslprep(username)
            self._password = saslprep(password).encode()
        except ValueError as error:
            raise SaslFailure("malformed-request", f"credentials unusable for SCRAM ({error})") from None
        self._client_nonce = nonce_factory()
        if not self._client_nonce or "," in self._client_nonce:
            raise ValueError("SCRAM nonce must be non-empty printable text without commas")
        self._client_first_bare = f"n={_escape_saslname(prepared_username)},r={self._client_nonce}"
        self._server_signature: bytes | None = None

    def __repr__(self) -> str:
        return "ScramSha1Mechanism()"

    def initial_response(self) -> bytes:
        return ("n,," + self._client_first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        if self._server_signature is not None:
            raise SaslFailure("malformed-request", "unexpected second SCRAM challenge")
        attributes = _attributes(challenge)
        if "m" in attributes:
            raise SaslFailure("malformed-request", "SCRAM extension required by the server is unsupported")
        nonce, salt_text, iterations_text = (attributes.get(key, "") for key in "rsi")
        if not nonce.startswith(self._client_nonce) or len(nonce) == len(self._client_nonce):
            raise SaslFailure("malformed-request", "SCRAM server nonce does not extend ours")
        salt = _b64decode(salt_text, "salt")
        if not iterations_text.isdigit() or not 1 <= int(iterations_text) <= MAX_SCRAM_ITERATIONS:
            raise SaslFailure("malformed-request", "SCRAM iteration count out of range")
        salted = hashlib.pbkdf2_hmac("sha1", self._password, salt, int(iterations_text))
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha1(client_key).digest()  # noqa: S324 - RFC 5802 mandates SHA-1 here
        without_proof = f"c=biws,r={nonce}"
        auth_message = f"{self._client_first_bare},{challenge.decode()},{without_proof}".encode()
        client_signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
        self._server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify_success(self, additional_data: bytes) -> None:
        if self._server_signature is None:
            raise SaslFailure("malformed-request", "SCRAM success before the exchange was complete")
        attributes = _attributes(additional_data)
        if "e" in attributes:
            raise SaslFailure("not-authorized", f"SCRAM server error: {attributes['e'][:100]}")
        signature = _b64decode(attributes.get("v", ""), "server signature")
        if not hmac.compare_digest(signature, self._server_signature):
            raise SaslFailure("not-authorized", "SCRAM server signature does not match: server not trusted")


def choose_mechanism(
    offered: list[str],
    *,
    preference: tuple[str, ...],
    username: str,
    password: str,
    nonce_factory: Callable[[], str],
) -> SaslMechanism:
    """The first mechanism of ``preference`` the server offers; :class:`SaslFailure` when none is."""
    for name in preference:
        if name not in offered:
            continue
        if name == PlainMechanism.name:
            return PlainMechanism(username=username, password=password)
        if name == ScramSha1Mechanism.name:
            return ScramSha1Mechanism(username=username, password=password, nonce_factory=nonce_factory)
    listed = ", ".join(offered[:10]) or "none"
    raise SaslFailure("invalid-mechanism", f"no supported SASL mechanism offered (server offers: {listed})")
