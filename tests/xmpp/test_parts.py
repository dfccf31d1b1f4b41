"""The small parts: SASLprep, SASL mechanisms, account and option validation, endpoints, errors."""

from __future__ import annotations

import ssl

import pytest

from connector.xmpp import errors
from connector.xmpp.endpoint import XmppEndpoint, client_ssl_context
from connector.xmpp.errors import XmppError
from connector.xmpp.sasl import PlainMechanism, SaslFailure, ScramSha1Mechanism, choose_mechanism
from connector.xmpp.saslprep import saslprep
from connector.xmpp.settings import SessionOptions, XmppAccount
from edge.tunnel.errors import FingressError


@pytest.mark.parametrize(
    ("given", "prepared"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 §3 examples: soft hyphen mapped to nothing
        ("user", "user"),
        ("USER", "USER"),  # case preserved
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),
        ("pass\u00a0word", "pass word"),  # non-ASCII space becomes a space
    ],
)
def test_saslprep_maps_and_normalises(given: str, prepared: str) -> None:
    assert saslprep(given) == prepared


@pytest.mark.parametrize("given", ["\u0007", "a\u0627\u0031", "\ue000", "\u0627a\u0627"])
def test_saslprep_refuses_prohibited_text_without_echoing_it(given: str) -> None:
    with pytest.raises(ValueError, match=r"prohibited|bidirectional") as raised:
        saslprep(given)
    assert given not in str(raised.value)


def test_scram_refuses_unpreparable_credentials_as_a_sasl_failure() -> None:
    with pytest.raises(SaslFailure) as raised:
        ScramSha1Mechanism(username="user", password="bell\u0007", nonce_factory=lambda: "n")
    assert "bell" not in str(raised.value)


def test_plain_initial_response_and_repr() -> None:
    plain = PlainMechanism(username="1001", password="p@ss")
    assert plain.initial_response() == b"\x001001\x00p@ss"
    assert "p@ss" not in repr(plain)
    with pytest.raises(SaslFailure):
        plain.respond(b"anything")


def test_scram_escapes_the_user_name() -> None:
    scram = ScramSha1Mechanism(username="a=b,c", password="pw", nonce_factory=lambda: "abc")
    assert scram.initial_response() == b"n,,n=a=3Db=2Cc,r=abc"
    assert "pw" not in repr(scram)


def test_mechanism_preference_is_followed() -> None:
    chosen = choose_mechanism(
        ["SCRAM-SHA-1", "PLAIN"],
        preference=("PLAIN", "SCRAM-SHA-1"),
        username="u",
        password="p",
        nonce_factory=lambda: "n",
    )
    assert chosen.name == "PLAIN"
    chosen = choose_mechanism(
        ["SCRAM-SHA-1", "PLAIN"],
        preference=("SCRAM-SHA-1",),
        username="u",
        password="p",
        nonce_factory=lambda: "n",
    )
    assert chosen.name == "SCRAM-SHA-1"


def test_account_defaults_to_a_unique_fingress_resource() -> None:
    first = XmppAccount(username="1001", domain="finesse.example", password="secret")
    second = XmppAccount(username="1001", domain="finesse.example", password="secret")
    assert first.resource.startswith("fingress-")
    assert first.resource != second.resource
    assert first.bare_jid == "1001@finesse.example"
    assert "secret" not in repr(first)


@pytest.mark.parametrize(
    "changes",
    [
        {"resource": "desktop"},  # Finesse's own desktop
        {"resource": "Desktop"},
        {"resource": ""},
        {"username": ""},
        {"username": "a@b"},
        {"domain": "x/y"},
        {"domain": ""},
    ],
)
def test_account_refuses_unusable_values(changes: dict[str, str]) -> None:
    values = {"username": "1001", "domain": "finesse.example", "password": "secret", **changes}
    with pytest.raises(ValueError, match="XMPP") as raised:
        XmppAccount(**values)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"ping_interval_s": 0},
        {"ping_timeout_s": -1},
        {"establish_timeout_s": 0},
        {"iq_timeout_s": 0},
        {"close_timeout_s": -0.1},
        {"max_stanza_bytes": 10},
        {"max_depth": 1},
        {"sasl_mechanisms": ()},
        {"sasl_mechanisms": ("DIGEST-MD5",)},
    ],
)
def test_options_refuse_nonsense(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        SessionOptions(**changes)  # type: ignore[arg-type]


def test_options_default_to_what_finesse_expects() -> None:
    options = SessionOptions()
    assert options.ping_interval_s == 20.0
    assert options.sasl_mechanisms[0] == "PLAIN"


def test_endpoint_defaults_to_finesse_websocket() -> None:
    endpoint = XmppEndpoint(host="finesse-a.example")
    assert endpoint.websocket_uri == "wss://finesse-a.example:8445/ws/"
    assert endpoint.tls_name == "finesse-a.example"
    assert XmppEndpoint(host="::1", port=9).websocket_uri == "wss://[::1]:9/ws/"
    assert XmppEndpoint(host="h", port=5223, transport="tls").describe() == "tls://h:5223"
    assert XmppEndpoint(host="10.0.0.5", server_hostname="finesse-a.example").tls_name == "finesse-a.example"


@pytest.mark.parametrize(
    "arguments",
    [{"host": ""}, {"host": "h", "port": 0}, {"host": "h", "path": "ws"}, {"host": "h", "transport": "bosh"}],
)
def test_endpoint_refuses_nonsense(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|needs"):
        XmppEndpoint(**arguments)  # type: ignore[arg-type]


def test_client_context_verifies_by_default() -> None:
    context = client_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    lab = client_ssl_context(verify=False)
    assert lab.verify_mode == ssl.CERT_NONE


def test_xmpp_error_belongs_to_the_one_error_tree() -> None:
    error = XmppError(errors.AUTH_FAILED, "bad credentials", condition="not-authorized")
    assert isinstance(error, FingressError)
    assert str(error) == "auth_failed: not-authorized: bad credentials"
    assert error.reason in errors.REASONS
