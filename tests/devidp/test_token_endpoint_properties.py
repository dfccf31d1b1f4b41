"""Hostile token requests: any body, any content type, any Authorization header → an RFC 6749 JSON answer
(or 405/413), never a 500 and never an echo of the password table."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fingress.devidp import DevIdentityProvider, DevIdpSettings, create_app

_SECRET = "s3cret-agent-pw"

_FORMISH = st.lists(
    st.tuples(
        st.sampled_from(["grant_type", "username", "password", "client_id", "client_secret", "scope", "x"]),
        st.one_of(
            st.sampled_from(["password", "client_credentials", "1001", _SECRET, "finesse.agent", ""]),
            st.text(max_size=40),
        ),
    ),
    max_size=8,
).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass"))


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> DevIdentityProvider:
    # One key pair for all examples: generating RSA keys per example would dominate the run time.
    return DevIdentityProvider.create_or_open(
        tmp_path_factory.mktemp("devidp"), settings=DevIdpSettings(issuer="https://127.0.0.1:1")
    )


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(st.binary(max_size=300), _FORMISH),
    content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain", ""]),
    authorization=st.one_of(st.none(), st.text(max_size=60).map(lambda text: "Basic " + text)),
)
def test_token_endpoint_never_fails_badly(
    provider: DevIdentityProvider, body: bytes, content_type: str, authorization: str | None
) -> None:
    response = asyncio.run(_post(provider, body, content_type, authorization))
    assert response.status_code in {200, 400, 401, 413}
    document = response.json()
    assert ("access_token" in document) == (response.status_code == 200)
    if response.status_code != 200:
        assert document["error"] in {
            "invalid_request",
            "invalid_grant",
            "invalid_client",
            "unsupported_grant_type",
            "invalid_scope",
        }
        assert _SECRET not in response.text


async def _post(
    provider: DevIdentityProvider, body: bytes, content_type: str, authorization: str | None
) -> httpx.Response:
    app = create_app(provider, agent_passwords={"1001": _SECRET})
    headers = {"content-type": content_type.encode()} if content_type else {}
    if authorization is not None:
        headers["authorization"] = authorization.encode("utf-8", "surrogatepass")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://idp") as client:
        return await client.post("/token", content=body, headers=headers)
