"""The development OIDC provider over real HTTPS: discovery, JWKS, tokens that verify with joserfc."""

from __future__ import annotations

import argparse
import base64
import json
import stat
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from edge.tls import ReloadableServerContext
from fingress import pki, token_command
from fingress.devidp import DevIdentityProvider, DevIdpError, DevIdpSettings, create_app
from tests.support.timing import seconds
from tests.tls.serving import bound_listener, client_context, running_uvicorn

PASSWORDS = {"1001": "agent-1001-pw", "1002": "agent-1002-pw"}


@dataclass
class RunningIdp:
    issuer: str
    provider: DevIdentityProvider
    client: httpx.AsyncClient


@pytest.fixture
async def idp(tmp_path: Path) -> AsyncIterator[RunningIdp]:
    dev = pki.ensure_dev_pki(tmp_path / "pki")
    listener = bound_listener()
    issuer = f"https://127.0.0.1:{listener.getsockname()[1]}"
    provider = DevIdentityProvider.create_or_open(tmp_path / "data", settings=DevIdpSettings(issuer=issuer))
    tls = ReloadableServerContext(cert_file=dev.server_cert_file, key_file=dev.server_key_file)
    app = create_app(provider, agent_passwords=PASSWORDS)
    async with (
        running_uvicorn(app, ssl_context_factory=tls.uvicorn_context_factory, listener=listener),
        httpx.AsyncClient(verify=client_context(dev.ca_file), timeout=seconds(5)) as client,
    ):
        yield RunningIdp(issuer=issuer, provider=provider, client=client)


