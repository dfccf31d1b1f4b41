"""The participant memo: a dialog update whose participants were read before gives exactly what parsing the
whole document gives (the same model, or the same error), and the remembered participants are the very
objects read before."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.finesse.errors import FinesseProtocolError
from connector.finesse.models import Dialog, Update
from connector.finesse.parse import parse_update
from connector.finesse.participant_memo import MARK, MAX_REMEMBERED_CHARS, ParticipantMemo
from connector.finesse.xmltree import XmlLimits


def participant(address: str, state: str = "ACTIVE", actions: tuple[str, ...] = ("HOLD", "DROP")) -> str:
    listed = "".join(f"<action>{action}</action>" for action in actions)
    return (
        f"<Participant><actions>{listed}</actions><mediaAddress>{address}</mediaAddress>"
        "<mediaAddressType>AGENT_DEVICE</mediaAddressType><startTime>2026-11-21T20:09:14.850Z</startTime>"
        f"<state>{state}</state><stateCause /></Participant>"
    )


def dialog_update(
    participants: list[str], stamp: str = "1", *, wrapped: bool = False, variables: bool = True
) -> str:
    media = (
        "<mediaProperties><callvariables><CallVariable><name>callVariable10</name>"
        f"<value>{stamp}</value></CallVariable></callvariables></mediaProperties>"
        if variables
        else f"<mediaProperties><dnis>{stamp}</dnis></mediaProperties>"
    )
    dialog = (
        f"<Dialog><fromAddress>5550199</fromAddress><id>16777254</id>{media}"
        f"<participants>{''.join(participants)}</participants><state>ACTIVE</state></Dialog>"
    )
    data = f"<dialogs>{dialog}</dialogs>" if wrapped else dialog
    return f"<Update><data>{data}</data><event>PUT</event><requestId /><source>/x</source></Update>"


Outcome = Update | tuple[str, str]


def outcome(parse: Callable[[], Update]) -> Outcome:
    try:
        return parse()
    except FinesseProtocolError as error:
        return (error.reason, error.detail)


def participants_of(update: Update) -> tuple[object, ...]:
    assert isinstance(update.data, Dialog)
    return update.data.participants


AGENT, CALLER = participant("400038"), participant("5550199", actions=())


def test_a_call_data_change_takes_the_participants_from_the_memo() -> None:
    memo = ParticipantMemo()
    first = parse_update(dialog_update([CALLER, AGENT], "1"), memo=memo)
    assert len(memo) == 2
    document = dialog_update([CALLER, AGENT], "2")
    second = parse_update(document, memo=memo)
    assert second == parse_update(document)
    assert all(a is b for a, b in zip(participants_of(first), participants_of(second), strict=True))


def test_a_changed_participant_is_read_afresh_and_remembered() -> None:
    memo = ParticipantMemo()
    first = parse_update(dialog_update([CALLER, AGENT]), memo=memo)
    held = participant("400038", state="HELD", actions=("RETRIEVE",))
    document = dialog_update([CALLER, held], "2")
    second = parse_update(document, memo=memo)
    assert second == parse_update(document)
    assert participants_of(second)[0] is participants_of(first)[0]
    assert participants_of(second)[1] is not participants_of(first)[1]
    assert len(memo) == 3
    third = parse_update(dialog_update([CALLER, held], "3"), memo=memo)
    assert participants_of(third)[1] is participants_of(second)[1]


def test_the_memo_keeps_at_most_its_capacity() -> None:
    memo = ParticipantMemo(capacity=3)
    for n in range(10):
        parse_update(dialog_update([participant(str(n)), participant(str(n + 100))]), memo=memo)
    assert len(memo) == 3


def test_a_participant_longer_than_the_bound_is_not_remembered() -> None:
    memo = ParticipantMemo()
    long = participant("x" * MAX_REMEMBERED_CHARS)
    parse_update(dialog_update([long, AGENT]), memo=memo)
    assert len(memo) == 1


DEEP = participant("400039").replace("<stateCause />", "<stateCause><x><y /></x></stateCause>")


@pytest.mark.parametrize("max_depth", range(4, 10))
@pytest.mark.parametrize(
    "document",
    [
        dialog_update([AGENT], variables=False),
        dialog_update([AGENT], variables=False, wrapped=True),
        dialog_update([DEEP, CALLER], variables=False),
        # Known participants where the reader does not look: not stood in for, so their depth counts.
        dialog_update([CALLER], variables=False).replace("<dnis>", f"<extra>{AGENT}</extra><dnis>"),
        dialog_update([CALLER], variables=False).replace(
            "<Update>", f"<Update><extra><more>{DEEP}</more></extra>"
        ),
    ],
)
def test_known_participants_count_in_the_depth_limit_as_in_the_whole_document(
    document: str, max_depth: int
) -> None:
    memo = ParticipantMemo()
    parse_update(dialog_update([AGENT, DEEP, CALLER]), memo=memo)
    assert len(memo) == 3
    limits = XmlLimits(max_depth=max_depth)
    plain = outcome(lambda: parse_update(document, limits=limits))
    assert outcome(lambda: parse_update(document, limits=limits, memo=memo)) == plain


@pytest.mark.parametrize(
    "document",
    [
        # A forged stand-in: the document holds the mark, so nothing is stood in for.
        dialog_update([CALLER, f"<Participant>{MARK}0</Participant>"]),
        dialog_update([f"<Participant>{MARK}1</Participant>", AGENT]),
        # A known participant outside a dialog's participants: not read there, so the whole document is.
        dialog_update([CALLER]).replace(
            "<state>ACTIVE</state></Dialog>", f"<state>ACTIVE</state>{AGENT}</Dialog>"
        ),
        # Inside a second <participants>, which the reader ignores (the first one wins).
        dialog_update([CALLER]).replace(
            "</participants>", f"</participants><participants>{AGENT}</participants>"
        ),
        # Known text inside a comment or a CDATA section is text, not an element.
        dialog_update([CALLER]).replace("<stateCause />", f"<stateCause><!-- {AGENT} --></stateCause>", 1),
        dialog_update([CALLER]).replace("<stateCause />", f"<stateCause><![CDATA[{AGENT}]]></stateCause>", 1),
        # Namespaces in play: a prefix bound around a known participant.
        dialog_update([AGENT]).replace("<participants>", '<participants xmlns:p="urn:p">'),
        # Broken around a known participant: the error is the whole document's.
        dialog_update([AGENT]).replace("</participants>", "</participant>"),
        dialog_update([AGENT]).replace("<Update>", "<Update><Participant>"),
    ],
)
def test_odd_documents_give_what_the_whole_document_gives(document: str) -> None:
    memo = ParticipantMemo()
    parse_update(dialog_update([CALLER, AGENT]), memo=memo)
    assert outcome(lambda: parse_update(document, memo=memo)) == outcome(lambda: parse_update(document))


def test_a_prefixed_participant_does_not_teach_the_memo_a_wrong_text() -> None:
    # <x:Participant> reads as a participant (the careful parser keeps local names); the only
    # "<Participant>" text is elsewhere and unread, and must not be remembered as that participant.
    memo = ParticipantMemo()
    prefixed = participant("777").replace("Participant>", "x:Participant>")
    document = dialog_update([prefixed]).replace("<Update>", f"<Update><extra>{AGENT}</extra>")
    assert outcome(lambda: parse_update(document, memo=memo)) == outcome(lambda: parse_update(document))
    assert len(memo) == 0


def test_only_participants_spelled_as_searched_for_are_remembered() -> None:
    # A participant spelled <participant> is read too; had the memo paired the first "<Participant>" text
    # with the first participant read, it would have remembered AGENT's text as that one.
    memo = ParticipantMemo()
    lower = participant("777").replace("Participant>", "participant>")
    parse_update(dialog_update([lower, AGENT]), memo=memo)
    document = dialog_update([AGENT], "2")
    assert parse_update(document, memo=memo) == parse_update(document)


def test_participants_of_several_dialogs_are_remembered_each_as_its_own() -> None:
    memo = ParticipantMemo()
    two = dialog_update([AGENT], wrapped=True).replace(
        "</dialogs>", dialog_update([CALLER]).split("<data>")[1].split("</data>")[0] + "</dialogs>"
    )
    parse_update(two, memo=memo)
    assert len(memo) == 2
    for document in (dialog_update([CALLER, AGENT], "2"), dialog_update([AGENT, CALLER], "3")):
        assert parse_update(document, memo=memo) == parse_update(document)


PIECES = [AGENT, CALLER, DEEP, participant("400038", state="HELD"), participant("5550100", actions=())]
HOSTILE = ["<!-- c -->", "<![CDATA[x]]>", "<", "</Participant>", "<Participant>", MARK, "<a:b/>",
           ' xmlns="urn:x"', "&lt;", "\r\n", "<participants>", "</participants>", "<Dialog>"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    sequence=st.lists(
        st.tuples(
            st.lists(st.sampled_from(PIECES), max_size=3),
            st.booleans(),
            st.booleans(),
            st.none() | st.tuples(st.sampled_from(HOSTILE), st.floats(0, 1)),
        ),
        min_size=1,
        max_size=6,
    ),
    max_depth=st.integers(3, 10),
)
def test_any_sequence_of_updates_parses_as_without_the_memo(
    sequence: list[tuple[list[str], bool, bool, tuple[str, float] | None]], max_depth: int
) -> None:
    memo = ParticipantMemo(capacity=3)
    limits = XmlLimits(max_depth=max_depth)
    for stamp, (participants, wrapped, variables, mutation) in enumerate(sequence):
        document = dialog_update(participants, str(stamp), wrapped=wrapped, variables=variables)
        if mutation is not None:
            piece, where = mutation
            position = int(where * len(document))
            document = document[:position] + piece + document[position:]
        with_memo = outcome(lambda: parse_update(document, limits=limits, memo=memo))  # noqa: B023
        assert with_memo == outcome(lambda: parse_update(document, limits=limits))  # noqa: B023
