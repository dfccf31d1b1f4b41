"""Identifier types of the Finesse layer.

They are plain strings at run time; ``NewType`` keeps a dialog id from being passed where a reason code id
is expected. ``AgentId`` is the project-wide one from the tunnel contract.
"""

from __future__ import annotations

from typing import NewType

from edge.tunnel.messages import AgentId

DialogId = NewType("DialogId", str)
# A reason code's Finesse database id: the last segment of its URI, not its numeric ``code``.
ReasonCodeId = NewType("ReasonCodeId", str)
WrapUpReasonId = NewType("WrapUpReasonId", str)
DeviceId = NewType("DeviceId", str)
TeamId = NewType("TeamId", str)
# The value of the ``requestId`` header Finesse echoes in the notification a request causes.
RequestId = NewType("RequestId", str)

__all__ = ["AgentId", "DeviceId", "DialogId", "ReasonCodeId", "RequestId", "TeamId", "WrapUpReasonId"]
