"""Normalisation: Finesse notifications (real captures and built models) → public event drafts."""

from __future__ import annotations

from defusedxml import ElementTree
from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.errors import FinesseProtocolError
from connector.finesse.ids import AgentId, DialogId, RequestId
from connector.finesse.models import (
    AgentState,
    ApiErrorList,
    CallVariable,
    Dialog,
    DialogList,
    FinesseApiError,
    MediaProperties,
    Participant,
    Update,
    UpdateEvent,
    User,
)
from connector.finesse.parse import parse_update
from connector.sessions.mirror import AgentMirror, dialog_id_from_source
from tests.support.captures import CAPTURES_DIR

CAPTURES = CAPTURES_DIR  # the shared captures (tests/support/captures.py)
USER_NODE = "/finesse/api/User/6021"


def capture(name: str) -> Update:
    message = ElementTree.fromstring((CAPTURES / name).read_bytes())
    notification = next(e for e in message.iter() if e.tag.endswith("notification"))
    return parse_update(notification.text or "")


def user(state: AgentState = AgentState.NOT_READY, extension: str = "1001") -> User:
    return User(login_id=AgentId("1001"), extension=extension, state=state)


def dialog(
    own_state: str = "ALERTING", actions: tuple[str, ...] = ("ANSWER",), state: str = "ALERTING"
) -> Dialog:
    return Dialog(
        id=DialogId("77"),
        from_address="5551234",
        to_address="1001",
        state=state,
        media_properties=MediaProperties(
            call_variables=(CallVariable("callVariable1", "acct-9"), CallVariable("user.lang", "de"))
        ),
        participants=(
            Participant(media_address="5551234", state="ACTIVE", actions=("DROP",)),
            Participant(media_address="1001", state=own_state, actions=actions),
        ),
    )


def test_captured_user_updates_become_agent_updated_once() -> None:
    mirror = AgentMirror(AgentId("6021"))
    drafts = mirror.apply(capture("login.xml"))
    assert [d.type for d in drafts] == ["agent.updated"]
    assert drafts[0].data["state"] == "NOT_READY"
    assert drafts[0].data["extension"] == "2830"
    assert drafts[0].data["roles"] == ["Agent", "Supervisor"]
    assert mirror.apply(capture("login.xml")) == []  # unchanged object: no event
    assert mirror.apply(capture("ready.xml"))[0].data["state"] == "READY"
    logout = mirror.apply(capture("logout.xml"))[0].data
    assert (logout["state"], logout["signed_in"], logout["extension"]) == ("LOGOUT", False, None)


def test_captured_async_errors_become_request_failed() -> None:
    mirror = AgentMirror(AgentId("6021"))
    [draft] = mirror.apply(capture("error-invalid-line.xml"))
    assert draft.type == "request.failed"
    assert draft.data["request_id"] is None
    assert draft.data["source"] == USER_NODE
    assert draft.data["errors"][0]["error_type"] == "Invalid Device"
    assert draft.data["errors"][0]["peripheral_error_code"] == "10125"


def test_request_failed_carries_the_request_id() -> None:
    mirror = AgentMirror(AgentId("1001"))
    update = Update(
        event=UpdateEvent.PUT,
        source="/finesse/api/User/1001",
        data=ApiErrorList((FinesseApiError("Invalid State", "CF_INVALID_OBJECT_STATE", "22"),)),
        request_id=RequestId("r-1"),
    )
    assert mirror.apply(update)[0].data["request_id"] == "r-1"


def test_dialog_lifecycle_and_own_actions_only() -> None:
    mirror = AgentMirror(AgentId("1001"))
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", user(AgentState.RESERVED)))
    dialogs_node = "/finesse/api/User/1001/Dialogs"
    [created] = mirror.apply(Update(UpdateEvent.POST, dialogs_node, DialogList((dialog(),))))
    assert created.type == "dialog.created"
    assert created.data["actions"] == ["ANSWER"]  # not the customer's DROP
    assert created.data["call_variables"] == {"callVariable1": "acct-9"}
    assert created.data["ecc_variables"] == {"lang": "de"}
    assert mirror.on_call
    answered = dialog("ACTIVE", ("HOLD", "DROP"), state="ACTIVE")
    [updated] = mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/Dialog/77", answered))
    assert (updated.type, updated.data["own_state"]) == ("dialog.updated", "ACTIVE")
    assert mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/Dialog/77", answered)) == []
    dropped = dialog("DROPPED", (), state="ACTIVE")
    [ended] = mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/Dialog/77", dropped))
    assert (ended.type, ended.data["id"]) == ("dialog.ended", "77")
    assert mirror.dialogs == {}
    # The DELETE that follows is not a second end.
    assert mirror.apply(Update(UpdateEvent.DELETE, dialogs_node, DialogList((dropped,)))) == []


