"""The connector's Finesse layer: XML ↔ typed models, and the REST client.

The model, in a few lines:

* :mod:`.xmltree` parses untrusted XML (expat, no DTD or entity, bounded size and depth) into trees whose
  tags are lower-case local names, so ``<User>`` (REST) and ``<user>`` (notifications) read the same.
* :mod:`.parse` turns REST bodies and a notification's ``Update`` document into the frozen values of
  :mod:`.models` (``User``, ``Dialog``, ``SystemInfo``, ``FinesseApiError``, ``Update`` …); it raises only
  :class:`.errors.FinesseProtocolError`.
* :mod:`.commands` are validated requests (``SignIn``, ``StateChange``, ``MakeCall``, ``DialogAction``);
  :mod:`.render` serialises them with ElementTree.
* :mod:`.client` sends them: one :class:`.client.FinesseClient` per Finesse side over one shared
  ``httpx.AsyncClient``, credentials per call, ``requestId`` on every asynchronous call, errors mapped into
  the project tree (:mod:`.failures` for Finesse's refusals, :mod:`.errors` for the Finesse branches).
* :mod:`.observer` is the hook for latency and error metrics.

Nothing here keeps state about agents: that is the session layer's job.
"""

from connector.finesse.client import Accepted, FinesseClient, build_http_client, new_request_id
from connector.finesse.commands import (
    DialogAction,
    DialogActionName,
    MakeCall,
    RequestedState,
    SignIn,
    StateChange,
)
from connector.finesse.credentials import BearerCredentials, Credentials, PasswordCredentials
from connector.finesse.errors import AccountLocked, FinesseProtocolError, SideOutOfService, SideUnreachable
from connector.finesse.ids import AgentId, DeviceId, DialogId, ReasonCodeId, RequestId, TeamId, WrapUpReasonId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    CallVariable,
    Device,
    Dialog,
    DialogList,
    FinesseApiError,
    MediaProperties,
    MobileAgent,
    MobileAgentMode,
    Participant,
    ReasonCode,
    ReasonCodeCategory,
    SystemInfo,
    UnknownData,
    Update,
    UpdateData,
    UpdateEvent,
    User,
    WrapUpReason,
    WrapUpSettings,
)
from connector.finesse.observer import CallObserver, CallStats, FinesseCall
from connector.finesse.parse import parse_update

__all__ = [
    "Accepted",
    "AccountLocked",
    "AgentId",
    "AgentState",
    "ApiErrorList",
    "BearerCredentials",
    "CallObserver",
    "CallStats",
    "CallVariable",
    "Credentials",
    "Device",
    "DeviceId",
    "Dialog",
    "DialogAction",
    "DialogActionName",
    "DialogId",
    "DialogList",
    "FinesseApiError",
    "FinesseCall",
    "FinesseClient",
    "FinesseProtocolError",
    "MakeCall",
    "MediaProperties",
    "MobileAgent",
    "MobileAgentMode",
    "Participant",
    "PasswordCredentials",
    "ReasonCode",
    "ReasonCodeCategory",
    "ReasonCodeId",
    "RequestId",
    "RequestedState",
    "SideOutOfService",
    "SideUnreachable",
    "SignIn",
    "StateChange",
    "SystemInfo",
    "TeamId",
    "UnknownData",
    "Update",
    "UpdateData",
    "UpdateEvent",
    "User",
    "WrapUpReason",
    "WrapUpReasonId",
    "WrapUpSettings",
    "build_http_client",
    "new_request_id",
    "parse_update",
]
