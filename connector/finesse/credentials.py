"""An agent's Finesse credential, handed to the REST client with every request.

The deployment's auth mode decides which kind the session layer builds: ``password`` → HTTP Basic with
the agent's Finesse password, ``bearer`` → the caller's verified token. Secrets are excluded from ``repr``
(and so from every log line and traceback that shows a credential) and are only ever turned into an
``Authorization`` header value.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from connector.finesse.ids import AgentId
from edge.tunnel.errors import BadRequest

# Header values must be visible ASCII; a token is also limited to its RFC 6750 alphabet.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
MAX_SECRET_CHARS = 8192


def _check_agent_id(agent_id: str) -> None:
    # A colon would split differently in Basic auth; control characters break headers.
    if not agent_id or ":" in agent_id or _CONTROL.search(agent_id) or len(agent_id) > 128:
        raise BadRequest("invalid_finesse_credentials", "agent id cannot be used as a Finesse user name")


@dataclass(frozen=True, slots=True)
class PasswordCredentials:
    """The agent's own Finesse id and password (HTTP Basic)."""

    agent_id: AgentId
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        _check_agent_id(self.agent_id)
        if not self.password or len(self.password) > MAX_SECRET_CHARS:
            raise BadRequest("invalid_finesse_credentials", "the Finesse password is empty or too long")

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        pair = f"{self.agent_id}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class BearerCredentials:
    """A token Finesse trusts (SSO deployments), used on behalf of ``agent_id``."""

    agent_id: AgentId
    token: str = field(repr=False)
    # The token's `exp` (epoch seconds) as the edge verified it; None when unknown.
    expires_at: float | None = None

    def __post_init__(self) -> None:
        _check_agent_id(self.agent_id)
        if len(self.token) > MAX_SECRET_CHARS or not _TOKEN.fullmatch(self.token):
            raise BadRequest("invalid_finesse_credentials", "the bearer token is not a valid token")

    def outlives(self, other: BearerCredentials) -> bool:
        """Whether this token lives at least as long as ``other`` (an unknown expiry never wins over a known
        one): a late request carrying an older token must not replace a fresher one."""
        if other.expires_at is None:
            return True
        return self.expires_at is not None and self.expires_at >= other.expires_at

    def authorization(self) -> str:
        """The ``Authorization`` header value."""
        return "Bearer " + self.token


Credentials = PasswordCredentials | BearerCredentials