def test_delete_ends_a_dialog() -> None:
    mirror = AgentMirror(AgentId("1001"))
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", user()))
    mirror.apply(Update(UpdateEvent.POST, "/finesse/api/User/1001/Dialogs", DialogList((dialog(),))))
    [ended] = mirror.apply(Update(UpdateEvent.DELETE, "/finesse/api/User/1001/Dialogs", dialog()))
    assert ended.type == "dialog.ended"
    assert not mirror.on_call


def test_reconcile_emits_only_what_changed() -> None:
    mirror = AgentMirror(AgentId("1001"))
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", user(AgentState.READY)))
    mirror.apply(Update(UpdateEvent.POST, "/finesse/api/User/1001/Dialogs", DialogList((dialog(),))))
    drafts = mirror.reconcile(user(AgentState.READY), [])
    assert [d.type for d in drafts] == ["dialog.ended"]
    drafts = mirror.reconcile(user(AgentState.TALKING), [dialog("ACTIVE", ("HOLD",), "ACTIVE")])
    assert [d.type for d in drafts] == ["agent.updated", "dialog.created"]


def test_snapshot_and_source_parsing() -> None:
    mirror = AgentMirror(AgentId("1001"))
    assert mirror.snapshot() == {"agent": None, "dialogs": []}
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", user()))
    assert mirror.snapshot()["agent"]["id"] == "1001"
    assert dialog_id_from_source("/finesse/api/Dialog/42") == "42"
    assert dialog_id_from_source("/finesse/api/User/42") is None


_DIALOG_STATES = ["ALERTING", "ACTIVE", "HELD", "DROPPED", "FAILED", "WRAP_UP", "INITIATED"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(UpdateEvent)),
            st.sampled_from(["1", "2", "3"]),
            st.sampled_from(_DIALOG_STATES),
            st.sampled_from(_DIALOG_STATES),
            st.booleans(),
        ),
        max_size=40,
    )
)
def test_any_dialog_history_keeps_created_and_ended_paired(
    history: list[tuple[UpdateEvent, str, str, str, bool]],
) -> None:
    """Whatever Finesse sends, in any order: every dialog.ended follows a dialog.created of that dialog,
    updates only concern open dialogs, and the open dialogs are exactly those created and not ended."""
    mirror = AgentMirror(AgentId("1001"))
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", user()))
    open_ids: set[str] = set()
    for event, dialog_id, dialog_state, own_state, as_list in history:
        built = Dialog(
            id=DialogId(dialog_id),
            state=dialog_state,
            participants=(Participant(media_address="1001", state=own_state, actions=("DROP",)),),
        )
        data = DialogList((built,)) if as_list else built
        for draft in mirror.apply(Update(event, f"/finesse/api/Dialog/{dialog_id}", data)):
            if draft.type == "dialog.created":
                assert dialog_id not in open_ids
                open_ids.add(dialog_id)
            elif draft.type == "dialog.ended":
                assert draft.data["id"] in open_ids
                open_ids.discard(draft.data["id"])
            else:
                assert draft.type == "dialog.updated"
                assert draft.data["id"] in open_ids
        assert set(mirror.dialogs) == open_ids


@given(st.text(max_size=400))
def test_hostile_notification_text_is_dropped_quietly(text: str) -> None:
    """What the XMPP link hands over is untrusted: garbage produces no event and no exception."""
    mirror = AgentMirror(AgentId("1001"))
    try:
        update = parse_update(text)
    except FinesseProtocolError:
        return
    mirror.apply(update)
