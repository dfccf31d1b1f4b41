"""Turns CTI changes into Finesse notifications and publishes them through the :class:`Hub` on every side
that is in service (both sides share one CTI state, so an agent connected to either one sees the change)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

from . import render
from .directory import Directory
from .errors import AsyncError
from .hub import SIDES, Hub, Side
from .model import Agent, Dialog
from .render import ActionsOf


class Notifier:
    def __init__(
        self,
        *,
        hub: Hub,
        directory: Directory,
        in_service: Callable[[Side], bool],
        actions_of: ActionsOf,
    ) -> None:
        self._hub = hub
        self._directory = directory
        self._in_service = in_service
        self._dialogs = render.DialogWriter(actions_of=actions_of)

    def _publish(self, agent_id: str, node: str, document: str) -> None:
        for side in SIDES:
            if self._in_service(side):
                self._hub.publish(side, agent_id, node, document)

    def user_element(self, agent: Agent, tag: str) -> ET.Element:
        """The agent's User element (``User`` for REST, ``user`` inside notifications)."""
        return render.user_element(
            agent,
            team=self._directory.team_of(agent.id),
            supervised=self._directory.supervised_teams(agent.id),
            tag=tag,
        )

    def user_changed(self, agent: Agent, request_id: str) -> None:
        uri = render.user_uri(agent.id)
        document = render.update_document(
            render.serialize(self.user_element(agent, "user")), event="PUT", request_id=request_id, source=uri
        )
        self._publish(agent.id, uri, document)

    def async_error(
        self, agent_id: str, error: AsyncError, request_id: str, *, dialogs: bool = False
    ) -> None:
        """Publish an asynchronous error on the agent's User node (or its Dialogs node for call actions)."""
        node = render.dialogs_uri(agent_id) if dialogs else render.user_uri(agent_id)
        document = render.error_update_document(error, request_id=request_id, source=node)
        self._publish(agent_id, node, document)

    def dialog_event(self, agent_id: str, dialog: Dialog, event: str, request_id: str) -> None:
        """POST (the agent joined), PUT (changed) or DELETE (the agent left) on the agent's Dialogs node."""
        node = render.dialogs_uri(agent_id)
        data = self._dialogs.dialog_text(dialog, viewer=agent_id)
        if event == "PUT":
            source = dialog.uri
        else:
            data, source = f"<dialogs>{data}</dialogs>", node
        self._publish(
            agent_id, node, render.update_document(data, event=event, request_id=request_id, source=source)
        )

    def system_info(self, side: Side, document: str) -> None:
        """Broadcast a SystemInfo update on ``side`` (also while it is going out of service)."""
        self._hub.broadcast(side, render.SYSTEM_INFO_URI, document)
