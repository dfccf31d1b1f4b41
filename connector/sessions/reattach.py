"""Whether a sign-in would change anything for an agent Finesse already has signed in.

Finesse allows signing in again while signed in and keeps the agent's state, so when the User shows the
agent signed in exactly as a sign-in asks, that sign-in changes nothing in Finesse; sending it would only
cost a REST request and a notification to publish, send, receive and parse, for every agent of a
restarting connector at once. The session then *reattaches* instead (see
:meth:`~connector.sessions.session.AgentSession.sign_in`): it takes the agent as Finesse shows it.
"""

from __future__ import annotations

from connector.finesse.commands import SignIn
from connector.finesse.models import User


def signed_in_as(user: User, command: SignIn) -> bool:
    """True when ``user`` shows the agent signed in exactly as ``command`` asks: on its extension, with
    the same mobile-agent mode and dial number (or as a mobile agent on neither), and on the device it
    names, when it names one.

    A device the User does not show (releases without ``activeDeviceId``) is not taken as the same one:
    then only Finesse's answer to the sign-in can tell, so the sign-in is sent."""
    if not user.signed_in or user.extension != command.extension:
        return False
    if user.mobile_agent != command.mobile_agent:
        return False
    return command.active_device_id is None or user.active_device_id == command.active_device_id
