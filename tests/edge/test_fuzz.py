"""Hypothesis against the running edge and its pure parts: hostile input yields 4xx problems or our own
errors, never a 500 or a foreign exception."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.api.routes import ROUTES, Handling
from edge.api.validation import validated_body, validated_query
from edge.auth.failures import InvalidToken
from edge.auth.verifier import _header_of
from edge.client_ip import client_ip
from edge.tunnel.errors import ApiError
from tests.edge.conftest import Edge
from tests.support.timing import seconds

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=20,
)
# Bodies that look like ours often enough to get past the first checks.
field_names = st.sampled_from(
    ["extension", "device_id", "mobile_agent", "finesse_password", "state", "reason_code_id", "to", "action",
     "digits", "call_variables", "wrap_up_reason", "mode", "dial_number", "callVariable1", "user.x"]
)  # fmt: skip
plausible = st.dictionaries(field_names | st.text(max_size=10), json_values, max_size=6)
FORWARDED_WITH_BODY = [route for route in ROUTES if route.handling is Handling.FORWARDED]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route_index=st.integers(0, len(FORWARDED_WITH_BODY) - 1),
    body=plausible | json_values,
    query=st.text(max_size=60),
)
async def test_random_json_to_every_route_is_never_a_500(
    edge: Edge, route_index: int, body: Any, query: str
) -> None:
    route = FORWARDED_WITH_BODY[route_index]
    path = route.path.replace("{dialog_id}", "16777216")
    async with asyncio.timeout(seconds(10)):
        response = await edge.client.request(
            route.method,
            path,
            params={"q": query} if query else None,
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json", **edge.auth()},
        )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@given(raw=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "text/plain", None]))
def test_body_validation_raises_only_api_errors(raw: bytes, content_type: str | None) -> None:
    for route in FORWARDED_WITH_BODY:
        status = 0
        try:
            validated_body(route, raw, content_type)
        except ApiError as error:
            status = error.status
        assert status == 0 or 400 <= status < 500


@given(query=st.binary(max_size=200))
def test_query_validation_raises_only_api_errors(query: bytes) -> None:
    for route in FORWARDED_WITH_BODY:
        status = 0
        try:
            validated_query(route, query)
        except ApiError as error:
            status = error.status
        assert status in (0, 400)


@given(token=st.text(max_size=200) | st.builds(lambda a, b: f"{a}.{b}.x", st.text(), st.text()))
def test_token_header_parsing_raises_only_invalid_token(token: str) -> None:
    try:
        header = _header_of(token)
    except InvalidToken:
        return
    assert isinstance(header, dict)


addresses = st.ip_addresses().map(str)


@given(peer=addresses, hops=st.lists(addresses | st.text(max_size=15), max_size=6))
def test_forwarded_for_from_an_untrusted_peer_is_ignored(peer: str, hops: list[str]) -> None:
    assert client_ip(peer, [", ".join(hops)], []) == peer


@given(client=addresses, spoofed=st.lists(addresses | st.text(max_size=15), max_size=4))
def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop(client: str, spoofed: list[str]) -> None:
    proxies = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    if any(ipaddress.ip_address(client) in network for network in proxies):
        return
    # Whatever the client claimed before its own address, the proxy appended the real one.
    header = ", ".join([*spoofed, client, "10.1.2.3"])
    assert client_ip("10.9.9.9", [header], proxies) == str(ipaddress.ip_address(client))
