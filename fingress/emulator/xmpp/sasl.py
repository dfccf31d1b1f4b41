"""SASL PLAIN (RFC 4616) as Finesse's notification service takes it: the agent id and its password."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field


class SaslRefused(Exception):
    """The response cannot be accepted; ``condition`` is the RFC 6120 §6.5 SASL failure condition."""

    def __init__(self, condition: str) -> None:
        super().__init__(condition)
        self.condition = condition


@dataclass(frozen=True, slots=True)
class PlainCredentials:
    agent_id: str
    password: str = field(repr=False)


def decode_plain(response: str, *, domain: str) -> PlainCredentials:
    """Decode the base64 ``authzid NUL authcid NUL passwd`` of a PLAIN ``<auth/>``.

    The authentication identity is the bare agent id, or ``id@domain`` of this server's domain; an
    authorization identity, when given, must name the same agent. Raises :class:`SaslRefused`.
    """
    try:
        raw = base64.b64decode(response.strip(), validate=True)
        authzid, authcid, password = raw.decode("utf-8").split("\0")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SaslRefused("incorrect-encoding") from None
    agent_id = _local_part(authcid, domain)
    if not agent_id or not password:
        raise SaslRefused("not-authorized")
    if authzid and _local_part(authzid, domain) != agent_id:
        raise SaslRefused("invalid-authzid")
    return PlainCredentials(agent_id=agent_id, password=password)


def _local_part(identity: str, domain: str) -> str:
    local, at, identity_domain = identity.partition("@")
    if at and identity_domain.lower() != domain.lower():
        return ""
    return local
