"""Reconnect backoff and certificate identity matching (pure functions)."""

from __future__ import annotations

import random

import pytest

from connector.tunnel.backoff import Backoff
from edge.relay.identity import accepted_identity, certificate_identities

PEER = {
    "subject": ((("organizationName", "fingress"),), (("commonName", "connector-cn"),)),
    "subjectAltName": (
        ("DNS", "c1.lan"),
        ("URI", "spiffe://fingress/connector/1"),
        ("IP Address", "10.0.0.1"),
    ),
}


def test_backoff_grows_to_the_cap_with_jitter_in_the_upper_half() -> None:
    backoff = Backoff(base_s=0.1, max_s=1.0, rng=random.Random(1))
    delays = [backoff.next_delay_s() for _ in range(10)]
    ceilings = [min(1.0, 0.1 * 2**n) for n in range(10)]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == len(delays)  # jittered, not lockstep
    backoff.reset()
    assert backoff.next_delay_s() <= 0.1


def test_backoff_survives_a_very_long_outage() -> None:
    backoff = Backoff(base_s=0.1, max_s=30.0, rng=random.Random(2))
    for _ in range(10_000):
        assert backoff.next_delay_s() <= 30.0


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="base_s"):
        Backoff(base_s=2, max_s=1, rng=random.Random())


def test_identities_are_common_names_dns_and_uri_sans() -> None:
    assert certificate_identities(PEER) == (
        frozenset({"connector-cn", "c1.lan"}),
        frozenset({"spiffe://fingress/connector/1"}),
    )


def test_a_uri_identity_is_never_matched_by_a_common_name() -> None:
    forged = {"subject": ((("commonName", "spiffe://fingress/connector/1"),),)}
    assert accepted_identity(forged, {"spiffe://fingress/connector/1"}) is None


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        ({"spiffe://fingress/connector/1"}, "spiffe://fingress/connector/1"),
        ({"c1.lan", "connector-cn"}, "c1.lan"),
        ({"10.0.0.1"}, None),  # IP SANs are not identities
        ({"fingress"}, None),  # nor other subject attributes
        ({"C1.LAN"}, None),  # exact match
    ],
)
def test_accepted_identity(allowed: set[str], expected: str | None) -> None:
    assert accepted_identity(PEER, allowed) == expected


def test_no_certificate_is_no_identity() -> None:
    assert accepted_identity(None, {"x"}) is None
    assert accepted_identity({}, {"x"}) is None
