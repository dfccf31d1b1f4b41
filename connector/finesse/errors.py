"""Finesse-specific branches of the project's error tree (:mod:`edge.tunnel.errors`).

::

    ProtocolError
     └── FinesseProtocolError      Finesse sent XML we cannot accept (garbage, bomb, too big, too deep)
    ApiError
     ├── Unauthorized("finesse_auth_failed")          wrong password or token (never retried by us)
     ├── Unavailable
     │    ├── AccountLocked("finesse_account_locked")  Finesse locked the account (5 bad passwords, 5 min)
     │    ├── SideOutOfService("finesse_out_of_service") the side answered 503: fail over
     │    └── SideUnreachable("finesse_unreachable")   no connection to the side at all: fail over
     ├── UpstreamTimeout("finesse_timeout")           the side accepted the connection but did not answer
     └── UpstreamError("finesse_…")                   any other refusal or a malformed answer

The REST client raises only :class:`~edge.tunnel.errors.ApiError` subclasses; the parsers raise only
:class:`FinesseProtocolError`. ``extra`` of an error built from a Finesse ``ApiError`` document carries
``error_type``, ``error_message`` and ``error_data`` so the public API can show what Finesse said.
"""

from __future__ import annotations

from edge.tunnel.errors import ProtocolError, Unavailable


class FinesseProtocolError(ProtocolError):
    """Finesse (or something pretending to be it) sent a document we refuse to interpret.

    ``reason`` is one of ``finesse_xml_malformed``, ``finesse_xml_forbidden`` (DTD, entity, external
    reference), ``finesse_xml_too_large``, ``finesse_xml_too_deep`` and ``finesse_xml_unexpected`` (well
    formed, but not the document that was expected).
    """


class AccountLocked(Unavailable):
    """Finesse locked the agent's account after repeated bad passwords; retrying only extends the lock."""


class SideOutOfService(Unavailable):
    """The Finesse side answered 503 (``SERVER_OUT_OF_SERVICE``): move the session to the other side."""


class SideUnreachable(Unavailable):
    """No connection to the Finesse side could be made (refused, timed out, TLS failed): fail over."""
