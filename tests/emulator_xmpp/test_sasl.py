"""SASL PLAIN decoding: the agent id and password out, stable failure conditions for everything else."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fingress.emulator.xmpp.sasl import PlainCredentials, SaslRefused, decode_plain

DOMAIN = "finesse-a.emulator.test"


def encode(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "response",
    [encode("\x006021\x00pw"), encode(f"\x006021@{DOMAIN}\x00pw"), encode(f"6021@{DOMAIN}\x006021\x00pw")],
)
def test_accepted_forms(response: str) -> None:
    assert decode_plain(response, domain=DOMAIN) == PlainCredentials(agent_id="6021", password="pw")


@pytest.mark.parametrize(
    ("response", "condition"),
    [
        ("", "incorrect-encoding"),
        ("***", "incorrect-encoding"),
        (encode("no separators"), "incorrect-encoding"),
        (encode("a\x00b\x00c\x00d"), "incorrect-encoding"),
        (base64.b64encode(b"\x00\xff\xfe\x00pw").decode(), "incorrect-encoding"),
        (encode("\x00\x00pw"), "not-authorized"),
        (encode("\x006021\x00"), "not-authorized"),
        (encode("\x006021@other.example\x00pw"), "not-authorized"),
        (encode("6022\x006021\x00pw"), "invalid-authzid"),
    ],
)
def test_refused_forms(response: str, condition: str) -> None:
    with pytest.raises(SaslRefused) as refused:
        decode_plain(response, domain=DOMAIN)
    assert refused.value.condition == condition


def test_password_stays_out_of_repr() -> None:
    credentials = decode_plain(encode("\x006021\x00hunter2"), domain=DOMAIN)
    assert "hunter2" not in repr(credentials)
    assert "6021" in repr(credentials)


@given(st.text(max_size=200))
def test_any_text_decodes_or_is_refused(response: str) -> None:
    condition = ""
    try:
        credentials = decode_plain(response, domain=DOMAIN)
    except SaslRefused as refused:
        condition = refused.condition
    else:
        assert credentials.agent_id
        assert credentials.password
    assert condition in ("", "incorrect-encoding", "not-authorized", "invalid-authzid")
