"""The edge's static configuration: listeners, the tunnel listener's TLS, the policy file and server
limits, from a TOML file (``config/edge.toml``).

This module is the one home of the edge file's schema: :func:`load_config` reads, validates and explains
it; ``fingress edge`` and ``fingress check`` only call it. Unlike the policy (:mod:`edge.policy`), this
needs a restart to change. Relative paths (``policy_file``, ``tunnel.cert_file``, ``tunnel.key_file``,
``tunnel.client_ca_file``) are resolved against the configuration file's folder. Errors name key paths,
e.g. ``/etc/fingress/edge.toml: admin.port: Input should be less than or equal to 65535``.

A file must have its ``[tunnel]`` table: an edge process without a tunnel listener serves nobody. Built
in code, :class:`EdgeConfig` may leave it out (``tunnel = None``): the public and admin listeners
(:class:`edge.server.EdgeServer`) do not need it, and tests give them their own upstream.
"""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.tunnel.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Listener(_Section):
    host: str = "0.0.0.0"  # noqa: S104 -- the public listener faces the DMZ on purpose
    port: int = Field(default=8443, ge=0, le=65535)


class AdminListener(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    # The admin surface reloads policy and exposes metrics: off loopback only when asked for explicitly.
    allow_non_loopback: bool = False

    @model_validator(mode="after")
    def _loopback(self) -> AdminListener:
        if not self.allow_non_loopback and not _is_loopback(self.host):
            raise ValueError("admin.host must be a loopback address unless allow_non_loopback = true")
        return self


class TunnelListener(_Section):
    """Where connectors dial in (served by edge/relay) and how they are admitted (mutual TLS)."""

    host: str = "0.0.0.0"  # noqa: S104
    port: int = Field(default=8444, ge=0, le=65535)
    cert_file: Path
    key_file: Path
    # The private tunnel CA: only client certificates it issued get through the handshake.
    client_ca_file: Path
    # Connector ids accepted (certificate CN, SAN DNS name or SAN URI spiffe://fingress/connector/<id>).
    allowed_identities: tuple[str, ...] = Field(min_length=1)
    path: str = Field(default="/tunnel", pattern=r"^/[A-Za-z0-9/_-]*$")
    edge_id: str = Field(default="edge", min_length=1, max_length=63)


class ServerLimits(_Section):
    # uvicorn refuses WebSocket messages above this before the app sees them.
    ws_max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    graceful_shutdown_s: float = Field(default=10.0, ge=0, le=300)
    # Ceiling of the ticket store's memory; the policy's events.max_tickets may only lower it.
    max_tickets: int = Field(default=10_000, ge=1, le=1_000_000)


class EdgeConfig(_Section):
    policy_file: Path
    policy_poll_s: float = Field(default=2.0, gt=0, le=3600)
    public: Listener = Listener()
    admin: AdminListener = AdminListener()
    # Required in a file (see load_config); None only for an EdgeConfig built in code without a relay.
    tunnel: TunnelListener | None = None
    server: ServerLimits = ServerLimits()


def load_config(path: Path) -> EdgeConfig:
    """Read and validate the edge configuration file at ``path``; relative paths in it resolve against its
    folder and ``tunnel`` is never None. Raises ``ConfigError`` naming the file and every bad key path
    (an unreadable, non-UTF-8 or non-TOML file is one problem saying so)."""
    source = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(source, [("", f"cannot read: not UTF-8 text (byte {error.start})")]) from error
    except OSError as error:
        reason = error.strerror or error.__class__.__name__
        raise ConfigError(source, [("", f"cannot read: {reason}")]) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, [("", f"not valid TOML: {error}")]) from error
    try:
        # A missing [tunnel] table validates as an empty one: each key it needs is named (tunnel.cert_file).
        config = EdgeConfig.model_validate({"tunnel": {}, **data})
    except ValidationError as error:
        raise ConfigError.from_locations(
            source,
            ((problem["loc"], problem["msg"].removeprefix("Value error, ")) for problem in error.errors()),
        ) from None
    return _resolve_paths(config, path.parent)


def _resolve_paths(config: EdgeConfig, folder: Path) -> EdgeConfig:
    def resolved(value: Path) -> Path:
        return value if value.is_absolute() else folder / value

    update: dict[str, object] = {"policy_file": resolved(config.policy_file)}
    tunnel = config.tunnel
    if tunnel is not None:
        update["tunnel"] = tunnel.model_copy(
            update={
                "cert_file": resolved(tunnel.cert_file),
                "key_file": resolved(tunnel.key_file),
                "client_ca_file": resolved(tunnel.client_ca_file),
            }
        )
    return config.model_copy(update=update)
