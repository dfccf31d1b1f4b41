"""Why an agent's User went to LOGOUT: expected, a supervisor, Finesse forcing it, or a stale forced logout.

Finesse tells a logout only through the User's reason code: 999 is a supervisor's, the configured
``forced_logout_reason_codes`` (255 by default) are forced logouts (presence lost, node switch).
"""

from __future__ import annotations

from collections.abc import Collection

from connector.finesse.models import User

SUPERVISOR_REASON_CODE = 999


def reason_code_number(user: User) -> int | None:
    """The User's reason code as a number (from the reason code object, else a numeric reason code id)."""
    if user.reason_code is not None and user.reason_code.code is not None:
        return user.reason_code.code
    if user.reason_code_id is not None and user.reason_code_id.isdigit():
        return int(user.reason_code_id)
    return None


def is_forced_logout(user: User | None, forced_codes: Collection[int]) -> bool:
    """The User carries one of the forced-logout reason codes."""
    return user is not None and reason_code_number(user) in forced_codes


def ended_reason(user: User, expected: str | None) -> str:
    """The ``session.ended`` reason for a User in LOGOUT: the expected one, ``supervisor`` or
    ``forced_logout``."""
    if expected is not None:
        return expected
    if reason_code_number(user) == SUPERVISOR_REASON_CODE:
        return "supervisor"
    return "forced_logout"
