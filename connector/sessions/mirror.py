"""What the connector knows of one agent in Finesse, and the events each change produces (sans-I/O).

:class:`AgentMirror` holds the agent's current ``User`` and dialogs. Feeding it a parsed notification
(:meth:`AgentMirror.apply`) or a fresh REST read after a reconnect (:meth:`AgentMirror.reconcile`) updates
it and returns the public events that describe the change, as ``(type, data)`` drafts for the event log:

* a User that differs from the last one → ``agent.updated``
* a Dialog POST → ``dialog.created``; PUT → ``dialog.updated``, or ``dialog.ended`` once the call is over
  for the agent (dialog DROPPED/FAILED or the agent's own participant DROPPED, unless the agent's
  participant is in WRAP_UP: the dialog then stays for the wrap-up data); DELETE → ``dialog.ended``
* asynchronous ``apiErrors`` → ``request.failed`` (the request id when Finesse echoed one)

Finesse sends whole objects, not deltas, and may repeat them: an unchanged object produces no event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from connector.finesse.ids import AgentId, DialogId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    Dialog,
    DialogList,
    Update,
    UpdateEvent,
    User,
    sharing_unchanged_parts,
)
from connector.sessions.views import JsonObject, agent_view, api_error_view, dialog_view

_ENDED_DIALOG_STATES = frozenset({"DROPPED", "FAILED"})
_ENDED_PARTICIPANT_STATES = frozenset({"DROPPED", "FAILED"})
_WRAP_UP = "WRAP_UP"
# States in which the agent is on (or being offered) a call: a policy state change must wait.
_BUSY_STATES = frozenset(
    {
        AgentState.RESERVED,
        AgentState.RESERVED_OUTBOUND,
        AgentState.RESERVED_OUTBOUND_PREVIEW,
        AgentState.TALKING,
        AgentState.HOLD,
    }
)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event to publish: its public type and JSON data."""

    type: str
    data: JsonObject


def dialog_id_from_source(source: str) -> DialogId | None:
    """``/finesse/api/Dialog/123`` → ``123``."""
    head, _, tail = source.rstrip("/").rpartition("/")
    return DialogId(tail) if tail and head.lower().endswith("/dialog") else None


class AgentMirror:
    """The agent's User and dialogs as last seen, turning changes into event drafts."""

    def __init__(self, agent_id: AgentId) -> None:
        self.agent_id = agent_id
        self.user: User | None = None
        self.dialogs: dict[DialogId, Dialog] = {}
        # The extension dialogs are seen from; kept after sign-out so a final dialog view still has it.
        self._extension = ""

    @property
    def extension(self) -> str:
        return self._extension

    @property
    def on_call(self) -> bool:
        """True while the agent has a call (offered, active, held) that a state change must not cut."""
        if self.user is not None and self.user.state in _BUSY_STATES:
            return True
        return any(self._own_state(dialog) != _WRAP_UP for dialog in self.dialogs.values())

    def snapshot(self) -> JsonObject:
        """The data of a ``snapshot`` frame: the whole agent and every dialog."""
        return {
            "agent": agent_view(self.user) if self.user is not None else None,
            "dialogs": [dialog_view(dialog, self._extension) for dialog in self.dialogs.values()],
        }

    def agent_json(self) -> JsonObject | None:
        return agent_view(self.user) if self.user is not None else None

    def dialog_json(self, dialog: Dialog) -> JsonObject:
        return dialog_view(dialog, self._extension)

    def apply(self, update: Update) -> list[Draft]:
        """Take one notification into account; the events it produces, in order."""
        data = update.data
        if isinstance(data, User):
            return self._set_user(data)
        if isinstance(data, ApiErrorList):
            return [
                Draft(
                    "request.failed",
                    {
                        "request_id": update.request_id,
                        "source": update.source,
                        "errors": [api_error_view(error) for error in data.errors],
                    },
                )
            ]
        if isinstance(data, DialogList):
            if update.event is UpdateEvent.DELETE:
                return [draft for d in data.dialogs for draft in self._end_dialog(d.id)]
            return [draft for dialog in data.dialogs for draft in self._set_dialog(dialog)]
        if isinstance(data, Dialog):
            if update.event is UpdateEvent.DELETE:
                return self._end_dialog(data.id)
            return self._set_dialog(data)
        if update.event is UpdateEvent.DELETE:
            dialog_id = dialog_id_from_source(update.source)
            if dialog_id is not None:
                return self._end_dialog(dialog_id)
        return []

    def reconcile(self, user: User, dialogs: Iterable[Dialog]) -> list[Draft]:
        """Take a fresh read of User and Dialogs (after a reconnect, notifications may have been missed)."""
        drafts = self._set_user(user)
        current = {dialog.id: dialog for dialog in dialogs}
        for dialog_id in [known for known in self.dialogs if known not in current]:
            drafts += self._end_dialog(dialog_id)
        for dialog in current.values():
            drafts += self._set_dialog(dialog)
        return drafts

    def _set_user(self, user: User) -> list[Draft]:
        previous = self.user
        self.user = user
        if user.extension:
            self._extension = user.extension
        if previous == user:
            return []
        return [Draft("agent.updated", agent_view(user))]

    def _set_dialog(self, dialog: Dialog) -> list[Draft]:
        previous = self.dialogs.get(dialog.id)
        if self._over_for_agent(dialog):
            if previous is None:
                return []
            del self.dialogs[dialog.id]
            return [Draft("dialog.ended", {"id": dialog.id, "dialog": self.dialog_json(dialog)})]
        if previous is None:
            self.dialogs[dialog.id] = dialog
            return [Draft("dialog.created", self.dialog_json(dialog))]
        if previous == dialog:
            return []  # the one kept is the same: nothing new stays alive
        dialog = self.dialogs[dialog.id] = sharing_unchanged_parts(dialog, previous)
        return [Draft("dialog.updated", self.dialog_json(dialog))]

    def _end_dialog(self, dialog_id: DialogId) -> list[Draft]:
        previous = self.dialogs.pop(dialog_id, None)
        if previous is None:
            return []
        return [Draft("dialog.ended", {"id": dialog_id, "dialog": self.dialog_json(previous)})]

    def _own_state(self, dialog: Dialog) -> str:
        own = dialog.participant(self._extension) if self._extension else None
        return own.state.upper() if own is not None else ""

    def _over_for_agent(self, dialog: Dialog) -> bool:
        own_state = self._own_state(dialog)
        if own_state == _WRAP_UP:
            # The agent still wraps this call up (UPDATE_CALL_DATA): it stays until Finesse removes it.
            return False
        return dialog.state.upper() in _ENDED_DIALOG_STATES or own_state in _ENDED_PARTICIPANT_STATES
