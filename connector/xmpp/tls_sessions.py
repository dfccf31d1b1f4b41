"""TLS sessions kept for resumption: the next connection to the same server skips the full handshake.

A connector opens one XMPP connection per agent to the same Finesse node, and after a restart all of
them at once: a full TLS 1.3 handshake costs the client ~0.5 ms more CPU than a resumed one (certificate
chain, signature, host name) and the server ~0.15 ms more (see the README's performance section). A
resumed handshake still runs a fresh (EC)DHE exchange, so forward secrecy is kept; what it skips is
authenticating the server again, which is why a session is only ever offered to the exact endpoint it
was verified for (host, port and the name checked against the certificate) and only with the
:class:`ssl.SSLContext` that verified it (a reloaded trust store starts afresh).

A server that does not resume (no tickets, a ticket it no longer accepts, single-use tickets already
spent by a concurrent connection) answers with a full handshake: resumption only ever saves work.
"""

from __future__ import annotations

import ssl
from collections import OrderedDict

Endpoint = tuple[str, int, str]  # host, port, TLS server name

# Endpoints remembered; a connector talks to two Finesse nodes, an app to one edge.
MAX_ENDPOINTS = 16


class TlsSessionCache:
    """The latest resumable session per endpoint, for one :class:`ssl.SSLContext`."""

    def __init__(self, ssl_context: ssl.SSLContext, *, max_endpoints: int = MAX_ENDPOINTS) -> None:
        self.ssl_context = ssl_context
        self._max_endpoints = max_endpoints
        self._sessions: OrderedDict[Endpoint, ssl.SSLSession] = OrderedDict()

    def __repr__(self) -> str:
        return f"TlsSessionCache(endpoints={len(self._sessions)})"

    def session_for(self, endpoint: Endpoint, ssl_context: ssl.SSLContext) -> ssl.SSLSession | None:
        """The session to offer ``endpoint`` on a connection made with ``ssl_context`` (none when that is
        not the context the cache belongs to)."""
        if ssl_context is not self.ssl_context:
            return None
        return self._sessions.get(endpoint)

    def remember(self, endpoint: Endpoint, tls: ssl.SSLObject) -> bool:
        """Keep ``tls``'s session for ``endpoint`` if the server gave one that can be resumed (in TLS 1.3
        the ticket comes after the handshake, with the first records read). True when kept."""
        if tls.context is not self.ssl_context:
            return False
        session = tls.session
        # TLS 1.3 resumes with tickets only; TLS 1.2 also with the session id the server keeps.
        resumable = session is not None and (
            session.has_ticket or (tls.version() != "TLSv1.3" and bool(session.id))
        )
        if session is None or not resumable:
            return False
        self._sessions[endpoint] = session
        self._sessions.move_to_end(endpoint)
        while len(self._sessions) > self._max_endpoints:
            self._sessions.popitem(last=False)
        return True

    def forget(self, endpoint: Endpoint) -> None:
        """Drop ``endpoint``'s session (a handshake that offered it failed)."""
        self._sessions.pop(endpoint, None)
