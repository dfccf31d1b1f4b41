"""The contract the demo relies on: the edge's own verifier, fetching keys through OIDC discovery over HTTPS,
accepts the dev IdP's tokens and reads the agent id from them."""

from __future__ import annotations

from pathlib import Path

import httpx

from edge.auth.keys import HttpJwksFetcher, KeyCache
from edge.auth.verifier import TokenVerifier
from edge.policy import OAuthPolicy
from edge.tls import ReloadableServerContext
from fingress import pki
from fingress.devidp import DevIdentityProvider, DevIdpSettings, create_app
from tests.support.timing import seconds
from tests.tls.serving import bound_listener, client_context, running_uvicorn


async def test_edge_verifier_accepts_dev_idp_tokens(tmp_path: Path) -> None:
    dev = pki.ensure_dev_pki(tmp_path / "pki")
    listener = bound_listener()
    issuer = f"https://127.0.0.1:{listener.getsockname()[1]}"
    provider = DevIdentityProvider.create_or_open(tmp_path / "data", settings=DevIdpSettings(issuer=issuer))
    tls = ReloadableServerContext(cert_file=dev.server_cert_file, key_file=dev.server_key_file)
    policy = OAuthPolicy(
        issuer=issuer,
        audience="fingress",
        discovery_url=f"{issuer}/.well-known/openid-configuration",
        agent_id_claim="agent_id",
        required_scope="finesse.agent",
        ca_file=dev.ca_file,
    )
    async with (
        running_uvicorn(
            create_app(provider), ssl_context_factory=tls.uvicorn_context_factory, listener=listener
        ),
        httpx.AsyncClient(verify=client_context(dev.ca_file), timeout=seconds(5)) as client,
    ):
        fetcher = HttpJwksFetcher(client=client, issuer=issuer, discovery_url=policy.discovery_url)
        keys = KeyCache(fetcher=fetcher, refresh_s=3600, min_refetch_interval_s=0)
        verifier = TokenVerifier(policy=policy, keys=keys)

        principal = await verifier.verify(provider.issue_token("1001").access_token)
        assert principal.agent_id == "1001"
        assert "finesse.agent" in principal.scopes

        provider.rotate_keys()  # a new kid: the edge refetches the JWKS and still accepts
        assert (await verifier.verify(provider.issue_token("1002").access_token)).agent_id == "1002"
