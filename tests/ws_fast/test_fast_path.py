"""Where the receive fast path runs and where it steps aside: plain messages never reach the protocol's
parser; after anything it leaves to the protocol (a ping, a frame cut across chunks, a 64-bit length, a
fragmented message, frames that came with the handshake response) it takes over again at the next chunk
that starts between two frames. And what the protocol does not check itself: text that is not UTF-8
fails the connection with 1007, whichever path saw it."""

from __future__ import annotations

import itertools

import pytest
from websockets.client import ClientProtocol
from websockets.frames import CloseCode

from tests.ws_fast.script import frame, observe, text

FAST_MESSAGES = [f"fast-{index}" + "é" * index for index in range(0, 140, 23)]  # up to 290 bytes
FAST_TAIL = [text(message) for message in FAST_MESSAGES]


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every chunk the protocol's parser is given (the opening handshake's included)."""
    seen: list[bytes] = []
    receive_data = ClientProtocol.receive_data

    def spy(protocol: ClientProtocol, data: bytes | bytearray) -> None:
        seen.append(bytes(data))
        receive_data(protocol, data)

    monkeypatch.setattr(ClientProtocol, "receive_data", spy)
    return seen


def cuts_after(*chunks: bytes) -> list[int]:
    return list(itertools.accumulate(len(chunk) for chunk in chunks))


def test_plain_messages_never_reach_the_protocol(parsed: list[bytes]) -> None:
    one_by_one = FAST_TAIL
    together = b"".join(FAST_TAIL)
    long_ones = [text("x" * 1000), text("y" * 65535, length_bits=16), frame(0x2, b"\x00\xff" * 50)]
    stream = b"".join([*one_by_one, together, *long_ones])
    outcome = observe(stream, cuts=cuts_after(*one_by_one, together, *long_ones), max_message_bytes=1 << 20)
    assert outcome.messages == [*FAST_MESSAGES, *FAST_MESSAGES, "x" * 1000, "y" * 65535, b"\x00\xff" * 50]
    assert outcome.ended == ("waiting",)
    assert len(parsed) == 1  # the handshake response alone


LEFT_TO_THE_PROTOCOL = {
    "a ping": [frame(0x9, b"are you there")],
    "a 64-bit length": [text("long form", length_bits=64)],
    "a fragmented message": [frame(0x1, b"frag", fin=False), frame(0x0, b"ment", fin=True)],
    "a frame cut after its header": [text("cut")[:2], text("cut")[2:]],
    "a frame cut after one byte": [text("cut")[:1], text("cut")[1:]],
    "a frame cut inside its 16-bit length": [text("z" * 200)[:3], text("z" * 200)[3:]],
    "a frame cut inside its payload": [text("z" * 200)[:50], text("z" * 200)[50:]],
    "a frame cut after its header, frames after it": [text("cut")[:2], text("cut")[2:] + text("more")],
}
EXPECTED = {
    "a ping": [],
    "a 64-bit length": ["long form"],
    "a fragmented message": ["fragment"],
    "a frame cut after its header": ["cut"],
    "a frame cut after one byte": ["cut"],
    "a frame cut inside its 16-bit length": ["z" * 200],
    "a frame cut inside its payload": ["z" * 200],
    "a frame cut after its header, frames after it": ["cut", "more"],
}


@pytest.mark.parametrize("case", LEFT_TO_THE_PROTOCOL)
def test_the_fast_path_takes_over_again_after_what_it_leaves_to_the_protocol(
    case: str, parsed: list[bytes]
) -> None:
    chunks = [text("before"), *LEFT_TO_THE_PROTOCOL[case], *FAST_TAIL]
    outcome = observe(b"".join(chunks), cuts=cuts_after(*chunks))
    assert outcome.messages == ["before", *EXPECTED[case], *FAST_MESSAGES]
    assert outcome.ended == ("waiting",)
    assert not any(b"fast-" in chunk for chunk in parsed), "the plain messages after it went the slow way"
    assert b"before" not in b"".join(parsed)
    if case == "a ping":
        assert outcome.written == [(0xA, b"are you there", True)]


def test_frames_that_came_with_the_handshake_response_are_received_and_the_fast_path_follows(
    parsed: list[bytes],
) -> None:
    head = text("with the response") + text("cut")[:2]
    chunks = [head, text("cut")[2:], *FAST_TAIL]
    outcome = observe(b"".join(chunks), cuts=cuts_after(*chunks), response_apart=False)
    assert outcome.messages == ["with the response", "cut", *FAST_MESSAGES]
    assert not any(b"fast-" in chunk for chunk in parsed)


@pytest.mark.parametrize("fast_path", [True, False])
@pytest.mark.parametrize(
    "bad",
    [
        frame(0x1, b"caf\xc3"),  # cut short
        frame(0x1, b"\xed\xa0\x80"),  # a UTF-16 surrogate
        frame(0x1, b"\xc0\xaf"),  # overlong
        frame(0x1, b"ab\xe2", fin=False) + frame(0x0, b"\x28\xa1", fin=True),  # split across fragments
    ],
)
def test_text_that_is_not_utf8_fails_the_connection_with_1007_and_nothing_after_it_arrives(
    bad: bytes, fast_path: bool
) -> None:
    ping = frame(0x9, b"ping after")  # in a later chunk: never answered
    stream = text("ok") + bad + text("after") + ping
    for cuts in ([len(stream) - len(ping)], cuts_after(text("ok"), bad, text("after"))):
        outcome = observe(stream, cuts=cuts, fast_path=fast_path)
        assert outcome.messages == ["ok"]
        assert outcome.ended[:2] == ("violation", "not-well-formed")
        assert outcome.close_sent is not None
        assert outcome.close_sent[0] == CloseCode.INVALID_DATA
        assert [written[0] for written in outcome.written] == [0x8]  # the close frame, no pong


def test_text_split_inside_a_character_across_fragments_is_fine() -> None:
    euro = "€".encode()
    stream = frame(0x1, b"price " + euro[:1], fin=False) + frame(0x0, euro[1:] + b" 5", fin=True)
    assert observe(stream).messages == ["price € 5"]


@pytest.mark.parametrize("length_bits", [None, 16, 64])
def test_a_frame_over_the_size_limit_fails_the_connection_with_1009(length_bits: int | None) -> None:
    outcome = observe(text("ok") + text("x" * 301, length_bits=length_bits), max_message_bytes=300)
    assert outcome.messages == ["ok"]
    assert outcome.ended[:2] == ("violation", "policy-violation")
    assert outcome.close_sent is not None
    assert outcome.close_sent[0] == CloseCode.MESSAGE_TOO_BIG
