"""The mirror keeps the unchanged parts of a dialog it already had (``sharing_unchanged_parts``): the kept
dialog equals the new one field for field, and holds the previous dialog's objects wherever nothing
changed, so a call-data change leaves few new objects alive (see the function's docstring)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connector.finesse.ids import AgentId, DialogId
from connector.finesse.models import (
    CallVariable,
    Dialog,
    DialogList,
    MediaProperties,
    Participant,
    Update,
    UpdateEvent,
    User,
    sharing_unchanged_parts,
)
from connector.sessions.mirror import AgentMirror

_text = st.sampled_from(["", "a", "b", "1001", "ACTIVE", "HOLD"])
_variables = st.lists(st.builds(CallVariable, name=_text, value=_text), max_size=4).map(tuple)
_participants = st.lists(
    st.builds(Participant, media_address=_text, state=_text, actions=st.lists(_text, max_size=2).map(tuple)),
    max_size=3,
).map(tuple)
_media = st.builds(MediaProperties, dnis=_text, call_variables=_variables)
_dialogs = st.builds(
    Dialog, id=st.just(DialogId("7")), state=_text, media_properties=_media, participants=_participants
)


def _identical_where_equal(kept: tuple[object, ...], old: tuple[object, ...]) -> None:
    if kept == old:
        assert kept is old
    elif len(kept) == len(old):
        for now, was in zip(kept, old, strict=True):
            assert (now is was) == (now == was)


@given(new=_dialogs, old=_dialogs)
def test_the_shared_dialog_equals_the_new_one_and_reuses_what_did_not_change(
    new: Dialog, old: Dialog
) -> None:
    kept = sharing_unchanged_parts(new, old)
    assert kept == new
    _identical_where_equal(kept.participants, old.participants)
    if kept.media_properties == old.media_properties:
        assert kept.media_properties is old.media_properties
    else:
        _identical_where_equal(kept.media_properties.call_variables, old.media_properties.call_variables)


def _call(variables: tuple[CallVariable, ...]) -> Dialog:
    return Dialog(
        id=DialogId("7"),
        state="ACTIVE",
        media_properties=MediaProperties(call_variables=variables),
        participants=(
            Participant(media_address="5551234", state="ACTIVE", actions=("DROP",)),
            Participant(media_address="1001", state="ACTIVE", actions=("HOLD", "DROP")),
        ),
    )


def test_a_call_data_change_keeps_the_participants_and_the_other_variables_of_the_previous_dialog() -> None:
    mirror = AgentMirror(AgentId("1001"))
    mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/User/1001", User(AgentId("1001"), extension="1001")))
    first = _call((CallVariable("callVariable1", "a"), CallVariable("callVariable2", "b")))
    mirror.apply(Update(UpdateEvent.POST, "/finesse/api/User/1001/Dialogs", DialogList((first,))))
    change = _call((CallVariable("callVariable1", "a"), CallVariable("callVariable2", "c")))
    drafts = mirror.apply(Update(UpdateEvent.PUT, "/finesse/api/Dialog/7", change))

    assert [draft.type for draft in drafts] == ["dialog.updated"]
    kept = mirror.dialogs[DialogId("7")]
    assert kept == change
    assert kept.participants is first.participants
    assert kept.media_properties.call_variables[0] is first.media_properties.call_variables[0]
    assert kept.media_properties.call_variables[1] is change.media_properties.call_variables[1]
    assert drafts[0].data["call_variables"] == {"callVariable1": "a", "callVariable2": "c"}
