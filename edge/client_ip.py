"""Which address a request came from, believing ``X-Forwarded-For`` only from configured proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IpNetwork]) -> str:
    """The client's address.

    The peer is the client unless it is a trusted proxy; then ``X-Forwarded-For`` is read right to left
    (each proxy appends), skipping trusted proxies, and the first other address is the client. A value
    that is not an IP address stops the walk: everything left of it is the client's own claim.
    """
    if peer is None:
        return "unknown"
    current = _parse(peer)
    if current is None or not _is_trusted(current, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break
        current = address
        if not _is_trusted(address, trusted):
            break
    return str(current)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, trusted: Sequence[IpNetwork]) -> bool:
    return any(address in network for network in trusted)
