"""Which notification settles which request: the ``accepts`` predicates of the session's actions.

Finesse answers an action with 202 and tells the outcome in a later notification; these say whether a
given notification is the one an action waits for (see :mod:`connector.sessions.pending`).
"""

from __future__ import annotations

from connector.finesse.ids import DialogId
from connector.finesse.models import AgentState, Dialog, DialogList, Update, UpdateEvent, User
from connector.sessions.mirror import dialog_id_from_source


def signed_in_on(update: Update, extension: str) -> bool:
    """The User, signed in on ``extension``."""
    data = update.data
    return isinstance(data, User) and data.signed_in and data.extension == extension


def user_heading_to(update: Update, wanted: AgentState) -> bool:
    """The User, in state ``wanted`` or with it as the pending state (applied when the call ends)."""
    data = update.data
    return isinstance(data, User) and (data.state is wanted or data.pending_state is wanted)


def dialogs_in(update: Update) -> tuple[Dialog, ...]:
    """The dialogs a notification carries (none for other objects)."""
    if isinstance(update.data, Dialog):
        return (update.data,)
    if isinstance(update.data, DialogList):
        return update.data.dialogs
    return ()


def concerns_dialog(update: Update, dialog_id: DialogId) -> bool:
    """The notification carries the dialog ``dialog_id`` or says it was deleted."""
    if any(dialog.id == dialog_id for dialog in dialogs_in(update)):
        return True
    return update.event is UpdateEvent.DELETE and dialog_id_from_source(update.source) == dialog_id
