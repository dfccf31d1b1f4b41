"""The JSON shapes of the public API: agent, dialog, reason codes, wrap-up reasons, devices.

One function per shape, used both for response bodies and for event ``data``, so the app sees one shape
per object wherever it comes from. Keys are snake_case; values are JSON-native.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.finesse.models import (
    Device,
    Dialog,
    FinesseApiError,
    Participant,
    ReasonCode,
    User,
    WrapUpReason,
)

JsonObject = dict[str, Any]


def _time(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def reason_code_view(code: ReasonCode) -> JsonObject:
    return {"id": code.id, "code": code.code, "label": code.label, "category": code.category}


def wrap_up_reason_view(reason: WrapUpReason) -> JsonObject:
    return {"id": reason.id, "label": reason.label}


def device_view(device: Device) -> JsonObject:
    return {"device_id": device.device_id, "type": device.device_type, "type_name": device.device_type_name}


def agent_view(user: User) -> JsonObject:
    """The agent as the app sees it."""
    mobile = user.mobile_agent
    return {
        "id": user.login_id,
        "login_name": user.login_name,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "signed_in": user.signed_in,
        "state": user.state.value,
        "state_change_time": _time(user.state_change_time),
        "pending_state": user.pending_state.value if user.pending_state is not None else None,
        "reason_code_id": user.reason_code_id,
        "reason_code": reason_code_view(user.reason_code) if user.reason_code is not None else None,
        "extension": user.extension or None,
        "device_id": user.active_device_id,
        "mobile_agent": (
            {"mode": mobile.mode.value, "dial_number": mobile.dial_number} if mobile is not None else None
        ),
        "roles": list(user.roles),
        "team": {"id": user.team_id, "name": user.team_name} if user.team_id is not None else None,
        "wrap_up": {
            "on_incoming": user.settings.wrap_up_on_incoming or None,
            "on_outgoing": user.settings.wrap_up_on_outgoing or None,
            "timer_s": user.wrap_up_timer_s,
        },
    }


def _participant_view(participant: Participant) -> JsonObject:
    return {
        "media_address": participant.media_address,
        "media_address_type": participant.media_address_type or None,
        "state": participant.state,
        "state_cause": participant.state_cause or None,
        "start_time": _time(participant.start_time),
    }


def dialog_view(dialog: Dialog, own_extension: str) -> JsonObject:
    """A call. ``actions`` are only those Finesse lists for the agent's own participant."""
    media = dialog.media_properties
    own = dialog.participant(own_extension) if own_extension else None
    call_variables: dict[str, str] = {}
    ecc_variables: dict[str, str] = {}
    for variable in media.call_variables:  # one pass: a call-data change carries tens of them
        if variable.is_ecc:
            ecc_variables[variable.name.removeprefix("user.")] = variable.value
        else:
            call_variables[variable.name] = variable.value
    return {
        "id": dialog.id,
        "from_address": dialog.from_address,
        "to_address": dialog.to_address,
        "state": dialog.state,
        "dialed_number": media.dialed_number or None,
        "call_type": media.call_type or None,
        "dnis": media.dnis or None,
        "queue_name": media.queue_name or None,
        "wrap_up_reason": media.wrap_up_reason or None,
        "call_variables": call_variables,
        "ecc_variables": ecc_variables,
        "participants": [_participant_view(participant) for participant in dialog.participants],
        "own_state": own.state if own is not None else None,
        "actions": list(own.actions) if own is not None else [],
    }


def api_error_view(error: FinesseApiError) -> JsonObject:
    """What Finesse said about a failed request (async ``apiError`` or sync ``ApiError``)."""
    view: JsonObject = {"error_type": error.error_type, "error_message": error.error_message}
    if error.error_data:
        view["error_data"] = error.error_data
    if error.peripheral_error_code:
        view["peripheral_error_code"] = error.peripheral_error_code
    if error.peripheral_error_msg:
        view["peripheral_error_msg"] = error.peripheral_error_msg
    if error.peripheral_error_text:
        view["peripheral_error_text"] = error.peripheral_error_text
    return view
