"""The receive fast path changes cost, not behaviour: for any sequence of frames a server may send,
valid or hostile, cut into chunks anywhere (the first chunks also carrying the handshake response), with
or without the end of the stream, the client with the fast path shows exactly what the protocol alone
shows: the same messages, the same end (waiting, closed, or the same WebSocketViolation), the same close
frames, the same frames written back (pongs, close answers) and the same close code."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.ws_fast.script import frame, observe, text

MAX_MESSAGE_BYTES = 300  # what observe() gives the client: oversize frames stay cheap to generate

BAD_UTF8 = [b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
LENGTH_BITS = st.sampled_from([None, None, None, 16, 64])
MASKS = st.binary(min_size=4, max_size=4)

plain_text = st.builds(
    lambda message, bits: frame(0x1, message.encode(), length_bits=bits), st.text(max_size=60), LENGTH_BITS
)
long_text = st.builds(
    lambda size, tail: frame(0x1, ("x" * size + tail).encode()),
    st.integers(min_value=100, max_value=MAX_MESSAGE_BYTES - 4),
    st.sampled_from(["", "é", "€", "😀"]),
)
binary = st.builds(
    lambda payload, opcode, bits: frame(opcode, payload, length_bits=bits),
    st.binary(max_size=60),
    st.sampled_from([0x1, 0x2]),  # text frames with arbitrary bytes: mostly not UTF-8
    LENGTH_BITS,
)
bad_text = st.builds(
    lambda head, bad, tail: frame(0x1, head.encode() + bad + tail.encode()),
    st.text(max_size=10),
    st.sampled_from(BAD_UTF8),
    st.text(max_size=10),
)
fragment = st.builds(
    lambda opcode, payload, fin: frame(opcode, payload, fin=fin),
    st.sampled_from([0x0, 0x1, 0x2]),
    st.one_of(st.text(max_size=20).map(str.encode), st.sampled_from([*BAD_UTF8, b"\xe2", b"\x82\xac"])),
    st.booleans(),
)
control = st.builds(
    lambda opcode, payload, fin: frame(opcode, payload, fin=fin),
    st.sampled_from([0x9, 0xA]),
    st.binary(max_size=130),  # above 125 bytes: a control frame too long
    st.sampled_from([True, True, True, False]),
)
close = st.builds(
    lambda code, reason: frame(0x8, code.to_bytes(2, "big") + reason),
    st.sampled_from([1000, 1001, 1002, 1005, 1006, 1011, 1012, 3000, 4999, 999, 5000]),
    st.one_of(st.text(max_size=20).map(str.encode), st.sampled_from(BAD_UTF8)),
) | st.sampled_from([frame(0x8, b""), frame(0x8, b"\x03")])
masked = st.builds(lambda payload, mask: frame(0x1, payload.encode(), mask=mask), st.text(max_size=20), MASKS)
reserved_bits = st.builds(
    lambda payload, rsv: frame(0x1, payload.encode(), rsv=rsv),
    st.text(max_size=20),
    st.integers(min_value=1, max_value=7),
)
bad_opcode = st.builds(
    lambda opcode, payload: frame(opcode, payload),
    st.sampled_from([0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF]),
    st.binary(max_size=10),
)
oversize = st.builds(
    lambda extra, bits: frame(0x1, b"y" * (MAX_MESSAGE_BYTES + extra), length_bits=bits),
    st.integers(min_value=1, max_value=40),
    st.sampled_from([None, 64]),
)
lying_header = st.builds(
    lambda bits, tail: bytes([0x81, 127]) + (1 << bits).to_bytes(8, "big") + tail,
    st.integers(min_value=10, max_value=62),
    st.binary(max_size=8),
)

nested = st.lists(plain_text, min_size=1, max_size=4).map(lambda frames: frame(0x2, b"".join(frames)))
fragmented_message = st.builds(
    lambda opcode, pieces: b"".join(
        frame(opcode if index == 0 else 0x0, piece, fin=index == len(pieces) - 1)
        for index, piece in enumerate(pieces)
    ),
    st.sampled_from([0x1, 0x2]),
    st.lists(st.text(max_size=20).map(str.encode), min_size=2, max_size=4),
)
hostile = st.one_of(
    bad_text, control, close, masked, reserved_bits, bad_opcode, oversize, lying_header, fragment
)
any_frame = st.one_of(
    plain_text,
    plain_text,
    long_text,
    binary,
    nested,  # read from inside, its payload looks like plain frames
    fragment,  # a message's first, middle or last part: the frames after it meet one in progress
    fragmented_message,
    control,
    hostile,
)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """Frames as one stream, possibly missing its last bytes, and where to cut it into chunks: between
    frames, every few bytes (every offset inside a frame gets its turn), or anywhere."""
    frames = draw(st.lists(any_frame, max_size=12))
    stream = b"".join(frames)
    stream = stream[: max(0, len(stream) - draw(st.integers(min_value=0, max_value=3)))]
    between_frames = list(itertools.accumulate(len(piece) for piece in frames))
    how = draw(st.sampled_from(["between frames", "every few bytes", "anywhere"]))
    if how == "between frames" and between_frames:
        cuts = draw(st.lists(st.sampled_from(between_frames)))
    elif how == "every few bytes":
        step = draw(st.integers(min_value=1, max_value=12))
        cuts = list(range(draw(st.integers(min_value=0, max_value=step)), len(stream), step))
    else:
        cuts = draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=8))
    return stream, cuts


NESTED = frame(0x2, text("looks") + text("like frames"))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# The cases that fool a fast path which looks only at the protocol's buffer: a chunk that ends just after
# a frame's header (alone, or with the handshake response), leaving the protocol inside the payload with
# nothing buffered; and a chunk that ends between a message's first fragment and a final frame.
@example(script=(NESTED + text("end"), [2]), eof=False, response_apart=True)
@example(script=(NESTED + text("end"), [2]), eof=False, response_apart=False)
@example(script=(NESTED + text("end"), [1, 3]), eof=True, response_apart=False)
@example(script=(frame(0x1, b"ab", fin=False) + text("cd"), [4]), eof=False, response_apart=True)
@example(script=(text("x" * 200) + text("y"), [1, 3, 100]), eof=True, response_apart=True)
@given(script=scripts(), eof=st.booleans(), response_apart=st.sampled_from([True, True, False]))
def test_the_fast_path_shows_what_the_protocol_alone_shows(
    script: tuple[bytes, list[int]], eof: bool, response_apart: bool
) -> None:
    stream, cuts = script
    outcomes = [
        observe(
            stream,
            cuts=cuts,
            eof=eof,
            response_apart=response_apart,
            fast_path=fast_path,
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
        for fast_path in (False, True)
    ]
    assert outcomes[1] == outcomes[0]


@settings(max_examples=300, deadline=None)
@given(
    messages=st.lists(st.text(max_size=200), min_size=1, max_size=20),
    cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=8),
)
def test_plain_messages_arrive_whole_and_in_order_however_they_are_cut(
    messages: list[str], cuts: list[int]
) -> None:
    stream = b"".join(frame(0x1, message.encode()) for message in messages)
    outcome = observe(stream, cuts=cuts, max_message_bytes=1 << 20)
    assert outcome.messages == messages
    assert outcome.ended == ("waiting",)
    assert outcome.written == []
