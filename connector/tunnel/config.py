"""The ``[tunnel]`` table of the connector's configuration, validated here (``connector.config`` keeps it
as a plain table for this module), and the client TLS context it describes.

::

    [tunnel]
    urls = ["wss://edge-1.dmz.example:8444/tunnel", "wss://edge-2.dmz.example:8444/tunnel"]
    connector_id = "c1"
    connections_per_edge = 2
    ca_file = "/etc/fingress/tunnel-ca.pem"        # the private tunnel CA: verifies the edges
    cert_file = "/etc/fingress/connector.pem"      # this connector's client certificate
    key_file = "/etc/fingress/connector.key"
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.tunnel.errors import ConfigError
from edge.tunnel.frames import DEFAULT_MAX_FRAME_BYTES
from edge.tunnel.protocol import DEFAULT_MAX_PENDING_EVENTS


class TunnelClientConfig(BaseModel):
    """Where and how the connector dials its edges. Immutable; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: tuple[str, ...] = Field(min_length=1)
    connector_id: str = Field(min_length=1, max_length=63)
    connections_per_edge: int = Field(default=2, ge=1, le=16)
    ca_file: Path
    cert_file: Path
    key_file: Path
    backoff_base_s: float = Field(default=0.2, gt=0, le=60)
    backoff_max_s: float = Field(default=30.0, gt=0, le=600)
    open_timeout_s: float = Field(default=10.0, gt=0, le=120)
    keepalive_interval_s: float = Field(default=10.0, gt=0, le=300)
    keepalive_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_frame_bytes: int = Field(default=DEFAULT_MAX_FRAME_BYTES, ge=4096, le=64 * 1024 * 1024)
    max_pending_events: int = Field(default=DEFAULT_MAX_PENDING_EVENTS, ge=1, le=1_000_000)
    max_concurrent_requests: int = Field(default=256, ge=1, le=100_000)
    drain_timeout_s: float = Field(default=30.0, ge=0, le=600)

    @field_validator("urls")
    @classmethod
    def _wss_only(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not url.startswith("wss://"):
                raise ValueError(f"{url!r}: must start with wss:// (the tunnel is always TLS)")
        return urls

    @model_validator(mode="after")
    def _ordered(self) -> TunnelClientConfig:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s: must not be below backoff_base_s")
        return self


def parse_tunnel_config(
    data: Mapping[str, Any], *, source: str = "connector config", base: Path | None = None
) -> TunnelClientConfig:
    """Validate the ``[tunnel]`` table; problems name ``tunnel.<key>``. Relative paths resolve
    against ``base`` (the configuration file's folder)."""
    try:
        config = TunnelClientConfig.model_validate(dict(data))
    except ValidationError as error:
        raise ConfigError.from_locations(
            source,
            (
                (("tunnel", *problem["loc"]), problem["msg"].removeprefix("Value error, "))
                for problem in error.errors()
            ),
        ) from None
    if base is not None:
        config = config.model_copy(
            update={
                name: base / getattr(config, name)
                for name in ("ca_file", "cert_file", "key_file")
                if not getattr(config, name).is_absolute()
            }
        )
    return config


def client_ssl_context(config: TunnelClientConfig, *, source: str = "connector config") -> ssl.SSLContext:
    """A TLS 1.2+ client context that presents the connector's certificate and verifies the edges
    against the tunnel CA only. Raises ``ConfigError`` naming the key whose file is unusable."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=config.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            source, [("tunnel.ca_file", f"cannot load the CA ({type(error).__name__})")]
        ) from None
    try:
        context.load_cert_chain(certfile=config.cert_file, keyfile=config.key_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            source, [("tunnel.cert_file", f"cannot load certificate and key ({type(error).__name__})")]
        ) from None
    return context