def verify(token: str, jwks: dict[str, Any], issuer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify as an edge would: algorithm allow list, signature against the JWKS, iss, aud, exp."""
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    JWTClaimsRegistry(
        leeway=30,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": "fingress"},
        exp={"essential": True},
    ).validate(decoded.claims)
    return dict(decoded.header), dict(decoded.claims)


async def test_discovery_jwks_and_a_verifiable_token(idp: RunningIdp) -> None:
    discovery = (await idp.client.get(f"{idp.issuer}/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == idp.issuer
    jwks = (await idp.client.get(discovery["jwks_uri"])).json()
    response = await idp.client.post(
        discovery["token_endpoint"],
        data={"grant_type": "password", "username": "1001", "password": "agent-1001-pw"},
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    header, claims = verify(body["access_token"], jwks, idp.issuer)
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    assert header["alg"] == "RS256"
    assert claims["sub"] == claims["agent_id"] == "1001"
    assert claims["scope"] == body["scope"] == "finesse.agent"
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 3600
    assert abs(claims["iat"] - time.time()) < 60
    assert all("d" not in key and "p" not in key for key in jwks["keys"])  # public parts only


@pytest.mark.parametrize("style", ["form", "basic"])
async def test_client_credentials_grant(idp: RunningIdp, style: str) -> None:
    data = {"grant_type": "client_credentials"}
    headers = {}
    if style == "form":
        data |= {"client_id": "1002", "client_secret": "agent-1002-pw"}
    else:
        headers["Authorization"] = "Basic " + base64.b64encode(b"1002:agent-1002-pw").decode()
    response = await idp.client.post(f"{idp.issuer}/token", data=data, headers=headers)
    assert response.status_code == 200
    _, claims = verify(response.json()["access_token"], idp.provider.jwks(), idp.issuer)
    assert claims["agent_id"] == "1002"


@pytest.mark.parametrize(
    ("data", "headers", "status", "error"),
    [
        ({"grant_type": "password", "username": "1001", "password": "wrong"}, {}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "9999", "password": "x"}, {}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "1001"}, {}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, {}, 400, "unsupported_grant_type"),
        ({"username": "1001"}, {}, 400, "invalid_request"),
        (
            {"grant_type": "password", "username": "1001", "password": "agent-1001-pw", "scope": "admin"},
            {},
            400,
            "invalid_scope",
        ),
        (
            {"grant_type": "client_credentials", "client_id": "1001", "client_secret": "no"},
            {},
            401,
            "invalid_client",
        ),
        ({"grant_type": "client_credentials"}, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, {"Authorization": "Bearer x"}, 401, "invalid_client"),
    ],
)
async def test_token_errors_follow_rfc_6749(
    idp: RunningIdp, data: dict[str, str], headers: dict[str, str], status: int, error: str
) -> None:
    response = await idp.client.post(f"{idp.issuer}/token", data=data, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "agent-1001-pw" not in response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_malformed_bodies_are_refused_cleanly(idp: RunningIdp) -> None:
    url = f"{idp.issuer}/token"
    as_json = await idp.client.post(url, json={"grant_type": "password"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
    form = {"content-type": "application/x-www-form-urlencoded"}
    duplicate = await idp.client.post(url, content=b"grant_type=password&grant_type=password", headers=form)
    assert duplicate.json()["error"] == "invalid_request"
    not_utf8 = await idp.client.post(url, content=b"grant_type=\xff\xfe", headers=form)
    assert not_utf8.status_code == 400
    huge = await idp.client.post(url, content=b"a=" + b"x" * 20000, headers=form)
    assert huge.status_code == 413
    assert (await idp.client.get(url)).status_code == 405


async def test_key_rotation_keeps_old_tokens_valid_until_their_key_is_dropped(idp: RunningIdp) -> None:
    old = idp.provider.issue_token("1001").access_token
    old_kid = idp.provider.signing_kid
    new_kid = idp.provider.rotate_keys()
    jwks = (await idp.client.get(f"{idp.issuer}/jwks.json")).json()
    assert [key["kid"] for key in jwks["keys"]] == [new_kid, old_kid]
    verify(old, jwks, idp.issuer)
    fresh = idp.provider.issue_token("1001").access_token
    assert verify(fresh, jwks, idp.issuer)[0]["kid"] == new_kid

    idp.provider.rotate_keys()
    jwks = (await idp.client.get(f"{idp.issuer}/jwks.json")).json()
    assert len(jwks["keys"]) == 2
    with pytest.raises((JoseError, ValueError)):
        verify(old, jwks, idp.issuer)


def test_keys_persist_privately_and_survive_a_restart(tmp_path: Path) -> None:
    settings = DevIdpSettings(issuer="https://127.0.0.1:1")
    first = DevIdentityProvider.create_or_open(tmp_path, settings=settings)
    second = DevIdentityProvider.create_or_open(tmp_path, settings=settings)
    assert first.signing_kid == second.signing_kid
    keys_file = tmp_path / "devidp" / "signing-keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    token = first.issue_token("1001")
    assert token.access_token not in repr(token)
    assert '"d"' not in repr(first.jwks())
    reopened = DevIdentityProvider.open(tmp_path)
    assert reopened.settings == settings
    verify(token.access_token, reopened.jwks(), settings.issuer)


def test_missing_or_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DevIdpError) as missing:
        DevIdentityProvider.open(tmp_path)
    assert missing.value.code == "devidp_missing"
    DevIdentityProvider.create_or_open(tmp_path, settings=DevIdpSettings(issuer="https://127.0.0.1:1"))
    (tmp_path / "devidp" / "signing-keys.json").write_text(json.dumps({"keys": [{"kty": "RSA"}]}))
    with pytest.raises(DevIdpError) as corrupt:
        DevIdentityProvider.open(tmp_path)
    assert corrupt.value.code == "devidp_corrupt"


@pytest.mark.parametrize("issuer", ["ftp://x", "https://host/", ""])
def test_settings_are_validated(issuer: str) -> None:
    with pytest.raises(DevIdpError) as caught:
        DevIdpSettings(issuer=issuer)
    assert caught.value.code == "devidp_invalid_input"


def _run_token(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="fingress")
    token_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["token", *argv])
    code: int = args.run(args)
    return code


def test_token_command_prints_a_verifiable_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    provider = DevIdentityProvider.create_or_open(
        tmp_path, settings=DevIdpSettings(issuer="https://127.0.0.1:9")
    )
    assert _run_token("--data-dir", str(tmp_path), "--agent", "1001") == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1
    _, claims = verify(printed.strip(), provider.jwks(), "https://127.0.0.1:9")
    assert claims["agent_id"] == "1001"


def test_token_command_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_token("--data-dir", str(tmp_path), "--agent", "1001") == 1
    assert "devidp_missing" in capsys.readouterr().err
    DevIdentityProvider.create_or_open(tmp_path, settings=DevIdpSettings(issuer="https://127.0.0.1:9"))
    assert _run_token("--data-dir", str(tmp_path), "--agent", "bad id!") == 1
    assert "devidp_invalid_input" in capsys.readouterr().err
    assert _run_token("--data-dir", str(tmp_path), "--agent", "1001", "--scope", "root") == 1
    assert "devidp_invalid_scope" in capsys.readouterr().err
